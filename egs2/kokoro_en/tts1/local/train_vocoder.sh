#!/usr/bin/env bash
# Train the recipe's vocoder (espnet_mvc.vocoder: Vocos-style ConvNeXt + iSTFT head, fast on
# CPUs) on the training set's audio, with exactly the TTS features of run.sh. Resumable: a
# re-run continues from exp/vocoder/checkpoint.pth. Run after stage 4 (the filtered training
# set), then decode with
#   ./run.sh --stage 8 --vocoder_file exp/vocoder/vocoder.pth
# To fine-tune it on a trained MVC's ground-truth-aligned mels (what the shipped model's
# vocoder got; copy exp/vocoder to the new outdir first, to continue from it):
#   local/make_gta_mels.py --exp exp/tts_<tag> --model <model>.pth --data dump/raw/train \
#       --collect-feats exp/tts_stats_raw_fbank_phn_none_kokoro_en/train/collect_feats --out exp/gta_mels/train
#   local/train_vocoder.sh --outdir exp/vocoder_gta --input_mels_dir exp/gta_mels/train
#
# GAN fine-tune of the shipped vocoder (issue 23: EnCodec's MS-STFT discriminator on magnitudes
# compressed to |z|^0.1, batch 4 x 32 frames, ~1.5 CPU s a step; DNSMOS of copy synthesis every 200 steps in
# <outdir>/dnsmos_curve.tsv, the best generator in <outdir>/best/):
#   local/train_vocoder.sh --gan true --festvox_wav <dir>/usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav
# (festvox-ru: `apt-get download festvox-ru && dpkg-deb -x festvox-ru_*.deb <dir>`). It trains
# on the many-voice teacher corpus (--teacher_corpus, the seen voices' training utterances)
# plus festvox-ru's real speaker as 1/4 of every batch. Re-running resumes (and re-reads the
# teacher corpus, which may have grown); then score it with
#   python -m espnet_mvc.bin.benchmark vocoder --vocoder exp/vocoder_gan/best/vocoder.pth
set -e -u -o pipefail
. ./path.sh
. ./scripts/utils/lib.sh

python=python3
outdir=exp/vocoder
train_dir=dump/raw/train
valid_dir=dump/raw/dev
max_steps=200000
max_cpu_seconds=""     # stop after this much CPU time of the training process
gan_start_step=""     # add the spectrogram GAN from this step (off: ~40x slower steps on a CPU)
lambda_phase=1.0      # weight of each phase loss (instantaneous phase, group delay, frequency)
input_mels_dir=""     # train on these frame-aligned mels (local/make_gta_mels.py) instead
threads=1
vocoder_args=""       # more espnet_mvc.bin.train_vocoder options, e.g. "--lr 2.5e-4"
gan=false             # true: the GAN fine-tune from the shipped vocoder (see above)
teacher_corpus=downloads/kokoro_multi
festvox_wav=""        # festvox-ru's wav dir (real speech, 1/4 of every GAN batch)
init_vocoder=../../../espnet_mvc/pretrained/kokoro_en_mvc/vocoder.pth
help_message="Usage: $0 [--gan true --festvox_wav DIR] [--outdir exp/vocoder] [--max_steps N] [--max_cpu_seconds S] [--gan_start_step N] [--lambda_phase 1.0] [--input_mels_dir DIR] [--threads 1] [--vocoder_args \"...\"]"
. ./scripts/utils/parse_options.sh

# the TTS features of run.sh (both modes): the vocoder must see exactly the mels MVC makes
feats=(--fs 24000 --n-fft 1024 --hop-length 300 --win-length 1024 --n-mels 80 --fmin 0 --fmax 12000)
_opts=""
[ -z "${max_cpu_seconds}" ] || _opts+="--max-cpu-seconds ${max_cpu_seconds} "

if "${gan}"; then
    [ "${outdir}" != exp/vocoder ] || outdir=exp/vocoder_gan
    data="${outdir}/data"
    _fv=""
    [ -z "${festvox_wav}" ] || _fv="--festvox-wav ${festvox_wav}"
    # shellcheck disable=SC2086
    "${python}" -m espnet_mvc.vocoder.gan_data --out "${data}" \
        --teacher-corpus "${teacher_corpus}" --heldout-dir "$(dirname "${init_vocoder}")/heldout" ${_fv}
    [ -z "${festvox_wav}" ] || _opts+="--extra-train-dir ${data}/train_real --extra-share 0.25 "
    [ -z "${festvox_wav}" ] || _opts+="--dnsmos-dir ${data}/valid_real "
    log "GAN fine-tune of ${init_vocoder} -> ${outdir} (log: ${outdir}/train.log)"
    # shellcheck disable=SC2086
    "${python}" -m espnet_mvc.bin.train_vocoder \
        --train-dir "${data}/train_teacher" --resample --outdir "${outdir}" --init-from "${init_vocoder}" \
        "${feats[@]}" \
        --istft-n-fft 1200 --batch-size 4 --segment-frames 32 --max-steps "${max_steps}" \
        --gan-start-step 0 --disc msstft --disc-channels 32 --disc-compress 0.1 \
        --disc-warmup-steps 300 --lr 5e-5 --lr-d 4e-4 --warmup-steps 100 --lambda-adv 1 --lambda-fm 2 \
        --lambda-phase "${lambda_phase}" --dnsmos-dir "${data}/valid_teacher" --dnsmos-every 200 \
        --save-every-steps 200 --log-every-steps 25 --threads "${threads}" ${_opts} ${vocoder_args}
    log "Successfully finished. [elapsed=${SECONDS}s]"
    exit 0
fi
need_file "${train_dir}/wav.scp" "run stages 1-4 first"
[ -z "${gan_start_step}" ] || _opts+="--gan-start-step ${gan_start_step} "
[ -z "${input_mels_dir}" ] || _opts+="--input-mels-dir ${input_mels_dir} "
log "Training the vocoder -> ${outdir} (log: ${outdir}/train.log)"
# shellcheck disable=SC2086
"${python}" -m espnet_mvc.bin.train_vocoder \
    --train-dir "${train_dir}" --valid-dir "${valid_dir}" --outdir "${outdir}" \
    "${feats[@]}" \
    --batch-size 16 --segment-frames 48 --max-steps "${max_steps}" \
    --lambda-phase "${lambda_phase}" --threads "${threads}" ${_opts} ${vocoder_args}
log "Successfully finished. [elapsed=${SECONDS}s]"

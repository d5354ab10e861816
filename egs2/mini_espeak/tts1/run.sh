#!/usr/bin/env bash
# egs2/mini_espeak/tts1: the embedded offline recipe (espeak-ng corpus, 4 languages,
# seen + unseen speakers). ./run.sh --stage 1 --stop-stage 8 goes from nothing to
# synthesized wavs and a score table on a CPU.
#
#   ./run.sh                       # MVC (conf/train_mvc.yaml), stages 1-8
#   ./run.sh --model vits          # ESPnet VITS baseline (gan_tts, sids + lids)
#   ./run.sh --model jets          # ESPnet JETS baseline (gan_tts, sids + lids)
#   ./run.sh --local_data_opts "--n_utts_per_spk 4"   # tiny corpus (CI)
# Any other option is passed to tts.sh (see ./tts.sh --help).
set -e -u -o pipefail

fs=22050
n_fft=1024
n_shift=256
win_length=null

model=mvc
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --model) [ $# -ge 2 ] || { echo "$0: --model needs a value" >&2; exit 2; }; model=$2; shift 2 ;;
        --model=*) model=${1#*=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

case "${model}" in
    mvc)
        opts=(--tts_task tts --train_config conf/train_mvc.yaml
              --feats_extract fbank --feats_normalize global_mvn
              --use_sid false --use_lid true) ;;
    vits)
        opts=(--tts_task gan_tts --train_config conf/tuning/train_vits.yaml
              --feats_extract linear_spectrogram --feats_normalize none
              --use_sid true --use_lid true --inference_model train.total_count.ave.pth) ;;
    jets)
        opts=(--tts_task gan_tts --train_config conf/tuning/train_jets.yaml
              --feats_extract fbank --feats_normalize global_mvn
              --use_sid true --use_lid true --inference_model train.total_count.ave.pth) ;;
    *) echo "$0: unknown --model '${model}' (mvc, vits or jets)" >&2; exit 2 ;;
esac

./tts.sh \
    --lang multi \
    --fs "${fs}" --n_fft "${n_fft}" --n_shift "${n_shift}" --win_length "${win_length}" \
    --fmin 80 --fmax 7600 --n_mels 80 --f0min 60 --f0max 500 \
    --token_type phn --g2p espeak_ng_multilingual --cleaner none \
    --min_wav_duration 0.3 --max_wav_duration 15 \
    --train_set train --valid_set dev --test_sets "test test_zeroshot" \
    --inference_config conf/decode.yaml \
    --audio_format flac \
    "${opts[@]}" "${args[@]}"

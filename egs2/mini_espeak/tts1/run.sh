#!/usr/bin/env bash
# egs2/mini_espeak/tts1: the embedded offline recipe (espeak-ng corpus, 4 languages,
# seen + unseen speakers). ./run.sh --stage 1 --stop-stage 9 goes from nothing to
# synthesized wavs and a score table (exp/tts_<tag>/RESULTS.md) on a CPU.
#
#   ./run.sh                       # MVC (conf/train.yaml), stages 1-11 (11, the upload, skips)
#   ./run.sh --model vits          # ESPnet VITS baseline (gan_tts, sids + lids)
#   ./run.sh --model jets          # ESPnet JETS baseline (gan_tts, sids + lids)
#   ./run.sh --local_data_opts "--n_utts_per_spk 4"   # tiny corpus (CI)
# Any other option is passed to tts.sh (see ./tts.sh --help).
set -e -u -o pipefail

fs=22050
n_fft=1024
n_shift=256
win_length=null

models="mvc vits jets"
mvc_opts=(--use_sid false --use_lid true)
vits_opts=(--use_sid true --use_lid true)
jets_opts=(--use_sid true --use_lid true)
# --model mvc | vits | jets -> ${model}, ${opts[@]}; other arguments -> ${args[@]}
. ./scripts/select_model.sh "$@"

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

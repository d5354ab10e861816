#!/usr/bin/env bash
# egs2/css10/tts1: multilingual MVC on CSS10 Spanish, German and French (22.05 kHz), text
# phonemized by espeak-ng per language (utt2lang), language ids as model input; ESPnet's
# VITS and JETS as baselines on the same data and features.
#
#   ./run.sh --local_data_opts "--db_root /data/css10"     # MVC
#   ./run.sh --model mvc_hifigan | vits | jets
set -e -u -o pipefail

fs=22050
n_fft=1024
n_shift=256
win_length=null

# --model mvc | mvc_hifigan | vits | jets -> ${model}, ${opts[@]}; other arguments -> ${args[@]}
. ./scripts/select_model.sh "$@"

./tts.sh \
    --lang multi \
    --fs "${fs}" --n_fft "${n_fft}" --n_shift "${n_shift}" --win_length "${win_length}" \
    --token_type phn --g2p espeak_ng_multilingual --cleaner none --use_lid true \
    --train_set tr_no_dev --valid_set dev --test_sets "dev eval1" \
    --inference_config conf/decode.yaml \
    --audio_format flac \
    "${opts[@]}" "${args[@]}"

#!/usr/bin/env bash
# egs2/ljspeech/tts1: MVC on LJSpeech (22.05 kHz / n_fft 1024 / hop 256, ESPnet's protocol)
# with ESPnet's VITS and JETS as baselines on the same data and features.
#
#   ./run.sh                         # MVC (conf/train.yaml -> tuning/train_mvc.yaml)
#   ./run.sh --model mvc_hifigan     # MVC + HiFi-GAN trained jointly (gan_tts)
#   ./run.sh --model vits | jets     # ESPnet baselines (gan_tts)
#   ./run.sh --local_data_opts "--db_root /data/LJSpeech-1.1"
# Other options go to tts.sh. Phonemes: espeak-ng en-us (offline; g2p_en needs NLTK downloads).
set -e -u -o pipefail

fs=22050
n_fft=1024
n_shift=256
win_length=null

# --model mvc | mvc_hifigan | vits | jets -> ${model}, ${opts[@]}; other arguments -> ${args[@]}
. ./scripts/select_model.sh "$@"

./tts.sh \
    --lang en \
    --fs "${fs}" --n_fft "${n_fft}" --n_shift "${n_shift}" --win_length "${win_length}" \
    --token_type phn --g2p espeak_ng_english_us_vits --cleaner tacotron \
    --train_set tr_no_dev --valid_set dev --test_sets "dev eval1" \
    --srctexts "data/tr_no_dev/text" \
    --inference_config conf/decode.yaml \
    --audio_format flac \
    "${opts[@]}" "${args[@]}"

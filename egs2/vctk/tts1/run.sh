#!/usr/bin/env bash
# egs2/vctk/tts1: MVC on VCTK 0.92 (multi-speaker) with ESPnet's VITS and JETS baselines.
# ESPnet's VCTK protocol: 24 kHz / n_fft 2048 / hop 300 / win 1200 for MVC and JETS;
# multi-speaker VITS at 22.05 kHz with speaker ids (--use_sid). MVC takes the voice from a
# reference utterance (zero-shot): test_zeroshot holds speakers never seen in training.
#
#   ./run.sh                         # MVC
#   ./run.sh --model mvc_hifigan | vits | jets
#   ./run.sh --local_data_opts "--db_root /data/VCTK-Corpus-0.92"
set -e -u -o pipefail

vits_opts=(--use_sid true)
jets_opts=(--use_sid true)
# --model mvc | mvc_hifigan | vits | jets -> ${model}, ${opts[@]}; other arguments -> ${args[@]}
. ./scripts/select_model.sh "$@"
# ESPnet's multi-speaker VITS runs at 22.05 kHz; MVC and JETS at 24 kHz
fs=24000; n_fft=2048; n_shift=300; win_length=1200
if [ "${model}" = vits ]; then
    fs=22050; n_fft=1024; n_shift=256; win_length=null
fi

# one dump per sampling rate, so that the 24 kHz and 22.05 kHz systems can coexist
./tts.sh \
    --lang en \
    --dumpdir "dump/${fs}" \
    --fs "${fs}" --n_fft "${n_fft}" --n_shift "${n_shift}" --win_length "${win_length}" \
    --token_type phn --g2p espeak_ng_english_us_vits --cleaner tacotron \
    --train_set tr_no_dev --valid_set dev --test_sets "dev eval1 test_zeroshot" \
    --srctexts "data/tr_no_dev/text" \
    --min_wav_duration 1.0 \
    --inference_config conf/decode.yaml \
    --audio_format flac \
    "${opts[@]}" "${args[@]}"

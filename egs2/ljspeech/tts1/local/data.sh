#!/usr/bin/env bash
# Stage 1 of egs2/ljspeech: LJSpeech-1.1 -> data/{tr_no_dev,dev,eval1} (ESPnet's split:
# the last 500 utterances -> 250 dev + 250 eval1).
# Corpus location, in this order: --db_root, $LJSPEECH (db.sh or environment). With
# LJSPEECH=downloads the corpus is downloaded into ./downloads when a network is reachable.
set -e -u -o pipefail
. ./path.sh
. ./db.sh
. ./scripts/utils/lib.sh
. ./scripts/utils/download.sh

python=python3
db_root=""
n_dev=250      # ESPnet: the last 500 utterances -> 250 dev + 250 eval1
n_eval=250
url=https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2
help_message="Usage: $0 [--db_root /path/to/LJSpeech-1.1 (or its parent)] [--n_dev 250] [--n_eval 250]"
. ./scripts/utils/parse_options.sh

[ -n "${db_root}" ] || db_root=${LJSPEECH:-}
[ -n "${db_root}" ] || die "LJSpeech location unknown: set LJSPEECH in db.sh (or 'downloads') or pass --db_root"
if [ "${db_root}" = downloads ]; then
    if [ ! -f downloads/LJSpeech-1.1/metadata.csv ]; then
        download_and_extract "${url}" downloads "LJSpeech"
    fi
    corpus=downloads/LJSpeech-1.1
else
    corpus=${db_root}
    [ ! -f "${db_root}/LJSpeech-1.1/metadata.csv" ] || corpus=${db_root}/LJSpeech-1.1
    [ -d "${corpus}" ] || die "LJSpeech not found at ${corpus} (from --db_root / LJSPEECH); expected LJSpeech-1.1/ with metadata.csv and wavs/"
fi
log "Preparing LJSpeech from ${corpus}"
recipe_py corpora ljspeech "${corpus}" --data-dir data --n-dev "${n_dev}" --n-eval "${n_eval}" || die "LJSpeech data preparation failed (see the message above)"
log "Successfully finished. [elapsed=${SECONDS}s]"

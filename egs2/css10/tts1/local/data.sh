#!/usr/bin/env bash
# Stage 1 of egs2/css10: CSS10 Spanish, German and French -> data/{tr_no_dev,dev,eval1}
# with utt2lang (es/de/fr); per language the last 100 utterances -> 50 dev + 50 eval1.
# CSS10 is distributed through Kaggle (a login is needed), so it is never downloaded
# here: download the es/de/fr sets yourself and point --db_root or $CSS10 at a folder
# holding <lang>/transcript.txt (lang = es, de, fr or spanish, german, french).
set -e -u -o pipefail
. ./path.sh
. ./db.sh
. ./scripts/utils/lib.sh

python=python3
db_root=""
langs="es de fr"
n_dev=50       # per language: the last 100 utterances -> 50 dev + 50 eval1
n_eval=50
help_message="Usage: $0 [--db_root /path/to/css10] [--langs 'es de fr'] [--n_dev 50] [--n_eval 50]"
. ./scripts/utils/parse_options.sh
langs=${langs//,/ }  # "en,es" or "en es"

[ -n "${db_root}" ] || db_root=${CSS10:-}
[ -n "${db_root}" ] || die "CSS10 location unknown: CSS10 is on Kaggle (https://www.kaggle.com/datasets/bryanpark/spanish-single-speaker-speech-dataset and the German/French sets); download es/de/fr and set CSS10=/path in db.sh or pass --db_root /path (holding es/transcript.txt, de/..., fr/...)"
[ -d "${db_root}" ] || die "CSS10 not found at ${db_root} (from --db_root / CSS10)"
log "Preparing CSS10 (${langs}) from ${db_root}"
recipe_py corpora css10 "${db_root}" --data-dir data --langs "${langs}" --n-dev "${n_dev}" --n-eval "${n_eval}" || die "CSS10 data preparation failed (see the message above)"
log "Successfully finished. [elapsed=${SECONDS}s]"

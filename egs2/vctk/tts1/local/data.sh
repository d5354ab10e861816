#!/usr/bin/env bash
# Stage 1 of egs2/vctk: VCTK-Corpus-0.92 -> data/{tr_no_dev,dev,eval1,test_zeroshot}.
# Seen speakers: the last 10 utterances of each -> 5 eval1 + 5 dev (ESPnet's split).
# Held-out speakers (never trained on; default: YourTTS' zero-shot speakers p225 p234
# p238 p245 p248 p261 p294 p302 p326 p335 p347) -> test_zeroshot, with ref.scp giving
# another recording of the same speaker as the voice reference. Every speaker folder is read
# (s5 too); speakers without text (p315) or without --mic recordings (p280 has no mic2) and
# transcripts without a recording (p362) are skipped with a note naming them.
# Corpus location: --db_root, else $VCTK (db.sh/environment); VCTK=downloads downloads the
# 11 GB zip from Edinburgh DataShare when a network is reachable.
set -e -u -o pipefail
. ./path.sh
. ./db.sh
. ./scripts/utils/lib.sh
. ./scripts/utils/download.sh

python=python3
db_root=""
n_zeroshot=10
n_dev=5        # per seen speaker: the last 10 utterances -> 5 eval1 + 5 dev (ESPnet)
n_eval=5
zeroshot_speakers="p225 p234 p238 p245 p248 p261 p294 p302 p326 p335 p347"
mic=mic1       # VCTK 0.92 has two microphones: mic1 or mic2
url=https://datashare.ed.ac.uk/bitstream/handle/10283/3443/VCTK-Corpus-0.92.zip
help_message="Usage: $0 [--db_root /path/to/VCTK-Corpus-0.92] [--n_zeroshot 10] [--zeroshot_speakers 'p225 ...'] [--mic mic1|mic2]"
. ./scripts/utils/parse_options.sh

[ -n "${db_root}" ] || db_root=${VCTK:-}
[ -n "${db_root}" ] || die "VCTK location unknown: set VCTK in db.sh (or 'downloads') or pass --db_root"
if [ "${db_root}" = downloads ]; then
    if [ ! -d downloads/VCTK-Corpus-0.92/wav48_silence_trimmed ] && [ ! -d downloads/wav48_silence_trimmed ]; then
        download_and_extract "${url}" downloads/VCTK-Corpus-0.92 "VCTK"
    fi
    corpus=downloads/VCTK-Corpus-0.92
else
    corpus=${db_root}
    [ ! -d "${db_root}/VCTK-Corpus-0.92/wav48_silence_trimmed" ] || corpus=${db_root}/VCTK-Corpus-0.92
    [ -d "${corpus}" ] || die "VCTK not found at ${corpus} (from --db_root / VCTK); expected wav48_silence_trimmed/ and txt/"
fi
log "Preparing VCTK from ${corpus}"
recipe_py corpora vctk "${corpus}" --data-dir data --n-zeroshot "${n_zeroshot}" --n-dev "${n_dev}" --n-eval "${n_eval}" \
    --zeroshot-speakers "${zeroshot_speakers}" --mic "${mic}" || die "VCTK data preparation failed (see the message above)"
log "Successfully finished. [elapsed=${SECONDS}s]"

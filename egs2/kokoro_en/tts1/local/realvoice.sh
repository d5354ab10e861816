#!/usr/bin/env bash
# The real-voice test set of issue 22: two clips (3-10 s) of each of 10 real people, from
# Debian packages (asterisk-core-sounds-en-g722, alsa-utils, fillets-ng-data-cs,
# ktuberling-data, klettres-data), for `python -m espnet_mvc.bin.benchmark quality`, which
# reads data/realvoice/manifest.tsv by default. Extraction only (about 30 s on 2 cores, plus
# ~140 MB of .debs that `apt-get download` fetches into downloads/debs once); nothing in it
# trains a model. Up to date sets are left alone. People, licenses and the manifest's
# columns: espnet_mvc/recipe/realvoice.py.
set -e -u -o pipefail
. ./path.sh
. ./scripts/utils/lib.sh

python=python3
out_dir=data/realvoice
cache_dir=downloads/debs  # apt-get download puts the .debs here
deb_dir=""                # or take them from this dir (no apt-get)
force=false
help_message="Usage: $0 [--out_dir data/realvoice] [--cache_dir downloads/debs] [--deb_dir DIR] [--force false]"
. ./scripts/utils/parse_options.sh

_opts=()
[ -z "${deb_dir}" ] || _opts+=(--deb-dir "${deb_dir}")
[ "${force}" = false ] || _opts+=(--force)
log "Building the real-voice test set -> ${out_dir}"
recipe_py realvoice --out-dir "${out_dir}" --cache-dir "${cache_dir}" "${_opts[@]}" \
    || die "building the real-voice set failed (see the message above)"
log "Successfully finished. [elapsed=${SECONDS}s]"

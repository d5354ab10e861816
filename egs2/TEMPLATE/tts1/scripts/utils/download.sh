#!/usr/bin/env bash
# download_and_extract <url> <dest_dir> <what>
# Downloads <url> into <dest_dir> and extracts it (tar.gz/tar.bz2/zip), never hanging:
# a reachability probe with a short timeout first, then a transfer that aborts when it
# stalls. Leaves <dest_dir>/.<archive>.done on success; a finished download is reused.
# Requires lib.sh (die, log).
download_and_extract() {
    local url=$1 dest=$2 what=$3
    local archive; archive=$(basename "${url}")
    mkdir -p "${dest}"
    if [ -f "${dest}/.${archive}.done" ]; then
        log "${what}: already downloaded and extracted in ${dest}"
        return 0
    fi
    local probe fetch
    if command -v curl >/dev/null; then
        probe=(curl -sSfIL --connect-timeout "${download_connect_timeout:-15}" --max-time 60 "${url}")
        fetch=(curl -fL --connect-timeout 30 --speed-limit 1024 --speed-time 120 --retry 2 -C - -o "${dest}/${archive}.part" "${url}")
    elif command -v wget >/dev/null; then
        probe=(wget -q --spider --timeout="${download_connect_timeout:-15}" --tries=1 "${url}")
        fetch=(wget -c --timeout=120 --tries=3 -O "${dest}/${archive}.part" "${url}")
    else
        die "${what}: neither curl nor wget is installed, cannot download ${url}"
    fi
    log "${what}: checking ${url}"
    if ! "${probe[@]}" >/dev/null 2>&1; then
        die "${what}: cannot reach ${url} (no network or the server is down).\n  Put a local copy of the corpus somewhere and point to it: set it in db.sh, export it, or pass --local_data_opts \"--db_root /path/to/corpus\"."
    fi
    log "${what}: downloading ${url} -> ${dest}/${archive}"
    "${fetch[@]}" || die "${what}: download of ${url} failed or stalled (partial file: ${dest}/${archive}.part; re-run to resume)"
    mv "${dest}/${archive}.part" "${dest}/${archive}"
    log "${what}: extracting ${archive}"
    case "${archive}" in
        *.tar.bz2|*.tbz2) tar -xjf "${dest}/${archive}" -C "${dest}" ;;
        *.tar.gz|*.tgz) tar -xzf "${dest}/${archive}" -C "${dest}" ;;
        *.zip) (cd "${dest}" && unzip -q -o "${archive}") ;;
        *) die "${what}: unknown archive type: ${archive}" ;;
    esac || die "${what}: extracting ${dest}/${archive} failed (corrupt download? delete it and re-run)"
    touch "${dest}/.${archive}.done"
}

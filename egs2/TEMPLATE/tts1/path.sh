#!/usr/bin/env bash
# Environment for the espnet-mvc recipes. Sourced by tts.sh and local/*.sh.
# - uses the repository's .venv when no virtual environment is active
# - makes espnet_mvc importable from the source tree (python -m espnet_mvc.recipe.* etc.)
# - points phonemizer at the pip-only espeak-ng (espeakng-loader) unless already set
_mvc_template_dir=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
MVC_ROOT=$(cd "${_mvc_template_dir}/../../.." && pwd)
export MVC_ROOT
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "${MVC_ROOT}/.venv/bin/python" ]; then
    export PATH="${MVC_ROOT}/.venv/bin:${PATH}"
fi
export PYTHONPATH="${MVC_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
export LC_ALL=C
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
# OpenMP's default busy-waiting makes multi-threaded torch ops crawl (seen: 15x more CPU per
# training step) as soon as the cores are shared with other jobs, e.g. --nj > 1.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
if [ -z "${PHONEMIZER_ESPEAK_LIBRARY:-}" ] || [ -z "${ESPEAK_DATA_PATH:-}" ]; then
    _mvc_espeak=$(python3 -c 'import espeakng_loader as e; print(e.get_library_path()); print(e.get_data_path())' 2>/dev/null || true)
    if [ -n "${_mvc_espeak}" ]; then
        export PHONEMIZER_ESPEAK_LIBRARY="${PHONEMIZER_ESPEAK_LIBRARY:-$(sed -n 1p <<<"${_mvc_espeak}")}"
        export ESPEAK_DATA_PATH="${ESPEAK_DATA_PATH:-$(sed -n 2p <<<"${_mvc_espeak}")}"
    fi
    unset _mvc_espeak
fi
unset _mvc_template_dir

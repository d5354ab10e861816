#!/usr/bin/env bash
# Minimal option parser for the espnet-mvc recipes (written for this project).
#
# Source it after declaring every option variable with its default:
#     stage=1; stop_stage=100; use_sid=false
#     . scripts/utils/parse_options.sh
# It then accepts --name value, --name=value and --name-with-dashes value for every
# declared lower-case variable, rejects unknown options with a clear message, checks that
# variables whose default is true/false only get true/false, prints "$help_message" for
# --help, and leaves the remaining positional arguments in "$@".

_po_die() { echo "$(basename "$0"): $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h)
            echo "${help_message:-usage: $0 [--option value ...]}"
            exit 0 ;;
        --) shift; break ;;
        --*=*) _po_name="${1%%=*}"; _po_value="${1#*=}"; shift ;;
        --*)
            _po_name="$1"
            [ $# -ge 2 ] || _po_die "option $1 needs a value"
            _po_value="$2"; shift 2 ;;
        *) break ;;
    esac
    _po_name="${_po_name#--}"
    _po_name="${_po_name//-/_}"
    case "${_po_name}" in
        ""|*[!a-z0-9_]*|[0-9]*) _po_die "invalid option name: --${_po_name}" ;;
    esac
    if ! declare -p "${_po_name}" >/dev/null 2>&1; then
        _po_die "unknown option --${_po_name} (see --help)"
    fi
    _po_old="${!_po_name}"
    if [ "${_po_old}" = true ] || [ "${_po_old}" = false ]; then
        case "${_po_value}" in
            true|false) ;;
            *) _po_die "option --${_po_name} takes true or false, got '${_po_value}'" ;;
        esac
    fi
    printf -v "${_po_name}" '%s' "${_po_value}"
done
unset _po_name _po_value _po_old
true

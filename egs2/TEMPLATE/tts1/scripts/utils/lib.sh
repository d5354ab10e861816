#!/usr/bin/env bash
# Shared shell helpers for the espnet-mvc recipes (written for this project).
# Sourced by tts.sh and local/data.sh scripts. Expects: cmd_backend (local|slurm),
# slurm_opts, python, and optionally current_stage for messages.

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

# die <message>: print an error naming the current stage and exit 1
die() {
    if [ -n "${current_stage:-}" ]; then
        echo -e "ERROR [stage ${current_stage}]: $*" >&2
    else
        echo -e "ERROR: $*" >&2
    fi
    exit 1
}

need_file() {  # need_file <path> <what>
    [ -s "$1" ] || die "missing or empty file: $1 ($2)"
}

need_dir() {  # need_dir <path> <what>
    [ -d "$1" ] || die "missing directory: $1 ($2)"
}

# show the tail of a failed job's log and die
fail_with_log() {  # fail_with_log <logfile> <message>
    local logf=$1; shift
    if [ -f "${logf}" ]; then
        echo "----- last lines of ${logf} -----" >&2
        tail -n 25 "${logf}" >&2
        echo "-----" >&2
    fi
    die "$* (full log: ${logf})"
}

# launch <ngpu> <jobname> <cmd...>: run one command through the chosen backend
launch() {
    local ngpu=$1 jobname=$2; shift 2
    case "${cmd_backend:-local}" in
        local) "$@" ;;
        slurm)
            local gres=()
            if [ "${ngpu}" -gt 0 ] 2>/dev/null; then gres=(--gres="gpu:${ngpu}"); fi
            # shellcheck disable=SC2086
            srun --job-name="${jobname}" --ntasks=1 --cpus-per-task="${slurm_cpus:-1}" \
                "${gres[@]}" ${slurm_opts:-} "$@" ;;
        *) die "unknown --cmd_backend '${cmd_backend}' (use local or slurm)" ;;
    esac
}

# run_jobs <jobname> <nj> <logpattern> <ngpu> <cmd...>
# Runs nj copies of cmd in parallel (background jobs locally, one srun each on slurm);
# the string JOB in the command and the log pattern is replaced by 1..nj.
# Fails (with the failing job's log) if any job fails.
run_jobs() {
    local jobname=$1 nj=$2 logpat=$3 ngpu=$4; shift 4
    local pids=() j
    for j in $(seq 1 "${nj}"); do
        local logf="${logpat//JOB/${j}}"
        mkdir -p "$(dirname "${logf}")"
        (
            echo "# $(date '+%F %T') $*" | sed "s/JOB/${j}/g"
            launch "${ngpu}" "${jobname}.${j}" "${@//JOB/${j}}"
            rc=$?
            echo "# $(date '+%F %T') exit code ${rc}"
            exit ${rc}
        ) >"${logf}" 2>&1 &
        pids+=($!)
    done
    # optional progress report while the jobs run: the caller sets progress_cmd
    if [ -n "${progress_cmd:-}" ]; then
        local alive p t
        while :; do
            for t in $(seq 15); do
                alive=0
                for p in "${pids[@]}"; do ! kill -0 "${p}" 2>/dev/null || alive=1; done
                [ "${alive}" -eq 1 ] || break 2
                sleep 1
            done
            eval "${progress_cmd}" || true
        done
    fi
    local failed=0 first_failed=""
    for j in "${!pids[@]}"; do
        if ! wait "${pids[$j]}"; then
            failed=$((failed + 1))
            [ -n "${first_failed}" ] || first_failed=$((j + 1))
        fi
    done
    if [ "${failed}" -gt 0 ]; then
        fail_with_log "${logpat//JOB/${first_failed}}" "${failed}/${nj} '${jobname}' job(s) failed"
    fi
}

# run_logged <logfile> <progress-regex> <ngpu> <jobname> <cmd...>
# Runs one long command with its output in logfile while echoing the lines that match
# the regex (progress), then fails with the log tail if the command fails.
run_logged() {
    local logf=$1 regex=$2 ngpu=$3 jobname=$4; shift 4
    mkdir -p "$(dirname "${logf}")"
    echo "# $(date '+%F %T') $*" >>"${logf}"
    launch "${ngpu}" "${jobname}" "$@" >>"${logf}" 2>&1 &
    local pid=$!
    if [ -n "${regex}" ]; then
        tail -n 0 -F --pid="${pid}" "${logf}" 2>/dev/null \
            | grep --line-buffered -E "${regex}" | grep --line-buffered -v nltk_data \
            | sed -u -e 's/^.*INFO: //' -e 's/^/    /' >&2 &
        local tpid=$!
    fi
    local rc=0
    wait "${pid}" || rc=$?
    if [ -n "${regex}" ]; then
        sleep 1.2  # let tail flush the last lines
        kill "${tpid}" 2>/dev/null || true
        wait "${tpid}" 2>/dev/null || true
    fi
    echo "# $(date '+%F %T') exit code ${rc}" >>"${logf}"
    [ "${rc}" -eq 0 ] || fail_with_log "${logf}" "'${jobname}' failed with exit code ${rc}"
}

# commit_dir <tmpdir> <dir>: replace dir by the finished tmpdir atomically enough
commit_dir() {
    local tmp=$1 dst=$2
    if [ -e "${dst}" ]; then
        rm -rf "${dst}.old"
        mv "${dst}" "${dst}.old"
    fi
    mv "${tmp}" "${dst}"
    rm -rf "${dst}.old"
}

# the recipe helpers of the package: recipe_py datadir validate ... runs
# python -m espnet_mvc.recipe.datadir validate ...
recipe_py() {  # recipe_py <module of espnet_mvc.recipe> <args...>
    local module=$1; shift
    "${python}" -m "espnet_mvc.recipe.${module}" "$@"
}

elapsed() {  # elapsed <start-epoch-seconds>
    local s=$(( $(date +%s) - $1 ))
    printf '%dm%02ds' $((s / 60)) $((s % 60))
}

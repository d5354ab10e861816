#!/usr/bin/env bash
# MVC vs ESPnet VITS vs ESPnet JETS at an equal training budget in CPU seconds, on this
# recipe's data (same dump, token list, splits). Every stage is resumable: re-run the same
# command after an interruption.
#
#   local/head_to_head.sh --budget 14400                 # stages 1-4
#   local/head_to_head.sh --stage 3 --stop_stage 4       # decode/score/report what is trained
#   local/head_to_head.sh --systems "mvc_seed1 mvc_concat mvc_concat_seed1 mvc_depth2 ..." \
#       --ablation_points 0.25     # the ablations at a quarter of the budget
#
# Systems: mvc (conf/tuning/train_mvc_cpu.yaml), vits, jets; mvc_aligner, MVC that learns its
# durations with its own training-only aligner (--use_durations false) as VITS and JETS do,
# instead of taking the teacher's: the like-for-like MVC of the head to head; the paper's ablations of
# MVC: mvc_concat, mvc_depth2, mvc_depth4, mvc_depth6 (conf/tuning/train_mvc_cpu_<x>.yaml);
# a suffix _seed<N> trains the same system from another seed (ESPnet's --seed, default 0).
#
# 1 prepare  speaker ids (the baselines' --use_sid true; MVC reads a reference clip instead)
#            and each system's stats: ./run.sh --model <s> --stage 3..6 --expdir ${h2h_dir}/<s>
# 2 train    ./run.sh --model <s> --stage 7 in rounds: each round sets --max_epoch from the
#            CPU seconds per epoch so far (<exp>/cpu_seconds.json,
#            espnet_mvc.espnet.cpu_ledger) until the budget is spent (an ablation: the
#            largest of --ablation_points x budget);
#            --jobs systems at a time, one thread each; every epoch is kept
# 3 decode   stages 8-9 of each system with the epoch file at each budget point (the last
#            epoch whose cumulative training CPU is within it): --points "0.5 1" (the
#            ablations: --ablation_points; MVC, their baseline, at both), into
#            <exp>/decode_h2h_<CPU seconds>s/, so that a larger budget reuses earlier points
# 4 report   results/head_to_head.json and figures, RESULTS.md tables (local/head_to_head.py)
set -e -u -o pipefail
. ./path.sh
. ./scripts/utils/lib.sh

python=python3
stage=1
stop_stage=4
budget=14400           # training CPU seconds per system
points="0.5 1"         # fractions of the budget at which each system is decoded and scored
ablation_points=""     # the same for the MVC ablations (mvc_concat, mvc_depth<N>, *_seed<N>); default: points
systems="mvc vits jets"
jobs=2                 # systems trained at a time (each with one thread)
h2h_dir=exp_h2h        # <h2h_dir>/<system>/ holds each system's stats, model and decodes
datadir=data_x
dumpdir=dump_x
vocoder_file=exp_x/vocoder/vocoder.pth   # MVC's vocoder (VITS and JETS make waveforms)
results_dir=results
help_message="Usage: $0 [--stage 1] [--stop_stage 4] [--budget SECONDS] [--points \"0.5 1\"] [--ablation_points \"0.25\"] [--systems \"mvc vits jets\"] [--jobs 2] [--h2h_dir exp_h2h] [--datadir data_x] [--dumpdir dump_x] [--vocoder_file PATH]"
. ./scripts/utils/parse_options.sh

ablation_points=${ablation_points:-${points}}

run_stage() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
h2h_py() { "${python}" local/head_to_head.py "$@"; }
common=(--datadir "${datadir}" --dumpdir "${dumpdir}" --nj 1)

# system_setup <system>: _model (mvc|vits|jets), _sys_opts (run.sh options), _train_extra
# (ESPnet training options), _budget, _role (main|ablation) and _points (local/head_to_head.py
# plan) and _exp (the ESPnet output dir) of a system
system_setup() {
    local s=$1 variant=$1 seed=""
    if [[ "${s}" =~ ^(.+)_seed([0-9]+)$ ]]; then variant=${BASH_REMATCH[1]}; seed=${BASH_REMATCH[2]}; fi
    _sys_opts=()
    _train_extra=""
    case "${variant}" in
        mvc|vits|jets) _model=${variant} ;;
        mvc_aligner) _model=mvc; _sys_opts+=(--use_durations false) ;;
        mvc_concat|mvc_depth[0-9]*)
            _model=mvc
            _sys_opts+=(--train_config "conf/tuning/train_mvc_cpu_${variant#mvc_}.yaml")
            need_file "conf/tuning/train_mvc_cpu_${variant#mvc_}.yaml" "system ${s}" ;;
        *) die "unknown system '${s}': mvc, vits, jets, mvc_aligner, mvc_concat or mvc_depth<N>, each optionally with _seed<N>" ;;
    esac
    [ -z "${seed}" ] || _train_extra="--seed ${seed}"
    # its training CPU seconds and the budget fractions it is decoded at (an ablation: its
    # largest point of the budget, and the ablation points; MVC: both sets of points)
    read -r _budget _role _points < <(h2h_py plan "${s}" "${budget}" --points ${points} \
        --ablation-points ${ablation_points})
    if [ "${s}" = "${_model}" ]; then  # tts.sh's default tag
        _exp=${h2h_dir}/${s}/tts_train_${s}_raw_phn_kokoro_en
        [ "${s}" != mvc ] || _exp=${h2h_dir}/mvc/tts_train_mvc_cpu_raw_phn_kokoro_en
    else
        _sys_opts+=(--tag "${s}")
        _exp=${h2h_dir}/${s}/tts_${s}
    fi
}
for s in ${systems}; do system_setup "${s}"; done  # unknown names fail before any work
have_stats() { ls "${h2h_dir}/$1"/tts_stats_raw_*/train/speech_shape >/dev/null 2>&1; }

if run_stage 1; then
    log "Stage 1: speaker ids and per-system stats under ${h2h_dir}/"
    need_file "${dumpdir}/raw/train/wav.scp" "run ./run.sh --stage 1 --stop-stage 5 first"
    if [ ! -s "${dumpdir}/raw/train/utt2sid" ]; then
        ./run.sh --model jets --stage 3 --stop-stage 4 --expdir "${h2h_dir}/jets" "${common[@]}"
    fi
    for s in ${systems}; do
        system_setup "${s}"
        if have_stats "${s}"; then
            log "  ${s}: stats exist ($(ls -d "${h2h_dir}/${s}"/tts_stats_raw_*))"
        elif [ "${s}" != "${_model}" ] && [ "${_model}" = mvc ]; then
            # MVC's variants share its features: one stats dir, linked
            have_stats mvc || ./run.sh --model mvc --stage 6 --stop-stage 6 --expdir "${h2h_dir}/mvc" \
                --write_collected_feats true "${common[@]}"
            mkdir -p "${h2h_dir}/${s}"
            ln -sfn "../mvc/$(basename "$(ls -d "${h2h_dir}/mvc"/tts_stats_raw_*)")" "${h2h_dir}/${s}/"
            log "  ${s}: stats of mvc linked"
        else
            ./run.sh --model "${_model}" --stage 6 --stop-stage 6 --expdir "${h2h_dir}/${s}" \
                --write_collected_feats true "${common[@]}"
        fi
    done
fi

train_to_budget() {  # train_to_budget <system>: rounds of stage 7 until the budget is spent
    local s=$1 exp epochs
    system_setup "${s}"
    exp=${_exp}
    have_stats "${s}" || die "${s}: no feature stats under ${h2h_dir}/${s}/; run stage 1 for it first (--stage 1)"
    while :; do
        epochs=$(h2h_py next-max-epoch "${exp}" "${_budget}")
        [ "${epochs}" -gt 0 ] || break
        log "  ${s}: training to epoch ${epochs} (budget ${_budget} CPU s; ledger ${exp}/cpu_seconds.json)"
        ./run.sh --model "${_model}" --stage 7 --stop-stage 7 --expdir "${h2h_dir}/${s}" \
            "${common[@]}" "${_sys_opts[@]}" \
            --train_args "--max_epoch ${epochs} --keep_nbest_models 100000 ${_train_extra}" \
            >"${h2h_dir}/${s}/train_rounds.log" 2>&1 \
            || fail_with_log "${h2h_dir}/${s}/train_rounds.log" "training ${s} failed"
    done
    log "  ${s}: budget spent ($(h2h_py epoch-at "${exp}" "${_budget}" --describe))"
}

if run_stage 2; then
    log "Stage 2: train ${systems} to ${budget} CPU s each (ablations: ${ablation_points} x that), ${jobs} at a time"
    pids=()
    for s in ${systems}; do
        while [ "$(jobs -rp | wc -l)" -ge "${jobs}" ]; do wait -n || die "a training job failed"; done
        train_to_budget "${s}" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "${p}" || die "a training job failed (see ${h2h_dir}/*/train_rounds.log)"; done
fi

if run_stage 3; then
    log "Stage 3: decode and score each system at ${points} x ${budget} CPU s (ablations: ${ablation_points})"
    for s in ${systems}; do
        system_setup "${s}"
        exp=${_exp}
        for p in ${_points}; do
            read -r epoch tag < <(h2h_py epoch-at "${exp}" "${budget}" --fraction "${p}" --with-tag)
            [ -n "${tag:-}" ] || die "no epoch of ${s} within ${p} x ${budget} CPU s"
            # VITS and JETS have no reference encoder: the unseen voices are MVC's alone
            if [ "${_model}" = mvc ]; then sets="test test_zeroshot"; else sets=test; fi
            last_set=${sets##* }
            if [ -s "${exp}/${tag}/${last_set}/scores/summary.json" ]; then
                log "  ${s} @ ${p} x budget: scored (${exp}/${tag})"
            else
                _opts=("${_sys_opts[@]}")
                [ "${_model}" != mvc ] || _opts+=(--vocoder_file "${vocoder_file}")
                log "  ${s} @ ${p} x budget: ${epoch}epoch.pth -> ${exp}/${tag}"
                ./run.sh --model "${_model}" --stage 8 --stop-stage 9 --expdir "${h2h_dir}/${s}" \
                    "${common[@]}" --test_sets "${sets}" --inference_model "${epoch}epoch.pth" \
                    --inference_tag "${tag}" "${_opts[@]}"
            fi
            # the main MVCs (not the ablations) also clone a recorded voice
            if [ "${_model}" = mvc ] && [ "${_role}" = main ] \
                    && [ ! -s "${exp}/${tag}/real_ref/summary.json" ]; then
                log "  ${s} @ ${p} x budget: cloning a recorded CMU ARCTIC voice -> ${exp}/${tag}/real_ref"
                h2h_py real-ref "${exp}" "${epoch}" "${vocoder_file}" \
                    "${exp}/${tag}/real_ref/summary.json" --dumpdir "${dumpdir}" >/dev/null
            fi
        done
    done
fi

if run_stage 4; then
    log "Stage 4: ${results_dir}/head_to_head.json and figures, RESULTS.md"
    h2h_py report --h2h-dir "${h2h_dir}" --systems ${systems} --budget "${budget}" \
        --points ${points} --ablation-points ${ablation_points} --dumpdir "${dumpdir}" --results-dir "${results_dir}" \
        --results-md RESULTS.md --vocoder-file "${vocoder_file}"
fi
log "Successfully finished. [elapsed=${SECONDS}s]"

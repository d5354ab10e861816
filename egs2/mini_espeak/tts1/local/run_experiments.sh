#!/usr/bin/env bash
# Head-to-head (MVC vs ESPnet VITS vs ESPnet JETS), MVC depth sweep (2/4/6/8 blocks per
# conditioning stack) and fusion ablation (gated+AdaLN vs concat) on the mini_espeak corpus,
# under an EQUAL WALL-CLOCK training budget, scored by tts.sh stage 9.
#
#   local/run_experiments.sh [--budget 900] [--n_utts_per_spk 30] [--systems "..."] [--stage 1] [--stop_stage 4]
#
# Runs in its own workspace (exp/bench_ws: symlinks to tts.sh/conf/local/scripts, its own
# data/ dump/ exp/ downloads/) so the recipe's default demo data is never touched.
#   stage 1: corpus + dumps + tokens + stats (tts.sh stages 1-6; fbank and linear_spectrogram)
#   stage 2: train ALL systems CONCURRENTLY, each under `timeout <budget>` (tts.sh stage 7,
#            short epochs, OMP/MKL threads=1 each); CPU seconds per system sampled from /proc
#   stage 3: decode (latest.pth) + score (tts.sh stages 8-9), all systems concurrently
#   stage 4: summary table (local/run_experiments.sh prints it; RESULTS.md is edited by hand)
# Budget protocol: every system gets the same wall clock, running at the same time on the
# same (shared) CPUs, so load from other processes hits all systems alike.
set -e -u -o pipefail

budget=900
n_utts_per_spk=30
systems="mvc_d2 mvc_d4 mvc_d6 mvc_d8 mvc_d2_concat vits jets"
stage=1
stop_stage=4
ws=exp/bench_ws
while [ $# -gt 0 ]; do
    case "$1" in
        --budget) budget=$2; shift 2 ;;
        --n_utts_per_spk) n_utts_per_spk=$2; shift 2 ;;
        --systems) systems=$2; shift 2 ;;
        --stage) stage=$2; shift 2 ;;
        --stop_stage) stop_stage=$2; shift 2 ;;
        --ws) ws=$2; shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 2 ;;
    esac
done

recipe=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "${recipe}/${ws}"
cd "${recipe}/${ws}"
rel=$(python3 -c "import os;print(os.path.relpath('${recipe}', '.'))")
for f in tts.sh path.sh cmd.sh db.sh scripts local conf; do
    [ -e "$f" ] || ln -s "${rel}/$f" "$f"
done

common=(--lang multi --fs 22050 --n_fft 1024 --n_shift 256 --win_length null
        --fmin 80 --fmax 7600 --n_mels 80 --f0min 60 --f0max 500
        --token_type phn --g2p espeak_ng_multilingual --cleaner none
        --min_wav_duration 0.3 --max_wav_duration 15
        --train_set train --valid_set dev --test_sets "test test_zeroshot"
        --inference_config conf/decode.yaml --audio_format flac --nj 2 --inference_nj 1)

sys_opts() {  # options of tts.sh for a system (as run.sh --model ...)
    case "$1" in
        mvc*) echo "--tts_task tts --feats_extract fbank --feats_normalize global_mvn --use_sid false --use_lid true" ;;
        vits) echo "--tts_task gan_tts --feats_extract linear_spectrogram --feats_normalize none --use_sid true --use_lid true" ;;
        jets) echo "--tts_task gan_tts --feats_extract fbank --feats_normalize global_mvn --use_sid true --use_lid true" ;;
    esac
}
test_sets_of() {  # VITS/JETS with sids cannot voice an unseen speaker: seen-speaker test only
    case "$1" in mvc*) echo "test test_zeroshot" ;; *) echo "test" ;; esac
}

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    # stages 1-5 with --use_sid true so that utt2sid exists for VITS/JETS (MVC ignores it)
    # shellcheck disable=SC2046
    ./tts.sh "${common[@]}" $(sys_opts vits) --train_config conf/tuning/train_bench_vits.yaml \
        --local_data_opts "--n_utts_per_spk ${n_utts_per_spk}" --stage 1 --stop_stage 5
    # shellcheck disable=SC2046
    ./tts.sh "${common[@]}" $(sys_opts mvc_d2) --train_config conf/tuning/train_bench_mvc_d2.yaml --stage 6 --stop_stage 6
    # shellcheck disable=SC2046
    ./tts.sh "${common[@]}" $(sys_opts vits) --train_config conf/tuning/train_bench_vits.yaml --stage 6 --stop_stage 6
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    mkdir -p bench_logs
    pids=()
    for s in ${systems}; do
        (
            export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
            start=$(date +%s)
            # shellcheck disable=SC2046
            setsid timeout -s TERM "${budget}" ./tts.sh "${common[@]}" $(sys_opts "$s") \
                --train_config "conf/tuning/train_bench_$s.yaml" --tag "bench_$s" --stage 7 --stop_stage 7 \
                >"bench_logs/train_$s.log" 2>&1 &
            tp=$!
            cpu=0
            while kill -0 "$tp" 2>/dev/null; do
                # CPU seconds of every process in the job's session (utime+stime)
                c=$( (ps -o cputimes= -s "$tp" 2>/dev/null || true) | awk '{s+=$1} END {print s+0}')
                [ "$c" -lt "$cpu" ] || cpu=$c
                sleep 5
            done
            wait "$tp" && rc=0 || rc=$?
            echo "system=$s rc=$rc wall_s=$(( $(date +%s) - start )) cpu_s=${cpu}" >"bench_logs/budget_$s.txt"
        ) &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    cat bench_logs/budget_*.txt
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    pids=()
    for s in ${systems}; do
        (
            export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
            # shellcheck disable=SC2046
            ./tts.sh "${common[@]}" $(sys_opts "$s") --test_sets "$(test_sets_of "$s")" \
                --train_config "conf/tuning/train_bench_$s.yaml" --tag "bench_$s" \
                --inference_model latest.pth --stage 8 --stop_stage 9 \
                >"bench_logs/eval_$s.log" 2>&1 || echo "eval of $s failed: see ${ws}/bench_logs/eval_$s.log"
        ) &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    python3 "${recipe}/local/summarize_experiments.py" --ws . --systems "${systems}"
fi

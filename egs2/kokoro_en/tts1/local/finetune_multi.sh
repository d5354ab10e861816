#!/usr/bin/env bash
# Fine-tune a trained MVC (by default the shipped kokoro_en_mvc) on the many-voice corpus, so
# that its reference encoder meets many voices instead of eight (the cloning issue).
#
#   local/finetune_multi.sh                       # corpus (stage 1), stages 2-4, 6, 7
#   local/finetune_multi.sh --available_only true # train on what stage 1 has made so far
#   local/finetune_multi.sh --stage 7             # resume training only
#
# Why a script and not ./run.sh: a fine-tune must keep the model's token list (stage 5
# would order the tokens by their counts in the new corpus and scramble the embedding
# rows) and its feature statistics (its weights expect the old normalisation), and it
# passes --init_param to training only (stage 6 would load the model for nothing).
# Everything else is run.sh's own stages, in their own dirs (data_multi, dump_multi,
# exp_multi), so a run of the main recipe beside it is left alone.
set -e -u -o pipefail
. ./path.sh
. ./scripts/utils/lib.sh

python=python3
stage=1
stop_stage=7
model=../../../espnet_mvc/pretrained/kokoro_en_mvc/packed.zip  # packed model to start from
n_utts_per_spk=12
available_only=false
data_opts=""          # more local/data.sh options
train_config=conf/tuning/train_mvc_cpu_multi.yaml
train_args=""         # more training options, e.g. "--max_epoch 40"
help_message="Usage: $0 [--stage 1] [--stop_stage 7] [--model packed.zip] [--n_utts_per_spk 12] [--available_only false] [--data_opts \"...\"] [--train_config ${train_config}] [--train_args \"...\"]"
. ./scripts/utils/parse_options.sh

datadir=data_multi
dumpdir=dump_multi
expdir=exp_multi
tokdir=${datadir}/token_list/phn_none_kokoro_en
init=${expdir}/init
common=(--datadir "${datadir}" --dumpdir "${dumpdir}" --expdir "${expdir}" --train_config "${train_config}"
        --write_collected_feats true)

need_file "${model}" "the packed model to fine-tune"
if [ ! -f "${init}/.done" ]; then
    log "Unpacking ${model} -> ${init}"
    rm -rf "${init}.tmp"; mkdir -p "${init}.tmp"
    # the plugin's checked unpack (no absolute paths, '..' or links)
    "${python}" -c 'import sys; from espnet_mvc.inference.loading import safe_unpack; safe_unpack(sys.argv[1], sys.argv[2])' \
        "${model}" "${init}.tmp" || die "could not unpack ${model}"
    rm -rf "${init}"; mv "${init}.tmp" "${init}"; touch "${init}/.done"
fi
model_file=$(find "${init}" -name '*.pth' | head -n 1)
init_tokens=$(find "${init}" -path '*token_list*' -name tokens.txt | head -n 1)
[ -n "${model_file}" ] && [ -n "${init_tokens}" ] || die "${model} has no model file or token list"

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    # shellcheck disable=SC2086
    local/data.sh --python "${python}" --voices many --corpus_dir downloads/kokoro_multi \
        --data_dir "${datadir}" --n_utts_per_spk "${n_utts_per_spk}" --nj 1 \
        --available_only "${available_only}" ${data_opts}
fi
if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 2 ]; then
    ./run.sh --stage 2 --stop_stage 4 "${common[@]}"
fi
if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    # the model's own token list, after checking that the new corpus needs no other token
    mkdir -p "${tokdir}"
    missing=$(cut -d' ' -f2- "${dumpdir}"/raw/train/text_phn | tr ' ' '\n' | sort -u \
        | grep -vxF -f "${init_tokens}" | grep -vx '' || true)
    [ -z "${missing}" ] || die "the corpus has tokens that ${model} does not know: ${missing}"
    cp "${init_tokens}" "${tokdir}/tokens.txt"
    log "Token list: ${init_tokens} -> ${tokdir}/tokens.txt"
fi
if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    ./run.sh --stage 6 --stop_stage 6 "${common[@]}"
    stats=$(ls -d "${expdir}"/tts_stats_raw_fbank_phn_*/train | head -n 1)
    # train with the model's normalisation; keep the corpus's own beside it
    for k in feats pitch energy; do
        src=$(find "${init}" -name "${k}_stats.npz" | head -n 1)
        need_file "${src}" "${k} statistics of ${model}"
        mv "${stats}/${k}_stats.npz" "${stats}/${k}_stats.corpus.npz"
        cp "${src}" "${stats}/${k}_stats.npz"
    done
    log "Statistics: ${model}'s (the corpus's kept as *_stats.corpus.npz)"
fi
if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
    ./run.sh --stage 7 --stop_stage 7 "${common[@]}" \
        --train_args "--init_param ${model_file} ${train_args}"
fi
log "Successfully finished. [elapsed=${SECONDS}s]"

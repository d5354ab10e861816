"""Real-time factor and peak memory from the synthesizer's per-utterance log file.

Format (one utterance a line, ``#`` comments ignored)::

    <utt_id> <rtf> [<peak_mem_MiB>]
    peak_mem_mib <MiB>            # optional run-level peak memory

Columns may also be ``key=value`` tokens (``rtf=0.12 peak_mem_mib=812``). Stage 8
(``espnet_mvc.espnet.tts_inference``) writes ``<utt> rtf=.. elapsed_s=.. cpu_s=.. audio_s=..``:
with ``elapsed_s`` and ``audio_s`` the scorer reports the set's RTF as total synthesis
time / total audio seconds (:func:`total_rtf`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

RUN_KEYS = ("peak_mem_mib", "peak_mem", "peak_mem_mb", "max_rss_mib")
# per-utterance seconds: synthesis wall time, process CPU time, generated audio
TIME_KEYS = ("elapsed_s", "cpu_s", "audio_s")
MAX_LINE_WARNINGS = 5


def read_rtf_file(path, warn: Optional[List[str]] = None
                  ) -> Tuple[Dict[str, Dict[str, float]], Optional[float]]:
    """-> ({utt: {"rtf": x, "peak_mem": MiB?, "elapsed_s"?, "cpu_s"?, "audio_s"?}},
    run-level peak MiB or None).

    Lines that do not parse, or hold a negative or non-finite number, are left out with a
    warning (appended to ``warn`` when given, else logged). Raises ``OSError`` when the
    file cannot be read.
    """
    per: Dict[str, Dict[str, float]] = {}
    run_peak: Optional[float] = None
    bad: List[str] = []

    def num(v) -> float:
        x = float(v)
        if not math.isfinite(x) or x < 0:
            raise ValueError(v)
        return x

    for ln, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        toks = line.split()
        key, rest = toks[0], toks[1:]
        kv = {}
        pos = []
        for t in rest:
            if "=" in t:
                k, _, v = t.partition("=")
                kv[k.lower()] = v
            else:
                pos.append(t)
        try:
            if key.lower() in RUN_KEYS:
                run_peak = max(run_peak or 0.0, num(pos[0] if pos else next(iter(kv.values()))))
                continue
            d: Dict[str, float] = {}
            for k in TIME_KEYS:
                if k in kv:
                    d[k] = num(kv[k])
            rtf = kv.get("rtf", pos[0] if pos else None)
            if rtf is not None:
                d["rtf"] = num(rtf)
            elif "elapsed_s" in d and d.get("audio_s"):
                d["rtf"] = d["elapsed_s"] / d["audio_s"]
            mem = next((kv[k] for k in RUN_KEYS if k in kv), pos[1] if len(pos) > 1 else None)
            if mem is not None:
                d["peak_mem"] = num(mem)
            if "rtf" not in d:
                raise ValueError("no RTF")
            per[key] = d
        except (ValueError, IndexError, StopIteration):
            bad.append(f"{path}:{ln}: cannot parse RTF line: {line[:80]!r}")
    if len(bad) > MAX_LINE_WARNINGS:  # e.g. a binary file: name a few lines, count the rest
        bad[MAX_LINE_WARNINGS:] = [f"{path}: {len(bad) - MAX_LINE_WARNINGS} more lines "
                                   "that are not RTF lines"]
    for msg in bad:
        if warn is None:
            logging.warning(msg)
        else:
            warn.append(msg)
    return per, run_peak


def total_rtf(entries: Iterable[Dict[str, float]]) -> Optional[Dict[str, float]]:
    """Set-level RTF of per-utterance entries (as :func:`read_rtf_file` returns them):
    total synthesis wall time / total generated audio seconds (and the same for process
    CPU time when every entry has it). None unless every entry has ``elapsed_s`` and a
    positive ``audio_s``."""
    entries = list(entries)
    if not entries or not all("elapsed_s" in e and e.get("audio_s") for e in entries):
        return None
    elapsed = sum(e["elapsed_s"] for e in entries)
    audio = sum(e["audio_s"] for e in entries)
    out = {"rtf": elapsed / audio, "elapsed_s": elapsed, "audio_s": audio, "n": len(entries)}
    if all("cpu_s" in e for e in entries):
        out["cpu_s"] = sum(e["cpu_s"] for e in entries)
        out["cpu_rtf"] = out["cpu_s"] / audio
    return out


def find_rtf_file(*dirs) -> Optional[Path]:
    """First of ``rtf``, ``rtf.txt``, ``rtf.scp`` in the given directories."""
    for d in dirs:
        if d is None:
            continue
        for name in ("rtf", "rtf.txt", "rtf.scp"):
            p = Path(d) / name
            if p.is_file():
                return p
    return None

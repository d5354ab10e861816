"""Real-time factor and peak memory from the synthesizer's per-utterance log file.

Format (one utterance a line, ``#`` comments ignored)::

    <utt_id> <rtf> [<peak_mem_MiB>]
    peak_mem_mib <MiB>            # optional run-level peak memory

Columns may also be ``key=value`` tokens (``rtf=0.12 peak_mem_mib=812``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional, Tuple

RUN_KEYS = ("peak_mem_mib", "peak_mem", "peak_mem_mb", "max_rss_mib")


def read_rtf_file(path) -> Tuple[Dict[str, Dict[str, float]], Optional[float]]:
    """-> ({utt: {"rtf": x, "peak_mem": MiB?}}, run-level peak MiB or None)."""
    per: Dict[str, Dict[str, float]] = {}
    run_peak: Optional[float] = None
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
                run_peak = max(run_peak or 0.0, float(pos[0] if pos else next(iter(kv.values()))))
                continue
            d: Dict[str, float] = {}
            rtf = kv.get("rtf", pos[0] if pos else None)
            if rtf is not None:
                d["rtf"] = float(rtf)
            mem = next((kv[k] for k in RUN_KEYS if k in kv), pos[1] if len(pos) > 1 else None)
            if mem is not None:
                d["peak_mem"] = float(mem)
            if d:
                per[key] = d
        except (ValueError, IndexError, StopIteration):
            logging.warning(f"{path}:{ln}: cannot parse RTF line: {line!r}")
    return per, run_peak


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

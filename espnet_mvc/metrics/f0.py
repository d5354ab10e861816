"""log-F0 RMSE over frames voiced in both signals, DTW-aligned (ESPnet evaluate_f0.py)."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from espnet_mvc.metrics import world
from espnet_mvc.metrics.audio import AudioError

#: fewer jointly-voiced frames than this and the RMSE is not reported
MIN_VOICED_FRAMES = 5


def f0_stats_from_features(
    gen: "world.WorldFeatures",
    ref: "world.WorldFeatures",
    path: Optional[Tuple[np.ndarray, np.ndarray]] = None,
) -> Dict[str, float]:
    """``f0rmse``: RMSE of natural-log F0 over frames voiced in both (after DTW);
    ``vuv_err``: fraction of paired frames whose voicing decisions differ."""
    ix, iy = path if path is not None else world.align(gen, ref)
    fg, fr = gen.f0[ix], ref.f0[iy]
    vg, vr = fg > 0, fr > 0
    both = vg & vr
    if both.sum() < MIN_VOICED_FRAMES:
        raise AudioError(f"only {int(both.sum())} frames voiced in both signals")
    d = np.log(fg[both]) - np.log(fr[both])
    return {"f0rmse": float(np.sqrt(np.mean(d**2))), "vuv_err": float(np.mean(vg != vr))}


def log_f0_rmse(gen: np.ndarray, ref: np.ndarray, fs: int, f0_method: str = "harvest") -> float:
    """log-F0 RMSE between two waveforms at the same sample rate ``fs``."""
    g = world.analyze(gen, fs, f0_method=f0_method)
    r = world.analyze(ref, fs, f0_method=f0_method)
    return f0_stats_from_features(g, r)["f0rmse"]

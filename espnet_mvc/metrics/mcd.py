"""Mel-cepstral distortion (dB) with DTW, ESPnet conventions (see :mod:`.world`)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from espnet_mvc.metrics import world

_K = 10.0 / np.log(10.0) * np.sqrt(2.0)


def mcd_from_features(
    gen: "world.WorldFeatures",
    ref: "world.WorldFeatures",
    path: Optional[Tuple[np.ndarray, np.ndarray]] = None,
    include_c0: bool = False,
) -> float:
    """MCD = mean over DTW-paired frames of ``10/ln10 * sqrt(2 * sum_d (c_d - c'_d)^2)``.

    ``include_c0=False`` (default) leaves out the energy term c0, the usual choice for
    TTS papers; ESPnet's sptk-based evaluate_mcd.py includes it (pass ``True``).
    """
    ix, iy = path if path is not None else world.align(gen, ref)
    lo = 0 if include_c0 else 1
    diff = gen.mcep[ix, lo:] - ref.mcep[iy, lo:]
    return float(np.mean(_K * np.sqrt(np.sum(diff**2, axis=1))))


def mel_cepstral_distortion(
    gen: np.ndarray, ref: np.ndarray, fs: int, include_c0: bool = False, f0_method: str = "harvest"
) -> float:
    """MCD (dB) between two waveforms at the same sample rate ``fs``."""
    g = world.analyze(gen, fs, f0_method=f0_method)
    r = world.analyze(ref, fs, f0_method=f0_method)
    return mcd_from_features(g, r, include_c0=include_c0)

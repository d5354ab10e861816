"""WORLD analysis, mel-cepstra and DTW shared by :mod:`.mcd` and :mod:`.f0`.

Conventions follow ESPnet's ``egs2/TEMPLATE/*/pyscripts/utils/evaluate_mcd.py`` and
``evaluate_f0.py``: mel-cepstrum order and all-pass constant ``alpha`` chosen by sample
rate (SPTK's recommended values), F0 by WORLD Harvest with a 40-800 Hz search range and
5 ms frame shift, and a DTW over mel-cepstra to pair generated and reference frames.
Differences from ESPnet, on purpose: the spectral envelope comes from WORLD CheapTrick
(``pysptk.sp2mc``, as ESPnet1's ``mcd_calculate.py``), the DTW is exact (not FastDTW) and
uses c1..cD (loudness-independent), and MCD excludes c0 by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from espnet_mvc.metrics.audio import AudioError

#: (mel-cepstrum order, all-pass constant) by sample rate, as ESPnet's evaluate_mcd.py
MCEP_PARAMS = {
    8000: (13, 0.31),
    16000: (23, 0.42),
    22050: (34, 0.45),
    24000: (34, 0.46),
    32000: (36, 0.50),
    44100: (39, 0.53),
    48000: (39, 0.55),
}

#: DTW cost matrices above this many cells are computed on a decimated grid
DTW_MAX_CELLS = 16_000_000


def best_mcep_params(fs: int) -> Tuple[int, float]:
    """Mel-cepstrum order and alpha for ``fs`` (nearest tabulated rate for the order)."""
    if fs in MCEP_PARAMS:
        return MCEP_PARAMS[fs]
    import pysptk

    nearest = min(MCEP_PARAMS, key=lambda r: abs(r - fs))
    return MCEP_PARAMS[nearest][0], float(pysptk.util.mcepalpha(fs))


@dataclass
class WorldFeatures:
    f0: np.ndarray  # (T,) Hz, 0 = unvoiced
    mcep: np.ndarray  # (T, order + 1), c0 first
    fs: int
    frame_period: float  # ms


def analyze(
    x: np.ndarray,
    fs: int,
    f0_method: str = "harvest",
    f0_floor: float = 40.0,
    f0_ceil: float = 800.0,
    frame_period: float = 5.0,
    mcep_dim: int = None,
    mcep_alpha: float = None,
) -> WorldFeatures:
    """WORLD F0 + CheapTrick envelope -> mel-cepstrum for one waveform."""
    try:
        import pysptk
        import pyworld as pw
    except ImportError as e:  # pragma: no cover - optional extra
        raise AudioError(f"pyworld/pysptk not installed ({e.name}); pip install 'espnet-mvc[score]'")
    if mcep_dim is None or mcep_alpha is None:
        mcep_dim, mcep_alpha = best_mcep_params(fs)
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0_ceil = min(f0_ceil, fs / 2 * 0.95)
    if f0_method == "harvest":
        f0, t = pw.harvest(x, fs, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period)
    elif f0_method == "dio":
        f0, t = pw.dio(x, fs, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period)
        f0 = pw.stonemask(x, f0, t, fs)
    else:
        raise ValueError(f"unknown f0_method {f0_method!r} (harvest|dio)")
    sp = pw.cheaptrick(x, f0, t, fs)
    mcep = pysptk.sp2mc(sp, mcep_dim, mcep_alpha)
    if not np.all(np.isfinite(mcep)):
        raise AudioError("non-finite mel-cepstrum (degenerate signal)")
    return WorldFeatures(f0=np.asarray(f0), mcep=np.asarray(mcep), fs=fs, frame_period=frame_period)


def _dtw_exact(X: np.ndarray, Y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Exact DTW (steps (1,1), (1,0), (0,1), Euclidean cost); anti-diagonal numpy sweep."""
    from scipy.spatial.distance import cdist

    n, m = len(X), len(Y)
    C = cdist(X, Y)
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0.0
    for k in range(n + m - 1):
        i0, i1 = max(0, k - m + 1), min(k, n - 1)
        i = np.arange(i0, i1 + 1)
        j = k - i
        best = np.minimum(np.minimum(D[i, j], D[i, j + 1]), D[i + 1, j])
        D[i + 1, j + 1] = C[i, j] + best
    # backtrack from (n, m) in D coordinates
    i, j = n, m
    path = [(n - 1, m - 1)]
    while i > 1 or j > 1:
        cands = (D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
        step = int(np.argmin(cands))
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
        path.append((i - 1, j - 1))
    p = np.array(path[::-1])
    return p[:, 0], p[:, 1]


def dtw_path(X: np.ndarray, Y: np.ndarray, max_cells: int = DTW_MAX_CELLS) -> Tuple[np.ndarray, np.ndarray]:
    """Frame pairing of two feature sequences ``X (N, D)`` and ``Y (M, D)``.

    Exact DTW while ``N * M <= max_cells``; longer pairs are aligned on every ``r``-th
    frame and the coarse path is expanded back (keeps memory bounded for long-form audio).
    """
    n, m = len(X), len(Y)
    if n == 0 or m == 0:
        raise AudioError("empty feature sequence for DTW")
    r = 1 if n * m <= max_cells else int(math.ceil(math.sqrt(n * m / max_cells)))
    if r == 1:
        return _dtw_exact(X, Y)
    ci, cj = _dtw_exact(X[::r], Y[::r])
    fi, fj = [], []
    for a, b in zip(ci, cj):
        for d in range(r):
            fi.append(min(a * r + d, n - 1))
            fj.append(min(b * r + d, m - 1))
    return np.asarray(fi), np.asarray(fj)


def align(gen: WorldFeatures, ref: WorldFeatures) -> Tuple[np.ndarray, np.ndarray]:
    """DTW path between generated and reference frames (mel-cepstra without c0)."""
    return dtw_path(gen.mcep[:, 1:], ref.mcep[:, 1:])

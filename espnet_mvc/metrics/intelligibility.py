"""PESQ (wide-band, 16 kHz) and STOI against a reference, after time alignment.

Both need the degraded signal on the reference's time axis. Synthesized speech rarely
has the reference's exact timing, so :func:`align_to_reference` either pads/trims (when
the lengths already agree within ``LENGTH_TOL``: resynthesis, teacher forcing) or warps
the synthesized signal onto the reference frames along the mel-cepstral DTW path by
5 ms Hann overlap-add (the ``align`` column says which).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from espnet_mvc.inference.reference_audio import resample
from espnet_mvc.metrics.audio import AudioError

FS = 16000
#: relative length difference under which signals are taken as time-aligned already
LENGTH_TOL = 0.02


def pad_or_trim(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def warp_by_path(
    gen: np.ndarray, n_out: int, path: Tuple[np.ndarray, np.ndarray], hop: int
) -> np.ndarray:
    """Overlap-add 2*hop Hann frames of ``gen`` at the reference frame they are paired with."""
    ix, iy = path
    m = int(iy.max()) + 1
    # one generated frame per reference frame: the first one DTW paired with it
    first = np.full(m, -1)
    for a, b in zip(ix[::-1], iy[::-1]):
        first[b] = a
    win = np.hanning(2 * hop + 1)[:-1]  # periodic Hann: hop-shifted copies sum to 1
    src = np.pad(gen, (hop, 2 * hop))
    out = np.zeros(max(n_out, m * hop) + 2 * hop)
    for j in range(m):
        i = first[j]
        if i < 0:
            continue
        seg = src[i * hop : i * hop + 2 * hop]
        if len(seg) < 2 * hop:
            seg = np.pad(seg, (0, 2 * hop - len(seg)))
        out[j * hop : j * hop + 2 * hop] += win * seg
    return out[hop : hop + n_out]


def align_to_reference(
    gen: np.ndarray,
    ref: np.ndarray,
    path: Optional[Tuple[np.ndarray, np.ndarray]] = None,
    frame_period_ms: float = 5.0,
    fs: int = FS,
) -> Tuple[np.ndarray, str]:
    """Put ``gen`` on ``ref``'s time axis (both at ``fs``). Returns (signal, mode)."""
    if abs(len(gen) - len(ref)) <= LENGTH_TOL * len(ref):
        return pad_or_trim(gen, len(ref)), "length"
    if path is None:
        raise AudioError(
            f"lengths differ by {abs(len(gen) - len(ref)) / fs:.2f} s and no DTW path was given"
        )
    hop = int(round(fs * frame_period_ms / 1000.0))
    return warp_by_path(gen, len(ref), path, hop), "dtw"


def pesq_stoi(
    gen: np.ndarray,
    ref: np.ndarray,
    fs: int,
    path: Optional[Tuple[np.ndarray, np.ndarray]] = None,
    frame_period_ms: float = 5.0,
    want_pesq: bool = True,
    want_stoi: bool = True,
) -> Dict[str, object]:
    """Wide-band PESQ and STOI of ``gen`` against ``ref`` (any common rate ``fs``).

    Errors of one metric are returned as ``{"pesq_error": msg}`` so the other survives.
    """
    g16, r16 = resample(gen, fs, FS, dtype=np.float64), resample(ref, fs, FS, dtype=np.float64)
    g16, mode = align_to_reference(g16, r16, path, frame_period_ms, FS)
    out: Dict[str, object] = {"align": mode}
    if want_pesq:
        try:
            from pesq import pesq

            out["pesq"] = float(pesq(FS, r16, g16, "wb"))
        except ImportError:
            out["pesq_error"] = "pesq not installed; pip install 'espnet-mvc[score]'"
        except Exception as e:  # pesq.NoUtterancesError, InvalidSampleRateError, ...
            out["pesq_error"] = f"PESQ failed: {type(e).__name__}: {e}"
    if want_stoi:
        try:
            from pystoi import stoi

            v = float(stoi(r16, g16, FS, extended=False))
            if not np.isfinite(v):
                raise ValueError("non-finite STOI")
            out["stoi"] = v
        except ImportError:
            out["stoi_error"] = "pystoi not installed; pip install 'espnet-mvc[score]'"
        except Exception as e:
            out["stoi_error"] = f"STOI failed: {type(e).__name__}: {e}"
    return out

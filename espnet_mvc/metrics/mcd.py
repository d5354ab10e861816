"""Mel-cepstral distortion (dB), the project's one: of WORLD mel-cepstra aligned by DTW
(ESPnet conventions, see :mod:`.world`), and of log-mels that share their frames."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from espnet_mvc.metrics import world

_K = 10.0 / np.log(10.0) * np.sqrt(2.0)


def _mcd_db(ca: np.ndarray, cb: np.ndarray) -> float:
    """Mean over paired frames of ``10/ln10 * sqrt(2 * sum_d (c_d - c'_d)^2)``.

    Args:
        ca (ndarray): Cepstra (N, D), frame n paired with frame n of ``cb``.
        cb (ndarray): Cepstra (N, D).
    """
    return float(np.mean(_K * np.sqrt(np.sum((ca - cb) ** 2, axis=-1))))


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
    return _mcd_db(gen.mcep[ix, lo:], ref.mcep[iy, lo:])


def mcd_from_log_mels(mel_a, mel_b, order: int = 24) -> float:
    """MCD (dB) between two log-mels of the same length, frame n against frame n.

    Cepstra are the orthonormal DCT-II of the log-mel frames (natural log, as ESPnet's
    fbank features), c0 (energy) left out. No DTW: for outputs that share their durations
    frame for frame, such as a stream and the offline synthesis of the same input.

    Args:
        mel_a (ndarray or Tensor): Log-mel (T, n_mels); a tensor may be on any device.
        mel_b (ndarray or Tensor): Log-mel (T, n_mels).
        order (int): Cepstral coefficients compared, c1 .. c_order.

    Raises:
        ValueError: The shapes differ.
    """
    from scipy.fft import dct

    # .cpu(): torch tensors are taken as they come, without importing torch here
    a = np.asarray(mel_a.cpu() if hasattr(mel_a, "cpu") else mel_a, np.float64)
    b = np.asarray(mel_b.cpu() if hasattr(mel_b, "cpu") else mel_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"mels must have the same shape, got {a.shape} and {b.shape}")
    ca = dct(a, type=2, axis=-1, norm="ortho")[:, 1 : order + 1]
    cb = dct(b, type=2, axis=-1, norm="ortho")[:, 1 : order + 1]
    return _mcd_db(ca, cb)


"""Waveform loading and validation shared by all metrics.

Every problem with an input file (missing, unreadable, empty, silent, non-finite,
too short) raises :class:`AudioError` with a one-line reason, so that the scorer can
skip that utterance (or that metric) with a warning instead of crashing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple, Union

import numpy as np

#: waveforms whose peak is below this (about -80 dBFS) are treated as silent
SILENCE_PEAK = 1e-4
#: shortest waveform scored (seconds)
MIN_DURATION = 0.1


class AudioError(ValueError):
    """A waveform that cannot be scored; the message says why."""


def load_wav(path: Union[str, Path], min_duration: float = MIN_DURATION) -> Tuple[np.ndarray, int]:
    """Read a mono float64 waveform in [-1, 1] and its sample rate.

    Multi-channel files are averaged to mono. Raises :class:`AudioError` for a missing,
    unreadable, empty, too short, silent or non-finite file.
    """
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioError(f"file not found: {p}")
    if p.stat().st_size == 0:
        raise AudioError(f"empty file: {p}")
    try:
        x, fs = sf.read(str(p), dtype="float64", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError/RuntimeError/TypeError
        raise AudioError(f"unreadable audio {p}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    check_wav(x, fs, name=str(p), min_duration=min_duration)
    return x, int(fs)


def check_wav(x: np.ndarray, fs: int, name: str = "waveform", min_duration: float = MIN_DURATION) -> None:
    """Raise :class:`AudioError` unless ``x`` is a scorable waveform."""
    if fs is None or fs <= 0:
        raise AudioError(f"{name}: invalid sample rate {fs}")
    if x.size == 0:
        raise AudioError(f"{name}: no samples")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{name}: non-finite samples (NaN/Inf)")
    if x.size < min_duration * fs:
        raise AudioError(f"{name}: too short ({x.size / fs:.3f} s < {min_duration} s)")
    if np.max(np.abs(x)) < SILENCE_PEAK:
        raise AudioError(f"{name}: silent (peak {np.max(np.abs(x)):.2e})")


def to_float32_clipped(x: np.ndarray) -> np.ndarray:
    """float32 copy limited to [-1, 1] (some scorers reject anything outside)."""
    return np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)

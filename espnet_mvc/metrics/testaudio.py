"""Test and self-check signals: numpy tones and espeak-ng speech (offline, no root).

Speech comes from :class:`espnet_mvc.text.espeak.EspeakSynthesizer`.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def harmonic(f0: float, fs: int = 22050, dur: float = 2.0, n_harm: int = 15, vibrato: float = 0.0) -> np.ndarray:
    """A voiced, speech-like harmonic complex (1/k amplitudes) with optional vibrato (Hz)."""
    t = np.arange(int(fs * dur)) / fs
    inst = f0 * (1 + vibrato / f0 * np.sin(2 * np.pi * 5 * t)) if vibrato else np.full_like(t, f0)
    phase = 2 * np.pi * np.cumsum(inst) / fs
    x = sum(np.sin(k * phase) / k for k in range(1, n_harm + 1) if k * f0 < fs / 2)
    return 0.3 * x / np.max(np.abs(x))


def speech(text: str, voice: str = "en-us", rate: int = 175,
           pitch: int = 50) -> Tuple[np.ndarray, int]:
    """espeak-ng speech for ``text``.

    Args:
        text: What to say.
        voice: espeak-ng voice name (``en-us``, ``en-us+f2``, ``es``, ...).
        rate: Words per minute.
        pitch: espeak-ng pitch, 0-99.

    Returns:
        The waveform (float64, (T,)) and its sample rate.
    """
    from espnet_mvc.text.espeak import EspeakSynthesizer

    syn = EspeakSynthesizer(voice, rate=rate, pitch=pitch)
    return syn(text).astype(np.float64), syn.sample_rate


def add_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``x`` plus white noise at ``snr_db`` dB SNR."""
    rng = np.random.default_rng(seed)
    n = rng.standard_normal(len(x))
    p = np.mean(x**2)
    return x + n * np.sqrt(p / (10 ** (snr_db / 10)) / np.mean(n**2))

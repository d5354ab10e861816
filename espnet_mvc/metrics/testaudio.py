"""Test and self-check signals: numpy tones and espeak-ng speech (offline, no root).

Speech comes from :class:`espnet_mvc.text.espeak.EspeakSynthesizer` when that module
is present, else from a minimal ctypes call into the ``espeakng-loader`` library.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Tuple

import numpy as np


def harmonic(f0: float, fs: int = 22050, dur: float = 2.0, n_harm: int = 15, vibrato: float = 0.0) -> np.ndarray:
    """A voiced, speech-like harmonic complex (1/k amplitudes) with optional vibrato (Hz)."""
    t = np.arange(int(fs * dur)) / fs
    inst = f0 * (1 + vibrato / f0 * np.sin(2 * np.pi * 5 * t)) if vibrato else np.full_like(t, f0)
    phase = 2 * np.pi * np.cumsum(inst) / fs
    x = sum(np.sin(k * phase) / k for k in range(1, n_harm + 1) if k * f0 < fs / 2)
    return 0.3 * x / np.max(np.abs(x))


class _MiniEspeak:
    """Just enough of the espeak-ng C API to synthesize a sentence (22050 Hz int16)."""

    _inst = None
    _lock = threading.Lock()

    def __init__(self):
        import espeakng_loader as el

        self.lib = ctypes.CDLL(el.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.fs = self.lib.espeak_Initialize(2, 0, el.get_data_path().encode(), 0)  # SYNCHRONOUS
        if self.fs <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self._chunks = []
        CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

        def cb(wav, n, _ev):
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._cb = CB(cb)
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]

    @classmethod
    def get(cls):
        with cls._lock:
            if cls._inst is None:
                cls._inst = cls()
            return cls._inst

    def __call__(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"unknown espeak voice {voice}")
            self.lib.espeak_SetParameter(1, int(rate), 0)  # espeakRATE
            self.lib.espeak_SetParameter(3, int(pitch), 0)  # espeakPITCH
            b = text.encode("utf-8")
            self._chunks = []
            self.lib.espeak_Synth(b, len(b) + 1, 0, 0, 0, 1 | 0x1000, None, None)  # UTF8|ENDPAUSE
            self.lib.espeak_Synchronize()
            x = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return x.astype(np.float64) / 32768.0


def speech(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50) -> Tuple[np.ndarray, int]:
    """espeak-ng speech for ``text``: (float64 waveform, sample rate)."""
    try:
        from espnet_mvc.text.espeak import EspeakSynthesizer
    except ImportError:
        EspeakSynthesizer = None
    if EspeakSynthesizer is not None:
        syn = EspeakSynthesizer(voice, rate=rate, pitch=pitch)
        return syn(text).astype(np.float64), syn.sample_rate
    mini = _MiniEspeak.get()
    return mini(text, voice, rate, pitch), mini.fs


def add_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``x`` plus white noise at ``snr_db`` dB SNR."""
    rng = np.random.default_rng(seed)
    n = rng.standard_normal(len(x))
    p = np.mean(x**2)
    return x + n * np.sqrt(p / (10 ** (snr_db / 10)) / np.mean(n**2))

"""ESPnet's ``LogMelFbank``, built without importing librosa's filters (a fast start).

ESPnet's ``LogMel`` computes its mel matrix with ``librosa.filters.mel``, and importing
``librosa.filters`` imports ``scipy.signal``, ``scipy.stats`` and ``numba``: about 1.5 s of
CPU on this project's 2 cores, more than the rest of a model load. :func:`mel_filterbank`
is that function (the same arithmetic in the same order, so the same float32 values; see
``tests/test_features.py``), and :func:`log_mel_fbank` returns an instance of ESPnet's own
``LogMelFbank`` -- same class, attributes, buffers and forward -- whose ``LogMel`` holds
that matrix. Inference loads ``melmat`` from the checkpoint anyway; training builds the
features through ESPnet's task (``feats_extract: fbank``) as before.
"""

import warnings
from typing import Optional, Union

import numpy as np
import torch


def _hz_to_mel(frequencies, htk: bool = False) -> np.ndarray:
    """``librosa.hz_to_mel``."""
    frequencies = np.asanyarray(frequencies)
    if htk:
        return 2595.0 * np.log10(1.0 + frequencies / 700.0)
    f_min, f_sp = 0.0, 200.0 / 3
    mels = (frequencies - f_min) / f_sp
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0
    if frequencies.ndim:
        log_t = frequencies >= min_log_hz
        mels[log_t] = min_log_mel + np.log(frequencies[log_t] / min_log_hz) / logstep
    elif frequencies >= min_log_hz:
        mels = min_log_mel + np.log(frequencies / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels, htk: bool = False) -> np.ndarray:
    """``librosa.mel_to_hz``."""
    mels = np.asanyarray(mels)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_min, f_sp = 0.0, 200.0 / 3
    freqs = f_min + f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0
    if mels.ndim:
        log_t = mels >= min_log_mel
        freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    elif mels >= min_log_mel:
        freqs = min_log_hz * np.exp(logstep * (mels - min_log_mel))
    return freqs


def mel_filterbank(sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
                   fmax: Optional[float] = None, htk: bool = False,
                   dtype=np.float32) -> np.ndarray:
    """``librosa.filters.mel(sr=, n_fft=, n_mels=, fmin=, fmax=, htk=)`` with its default
    ``norm="slaney"`` (area-normalised triangles), as ESPnet's ``LogMel`` calls it.

    Returns:
        np.ndarray: (n_mels, 1 + n_fft // 2) weights.
    """
    if fmax is None:
        fmax = float(sr) / 2
    n_mels = int(n_mels)
    weights = np.zeros((n_mels, int(1 + n_fft // 2)), dtype=dtype)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin, htk=htk), _hz_to_mel(fmax, htk=htk),
                                   n_mels + 2), htk=htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    if not np.all((mel_f[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn(
            "Empty filters detected in mel frequency basis. Some channels will produce "
            "empty responses. Try increasing your sampling rate (and fmax) or reducing "
            "n_mels.", stacklevel=2,
        )
    return weights


def log_mel(fs: int = 16000, n_fft: int = 512, n_mels: int = 80, fmin: Optional[float] = None,
            fmax: Optional[float] = None, htk: bool = False, log_base: Optional[float] = None):
    """``espnet2.layers.log_mel.LogMel(...)``: that class, its ``__init__`` done here with
    :func:`mel_filterbank` in place of ``librosa.filters.mel``."""
    from espnet2.layers.log_mel import LogMel

    m = LogMel.__new__(LogMel)
    torch.nn.Module.__init__(m)
    fmin = 0 if fmin is None else fmin
    fmax = fs / 2 if fmax is None else fmax
    m.mel_options = dict(sr=fs, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk)
    m.log_base = log_base
    melmat = mel_filterbank(**m.mel_options)
    m.register_buffer("melmat", torch.from_numpy(melmat.T).float())
    return m


def log_mel_fbank(fs: Union[int, str] = 16000, n_fft: int = 1024,
                  win_length: Optional[int] = None, hop_length: int = 256,
                  window: Optional[str] = "hann", center: bool = True,
                  normalized: bool = False, onesided: bool = True, n_mels: int = 80,
                  fmin: Optional[int] = 80, fmax: Optional[int] = 7600, htk: bool = False,
                  log_base: Optional[float] = 10.0):
    """``espnet2.tts.feats_extract.log_mel_fbank.LogMelFbank(...)`` (same defaults): that
    class, its ``__init__`` done here so that its ``LogMel`` comes from :func:`log_mel`."""
    from espnet2.layers.stft import Stft
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

    f = LogMelFbank.__new__(LogMelFbank)
    torch.nn.Module.__init__(f)
    if isinstance(fs, str):
        import humanfriendly

        fs = humanfriendly.parse_size(fs)
    f.fs, f.n_mels, f.n_fft, f.hop_length = fs, n_mels, n_fft, hop_length
    f.win_length, f.window, f.fmin, f.fmax = win_length, window, fmin, fmax
    f.stft = Stft(n_fft=n_fft, win_length=win_length, hop_length=hop_length, window=window,
                  center=center, normalized=normalized, onesided=onesided)
    f.logmel = log_mel(fs=fs, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                       log_base=log_base)
    return f

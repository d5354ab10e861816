"""The signal processing of the ONNX runtime, in numpy: what has no weights.

* :func:`log_mel`: a reference clip's features, as ESPnet's ``LogMelFbank`` (centred,
  reflect-padded Hann STFT, amplitude, mel matrix, log) and ``GlobalMVN`` make them;
* :func:`istft`: the vocoder's STFT frames to a waveform, as ``torch.istft(center=True)``
  does (ONNX has no inverse STFT).

Both are checked against PyTorch in ``tests/test_onnx_export.py``.
"""

from typing import Mapping, Optional

import numpy as np


def hann(n: int) -> np.ndarray:
    """The periodic Hann window of ``torch.hann_window(n)``."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


def _frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred frames (T, n_fft), T = 1 + len(x) // hop, of a reflect-padded signal."""
    pad = n_fft // 2
    if len(x) <= pad:
        raise ValueError(f"audio of {len(x)} samples is too short for an STFT of {n_fft}")
    x = np.pad(x, (pad, pad), mode="reflect")
    n = 1 + (len(x) - n_fft) // hop
    return np.lib.stride_tricks.as_strided(
        x, shape=(n, n_fft), strides=(x.strides[0] * hop, x.strides[0])
    )


def log_mel(wav: np.ndarray, settings: Mapping[str, object]) -> np.ndarray:
    """Normalised log-mel features (T, n_mels) of a waveform at ``settings["fs"]``.

    Args:
        wav (ndarray): Mono float waveform (T_wav,).
        settings (Mapping): ``model.json``'s ``features``: n_fft, win_length, hop_length,
            melmat (n_mels, n_fft/2 + 1), log_base and, for a normalised model, mean and
            std (n_mels,).
    """
    n_fft, win, hop = (int(settings[k]) for k in ("n_fft", "win_length", "hop_length"))
    window = np.zeros(n_fft, dtype=np.float32)
    left = (n_fft - win) // 2  # ESPnet centres a shorter window in the FFT frame
    window[left:left + win] = hann(win)
    from scipy import fft  # (its rfft of many frames is 6x numpy's here)

    spec = fft.rfft(_frames(np.asarray(wav, dtype=np.float32), n_fft, hop) * window, axis=1)
    amp = np.sqrt(np.maximum(spec.real ** 2 + spec.imag ** 2, 1e-10)).astype(np.float32)
    mel = np.maximum(amp @ np.asarray(settings["melmat"], dtype=np.float32).T, 1e-10)
    base = settings.get("log_base")
    if base is None:
        feats = np.log(mel)
    elif base == 10.0:
        feats = np.log10(mel)
    elif base == 2.0:
        feats = np.log2(mel)
    else:
        feats = np.log(mel) / np.float32(np.log(base))
    if settings.get("mean") is not None:
        feats = (feats - np.asarray(settings["mean"], np.float32)) / np.asarray(
            settings["std"], np.float32)
    return feats.astype(np.float32)


def denormalize(mel: np.ndarray, settings: Mapping[str, object]) -> np.ndarray:
    """The model's normalised mel (T, n_mels) back to log-mel, as ``GlobalMVN.inverse``."""
    if settings.get("mean") is None:
        return mel
    return (mel * np.asarray(settings["std"], np.float32)
            + np.asarray(settings["mean"], np.float32)).astype(np.float32)


def istft(real: np.ndarray, imag: np.ndarray, n_fft: int, hop: int,
          length: Optional[int] = None) -> np.ndarray:
    """``torch.istft(spec, n_fft, hop, window=hann(n_fft), center=True, length=...)``.

    Args:
        real, imag (ndarray): One-sided STFT (n_fft/2 + 1, T).
        length (Optional[int]): Samples wanted (default T * hop).

    Returns:
        ndarray: Waveform (length,), float32.
    """
    n_frames = real.shape[1]
    length = n_frames * hop if length is None else int(length)
    window = hann(n_fft)
    frames = np.fft.irfft((real + 1j * imag).T, n=n_fft, axis=1).astype(np.float32) * window
    # overlap-add in hop-sized blocks: frame t covers blocks t .. t + parts - 1
    parts = -(-n_fft // hop)
    pad = parts * hop - n_fft
    blocks = np.pad(frames, ((0, 0), (0, pad))).reshape(n_frames, parts, hop)
    win_blocks = np.pad(window ** 2, (0, pad)).reshape(parts, hop)
    out = np.zeros((n_frames + parts - 1, hop), dtype=np.float32)
    envelope = np.zeros_like(out)
    for p in range(parts):
        out[p:p + n_frames] += blocks[:, p]
        envelope[p:p + n_frames] += win_blocks[p]
    out, envelope = out.reshape(-1), envelope.reshape(-1)
    start = n_fft // 2
    out, envelope = out[start:start + length], envelope[start:start + length]
    if len(out) < length:  # torch pads a short result with zeros
        out = np.pad(out, (0, length - len(out)))
        envelope = np.pad(envelope, (0, length - len(envelope)), constant_values=1.0)
    if np.any(envelope < 1e-11):
        raise ValueError("inverse STFT: the window does not overlap enough (NOLA)")
    return (out / envelope).astype(np.float32)

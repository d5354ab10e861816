"""Reference audio for zero-shot cloning: load, convert, trim and validate.

Any sample rate and channel count is accepted; the clip is mixed to mono, resampled to the
model's rate, trimmed of leading/trailing silence and checked. Problems raise
:class:`ReferenceAudioError` (a ``ValueError``) that names the file and what is wrong.
"""

import logging
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import soundfile as sf

# A reference must give the style encoder enough voiced material.
MIN_REFERENCE_SECONDS = 0.5
# Longer clips add nothing to a pooled style vector but cost time: keep the first part.
MAX_REFERENCE_SECONDS = 30.0
# Peak below this (full scale 1.0) is treated as silence (-60 dBFS).
SILENCE_PEAK = 1e-3

AudioInput = Union[str, Path, np.ndarray, Tuple[np.ndarray, int]]


class ReferenceAudioError(ValueError):
    """The reference clip cannot be used for cloning."""


def resample(wav: np.ndarray, sr_in: int, sr_out: int, dtype=np.float32) -> np.ndarray:
    """Band-limited polyphase resampling (``scipy.signal.resample_poly``), the project's one.

    Used for reference clips, by the recipe's stage 2 (:mod:`espnet_mvc.recipe.format_wav`),
    by the metrics and by eSpeak's ``to_file``.

    Args:
        wav (ndarray): Mono waveform (T,).
        sr_in (int): Its sample rate.
        sr_out (int): The rate wanted.
        dtype: What the filter runs in and returns: float32 for audio that is written or
            fed to the model, float64 for the metrics (as they always scored).

    Returns:
        ndarray: (ceil(T * sr_out / sr_in),) in ``dtype``; ``wav`` itself, neither copied
        nor converted, when the rates match.
    """
    if sr_in == sr_out:
        return wav
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(np.asarray(wav, dtype=dtype), int(sr_out) // g, int(sr_in) // g)


def _read(ref: AudioInput, sr: Optional[int]) -> Tuple[np.ndarray, int, str]:
    if isinstance(ref, tuple):
        ref, sr = ref
    if isinstance(ref, (str, Path)):
        path = Path(ref)
        if not path.is_file():
            raise ReferenceAudioError(f"reference audio {path}: file not found")
        try:
            wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as e:  # libsndfile: not audio, truncated, unknown format
            raise ReferenceAudioError(
                f"reference audio {path}: not a readable audio file ({e})"
            ) from e
        return wav, int(sr), str(path)
    if isinstance(ref, np.ndarray):
        if sr is None:
            raise ReferenceAudioError("reference given as an array needs its sample rate")
        wav = ref.astype(np.float32)
        if wav.ndim == 1:
            wav = wav[:, None]
        elif wav.ndim == 2 and wav.shape[0] < wav.shape[1] and wav.shape[0] <= 8:
            wav = wav.T  # (channels, samples) -> (samples, channels)
        elif wav.ndim != 2:
            raise ReferenceAudioError(f"reference array must be 1-D or 2-D, got {wav.shape}")
        return wav, int(sr), "<array>"
    raise ReferenceAudioError(f"unsupported reference type {type(ref).__name__}")


def trim_silence(wav: np.ndarray, fs: int, top_db: float = 40.0) -> np.ndarray:
    """Cut leading and trailing parts quieter than ``top_db`` below the peak.

    ``librosa.effects.trim(wav, top_db=top_db, frame_length=1024, hop_length=256)``: frame
    RMS of the zero-padded, centred signal, in dB against the loudest frame. The same numpy
    operations are done here because ``librosa.effects`` imports scikit-learn, about half a
    second of the command line's cold start (``tests/test_shared_utilities.py`` checks that
    the cut is librosa's).
    """
    frame_length, hop_length = 1024, 256
    padded = np.pad(wav, frame_length // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length].T
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=-2))
    amin = 1e-5 ** 2
    db = 10.0 * np.log10(np.maximum(amin, np.square(rms)))
    db -= 10.0 * np.log10(np.maximum(amin, np.max(rms) ** 2))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return wav
    start = int(loud[0]) * hop_length
    end = min(len(wav), (int(loud[-1]) + 1) * hop_length)
    return wav[start:end]


def load_reference(
    ref: AudioInput,
    fs: int,
    sr: Optional[int] = None,
    min_seconds: float = MIN_REFERENCE_SECONDS,
    max_seconds: float = MAX_REFERENCE_SECONDS,
) -> np.ndarray:
    """Load a reference clip for cloning.

    Args:
        ref: A path, a waveform array (with ``sr``) or a ``(waveform, sr)`` tuple.
            Arrays may be (samples,), (samples, channels) or (channels, samples).
        fs (int): The model's sample rate.
        sr (Optional[int]): Sample rate of an array input.
        min_seconds (float): Shortest accepted length after trimming silence.
        max_seconds (float): Longer clips are cut to this length.

    Returns:
        np.ndarray: Mono float32 waveform at ``fs`` (T_wav,).

    Raises:
        ReferenceAudioError: missing/corrupt file, no sample rate, NaN/Inf samples,
            silence, or too short after trimming.
    """
    wav, sr_in, name = _read(ref, sr)
    if sr_in <= 0:
        raise ReferenceAudioError(f"reference audio {name}: invalid sample rate {sr_in}")
    if wav.size == 0:
        raise ReferenceAudioError(f"reference audio {name}: contains no samples")
    if not np.isfinite(wav).all():
        raise ReferenceAudioError(f"reference audio {name}: contains NaN or Inf samples")
    wav = wav.mean(axis=1)
    if np.abs(wav).max() < SILENCE_PEAK:
        raise ReferenceAudioError(f"reference audio {name}: is silent (peak below -60 dBFS)")
    wav = trim_silence(resample(wav, sr_in, fs), fs)
    seconds = len(wav) / fs
    if seconds < min_seconds:
        raise ReferenceAudioError(
            f"reference audio {name}: too short ({seconds:.2f} s of sound after trimming "
            f"silence; at least {min_seconds:.2f} s needed)"
        )
    if seconds > max_seconds:
        logging.warning(
            "reference audio %s: %.1f s long, using its first %.1f s", name, seconds, max_seconds
        )
        wav = wav[: int(max_seconds * fs)]
    return wav.astype(np.float32)

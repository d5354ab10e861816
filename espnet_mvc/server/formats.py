"""Audio encodings of the speech server: ``wav``, ``pcm`` and ``flac`` (mono, 16-bit).

``pcm`` is raw signed 16-bit little-endian samples at the model's rate (OpenAI's ``pcm`` is
the same at 24 kHz, the rate of the shipped model). A streamed ``wav`` starts with a header
whose sizes say "unknown length" (0xFFFFFFFF), as streaming TTS servers send it; readers
such as libsndfile and Python's ``wave`` then read up to the end of the data.
"""

from __future__ import annotations

import io
import struct

import numpy as np

FORMATS = ("wav", "pcm", "flac")
STREAMABLE = ("wav", "pcm")  # a FLAC header must hold the total length: not streamable

_UNKNOWN = 0xFFFFFFFF


def media_type(fmt: str, fs: int) -> str:
    return {
        "wav": "audio/wav",
        "pcm": f"audio/L16; rate={fs}; channels=1",
        "flac": "audio/flac",
    }[fmt]


def pcm16(wav: np.ndarray) -> bytes:
    """float waveform in [-1, 1] -> little-endian int16 bytes (clipped, rounded)."""
    x = np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0) * 32767.0
    return np.round(x).astype("<i2").tobytes()


def wav_header(fs: int, n_samples: int = -1) -> bytes:
    """A 44-byte PCM16 mono WAV header; ``n_samples < 0``: unknown length (streaming)."""
    if n_samples < 0:
        data, riff = _UNKNOWN - 36, _UNKNOWN
    else:
        data = 2 * n_samples
        riff = 36 + data
    return (
        b"RIFF" + struct.pack("<I", riff) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, fs, 2 * fs, 2, 16)
        + b"data" + struct.pack("<I", data)
    )


def encode(wav: np.ndarray, fs: int, fmt: str) -> bytes:
    """A whole utterance in ``fmt``."""
    if fmt == "pcm":
        return pcm16(wav)
    if fmt == "wav":
        return wav_header(fs, len(wav)) + pcm16(wav)
    if fmt == "flac":
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0), fs,
                 subtype="PCM_16", format="FLAC")
        return buf.getvalue()
    raise ValueError(f"unknown audio format {fmt!r}; known: {', '.join(FORMATS)}")

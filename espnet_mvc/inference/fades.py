"""Fades of synthesized audio, for every runtime (PyTorch's and ONNX's alike).

* Long-form synthesis fades every phrase in and out over :data:`FADE_SECONDS`, so that no
  seam between phrases clicks: :func:`fade_ramp` and :func:`faded` on a whole phrase,
  :func:`faded_chunks` on a phrase that is streamed chunk by chunk.
* The streamer crossfades the seams of its vocoder windows (:func:`crossfade_ramps`).

This module imports neither torch nor ESPnet.
"""

from typing import Iterable, Iterator, Tuple

import numpy as np

# Phrases are faded in and out over this long, so that no seam between them clicks.
FADE_SECONDS = 0.005


def fade_ramp(fs: int) -> np.ndarray:
    """The fade-in ramp (float32, :data:`FADE_SECONDS` long at ``fs``); reversed, the fade-out."""
    return np.linspace(0.0, 1.0, int(FADE_SECONDS * fs), dtype=np.float32)


def faded(wav: np.ndarray, fade: np.ndarray) -> np.ndarray:
    """A copy of one phrase's waveform faded in and out with ``fade`` (:func:`fade_ramp`);
    a phrase shorter than two ramps is faded over half its length at each end."""
    wav = np.array(wav, dtype=np.float32, copy=True).reshape(-1)
    n = min(len(fade), len(wav) // 2)
    if n:
        wav[:n] *= fade[:n]
        wav[-n:] *= fade[:n][::-1]
    return wav


def faded_chunks(chunks: Iterable[np.ndarray], fade: np.ndarray,
                 gap: np.ndarray) -> Iterator[np.ndarray]:
    """One phrase's streamed chunks with :func:`faded`'s fades, as they come.

    The first ``len(fade)`` samples are faded in as they come; the last ``len(fade)`` are
    held back until the phrase ends (the end is only known then), faded out and sent with
    ``gap`` (the pause after the phrase). Phrases are never shorter than one mel frame
    (> 10 ms), so the fades do not overlap as they may in :func:`faded`'s rule.
    """
    nf = len(fade)
    held = np.zeros(0, dtype=np.float32)
    seen = 0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1).copy()
        if seen < nf:
            k = min(nf - seen, len(chunk))
            chunk[:k] *= fade[seen : seen + k]
        seen += len(chunk)
        buf = np.concatenate([held, chunk])
        if len(buf) > nf:
            yield buf[:-nf]
            held = buf[-nf:]
        else:
            held = buf
    held = held.copy()
    n = min(nf, seen // 2, len(held))
    if n:
        held[-n:] *= fade[:n][::-1]
    yield np.concatenate([held, gap])


def crossfade_ramps(n: int, kind: str) -> Tuple[np.ndarray, np.ndarray]:
    """(fade_in, fade_out) of ``n`` samples for a crossfaded seam: ``linear`` ramps sum to 1,
    ``equal_power`` ramps' squares do."""
    ramp = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    if kind == "linear":
        fin = ramp
        fout = 1.0 - ramp
    elif kind == "equal_power":
        fin = np.sin(0.5 * np.pi * ramp)
        fout = np.cos(0.5 * np.pi * ramp)
    else:
        raise ValueError(f"crossfade must be 'linear' or 'equal_power', got {kind!r}")
    return fin.astype(np.float32), fout.astype(np.float32)

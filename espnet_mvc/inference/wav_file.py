"""Writing long audio to a file without leaving a broken one behind (every runtime's).

Long-form synthesis appends audio to its output file phrase by phrase, so that memory does
not grow with the text. If a phrase fails half way (a reference that cannot be read, an
interrupt, a full disk), the user must not be left with a truncated file under the name they
asked for, nor lose a file that was there before: the audio goes to a hidden file beside the
target, which replaces the target only once the last phrase is written.

This module imports neither torch nor ESPnet.
"""

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union


def partial_path(out_path: Union[str, Path]) -> Path:
    """The hidden file that :func:`atomic_wav_writer` fills for ``out_path`` (same folder,
    same suffix, so that the audio format is the target's)."""
    out = Path(out_path)
    return out.with_name(f".{out.stem}.partial{out.suffix}")


@contextmanager
def atomic_wav_writer(out_path: Union[str, Path], fs: int) -> Iterator["object"]:
    """A mono 16-bit ``soundfile.SoundFile`` whose audio appears at ``out_path`` only when
    the ``with`` block completes; on any exception the partial file is removed and
    ``out_path`` is left as it was.

    Args:
        out_path: The audio file to write (format from its suffix, as ``soundfile`` infers it).
        fs (int): Sample rate.

    Yields:
        soundfile.SoundFile: Open for writing (``write(samples)``).
    """
    import soundfile as sf

    out, tmp = Path(out_path), partial_path(out_path)
    writer = sf.SoundFile(str(tmp), "w", fs, 1, "PCM_16")
    try:
        yield writer
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(tmp, out)  # atomic on one file system: the target is whole or untouched

"""Named voices of the speech server: checked reference clips kept in a directory.

A voice is stored as ``<dir>/<name>.flac``: the clip as
:func:`espnet_mvc.inference.reference_audio.load_reference` returns it (mono, at the model's
rate, silence trimmed), 24-bit. Files are written to a
temporary file in the same directory and moved into place with ``os.replace``, so a crash
or a concurrent upload never leaves a half-written voice, and voices survive restarts.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import soundfile as sf

# one rule for names: the built-in voices'
from espnet_mvc.inference.builtin_voices import NAME_RE, check_name  # noqa: F401

log = logging.getLogger("espnet_mvc.server")

SUFFIX = ".flac"


def default_voices_dir() -> Path:
    """``$ESPNET_MVC_CACHE/voices`` (default ``~/.cache/espnet_mvc/voices``), where model
    archives are unpacked too."""
    root = Path(os.environ.get("ESPNET_MVC_CACHE", Path.home() / ".cache/espnet_mvc"))
    return root / "voices"


class VoiceStore:
    """Voices in memory, backed by a directory.

    Args:
        directory (Path): Where voices are kept (created if missing).
        fs (int): The model's sample rate (stored clips are at this rate).
    """

    def __init__(self, directory: Path, fs: int):
        self.dir = Path(directory)
        self.fs = int(fs)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._voices: Dict[str, np.ndarray] = {}

    def load_all(self) -> int:
        """Read every stored voice; unreadable files are skipped with a warning."""
        for path in sorted(self.dir.glob("*" + SUFFIX)):
            name = path.name[: -len(SUFFIX)]
            if not NAME_RE.match(name):
                continue  # a temporary file or a stranger
            try:
                self._voices[name] = self._read(path)
            except Exception as e:  # a damaged file must not stop the server
                log.warning("voice %s: cannot read %s (%s); skipped", name, path, e)
        return len(self._voices)

    def _read(self, path: Path) -> np.ndarray:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
        if sr != self.fs:
            # a voice dir shared with another model
            from espnet_mvc.inference.reference_audio import resample

            return resample(wav.mean(axis=1), sr, self.fs)
        return wav.mean(axis=1)

    def get(self, name: str) -> Optional[np.ndarray]:
        return self._voices.get(name)

    def names(self) -> List[str]:
        return sorted(self._voices)

    def __contains__(self, name: str) -> bool:
        return name in self._voices

    def __len__(self) -> int:
        return len(self._voices)

    def write(self, name: str, wav: np.ndarray) -> np.ndarray:
        """Store a checked clip atomically; returns it as it will be read back.

        Thread-safe against other writes (each uses its own temporary file); call
        :meth:`put` on the event loop afterwards to make it visible.
        """
        check_name(name)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as f:
                sf.write(f, np.asarray(wav, dtype=np.float32), self.fs, subtype="PCM_24",
                         format="FLAC")
                f.flush()
                os.fsync(f.fileno())
            stored = self._read(Path(tmp))  # what a restart will load
            os.replace(tmp, self.dir / (name + SUFFIX))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return stored

    def put(self, name: str, wav: np.ndarray) -> None:
        self._voices[name] = wav

    def delete(self, name: str) -> bool:
        """Remove a voice; False if there is none of that name."""
        if name not in self._voices:
            return False
        (self.dir / (name + SUFFIX)).unlink(missing_ok=True)
        del self._voices[name]
        return True

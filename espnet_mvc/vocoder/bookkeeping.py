"""The training run's bookkeeping: files written atomically, the log, stopping on a signal."""

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Dict, Optional

import torch


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(text: str, path: Path) -> None:
    """Write ``text`` to a temporary file, then rename (see :func:`atomic_save`)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class TrainLog:
    """Lines to stdout and appended to ``train.log``."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        print(line, flush=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class StopOnSignal:
    """SIGTERM / SIGINT set ``signum`` (the loop stops after the step in progress) and
    restore the previous handler, so that a second signal acts at once."""

    def __init__(self):
        self.signum: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def _handler(self, signum, frame):
        self.signum = signum
        signal.signal(signum, self._previous[signum])

    def _install(self, signum: int) -> None:
        previous = signal.signal(signum, self._handler)
        # None: a handler not set from Python; the default is the closest to restore
        self._previous[signum] = signal.SIG_DFL if previous is None else previous

    def __enter__(self):
        with contextlib.suppress(ValueError):  # not the main thread: no handlers
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._install(signum)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

"""CPU seconds of an ESPnet training run, per epoch and across resumes.

The head-to-head compares systems at an equal training budget counted in CPU seconds of the
training process (``time.process_time``: every thread of the process), not in wall time, so
that runs sharing cores, or stopped and resumed, are charged only for the work they did.

While ``espnet_mvc.espnet.tts_train`` (either task) trains (not ``--collect_stats``), a
daemon thread watches ``<output_dir>/latest.pth``, the link ESPnet's trainer points at
``<N>epoch.pth`` right after it has saved epoch ``N``'s ``checkpoint.pth``, and writes the
cumulative CPU seconds at that moment into ``<output_dir>/cpu_seconds.json``::

    {"epochs": {"1": 412.3, "2": 801.9, ...}, "runs": [{"start_epoch": 0, ...}, ...]}

A resumed run (ESPnet resumes from ``checkpoint.pth``, i.e. the latest epoch) starts its count
from that epoch's entry: CPU spent after the last checkpoint by an interrupted run is not
counted, as its work was lost too. A run resumed from an epoch the ledger lacks (trained
before the ledger existed) records ``null`` from then on rather than a wrong figure.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Dict, Optional

LEDGER_FILE = "cpu_seconds.json"
POLL_SECONDS = 1.0
_EPOCH_FILE = re.compile(r"^(\d+)epoch\.pth$")


def latest_epoch(output_dir: Path) -> int:
    """The epoch ``latest.pth`` points at (0 when there is none)."""
    link = output_dir / "latest.pth"
    try:
        m = _EPOCH_FILE.match(os.readlink(link))
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def read_ledger(output_dir: Path) -> Dict:
    """The ledger of ``output_dir`` (an empty one when there is none)."""
    path = Path(output_dir) / LEDGER_FILE
    if not path.exists():
        return {"epochs": {}, "runs": []}
    with open(path, encoding="utf-8") as f:
        ledger = json.load(f)
    if not isinstance(ledger.get("epochs"), dict):
        raise ValueError(f"{path}: not a CPU ledger (no 'epochs' object)")
    return ledger


def epoch_cpu_seconds(output_dir: Path) -> Dict[int, Optional[float]]:
    """Cumulative training CPU seconds at the end of each epoch, by epoch number."""
    return {int(k): v for k, v in read_ledger(Path(output_dir))["epochs"].items()}


def _write(output_dir: Path, ledger: Dict) -> None:
    path = output_dir / LEDGER_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class CpuLedger:
    """Record per-epoch cumulative CPU seconds of this process's training into the ledger.

    Args:
        output_dir: ESPnet's ``--output_dir``.
        poll_seconds: How often ``latest.pth`` is looked at.
    """

    def __init__(self, output_dir, poll_seconds: float = POLL_SECONDS):
        self.output_dir = Path(output_dir)
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "CpuLedger":
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._cpu0 = time.process_time()
        self.ledger = read_ledger(self.output_dir)
        self._epoch = latest_epoch(self.output_dir)
        self._base = 0.0 if self._epoch == 0 else self.ledger["epochs"].get(str(self._epoch))
        self.ledger["runs"].append(
            dict(start_epoch=self._epoch, started=time.strftime("%Y-%m-%dT%H:%M:%S"),
                 pid=os.getpid())
        )
        _write(self.output_dir, self.ledger)
        self._thread = threading.Thread(target=self._watch, name="cpu-ledger", daemon=True)
        self._thread.start()
        return self

    def record(self) -> None:
        """Record the epoch ``latest.pth`` points at, if it is a new one."""
        epoch = latest_epoch(self.output_dir)
        if epoch <= self._epoch:
            return
        used = time.process_time() - self._cpu0
        self.ledger["epochs"][str(epoch)] = (
            None if self._base is None else round(self._base + used, 3)
        )
        self._epoch = epoch
        _write(self.output_dir, self.ledger)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.record()

    def stop(self) -> None:
        """Stop watching (after recording an epoch saved since the last poll)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.record()

    def __enter__(self) -> "CpuLedger":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def ledger_for(argv) -> Optional[CpuLedger]:
    """A :class:`CpuLedger` for an ESPnet training command line, or None (stats collection,
    or no ``--output_dir``)."""
    import argparse

    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--output_dir", default=None)
    p.add_argument("--collect_stats", default="false")
    known, _ = p.parse_known_args(argv)
    if known.output_dir is None or str(known.collect_stats).lower() in ("true", "1", "yes"):
        return None
    return CpuLedger(known.output_dir)

"""The per-epoch CPU-seconds ledger of training runs (:mod:`espnet_mvc.espnet.cpu_ledger`).

ESPnet's trainer is imitated by what the ledger watches: ``<N>epoch.pth`` files and the
``latest.pth`` link to the newest. A real ESPnet run, interrupted and resumed, is covered
in ``test_mvc_checkpoints.py``.
"""

import json
import os
import time

import pytest

from espnet_mvc.espnet.cpu_ledger import (LEDGER_FILE, CpuLedger, epoch_cpu_seconds, latest_epoch,
                                   ledger_for, read_ledger)


def _save_epoch(out, epoch):
    (out / f"{epoch}epoch.pth").write_bytes(b"weights")
    link = out / "latest.pth"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(f"{epoch}epoch.pth")


def _burn(seconds):
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        sum(i * i for i in range(1000))


def test_epochs_get_cumulative_cpu_seconds_across_resumes(tmp_path):
    with CpuLedger(tmp_path, poll_seconds=0.01) as ledger:
        _burn(0.05)
        _save_epoch(tmp_path, 1)
        ledger.record()
        _burn(0.05)
        _save_epoch(tmp_path, 2)
    first = epoch_cpu_seconds(tmp_path)
    assert sorted(first) == [1, 2]
    assert 0.05 <= first[1] < first[2] and first[2] - first[1] >= 0.05
    # an interrupted process: CPU spent after epoch 2's checkpoint is not counted
    with CpuLedger(tmp_path, poll_seconds=0.01):
        assert latest_epoch(tmp_path) == 2
        _burn(0.05)
        _save_epoch(tmp_path, 3)
    cpu = epoch_cpu_seconds(tmp_path)
    assert cpu[1] == first[1] and cpu[2] == first[2]
    assert cpu[3] - cpu[2] >= 0.05
    runs = read_ledger(tmp_path)["runs"]
    assert [r["start_epoch"] for r in runs] == [0, 2] and runs[0]["pid"] == os.getpid()


def test_an_epoch_seen_once_is_not_recorded_again(tmp_path):
    with CpuLedger(tmp_path, poll_seconds=0.01) as ledger:
        _save_epoch(tmp_path, 1)
        ledger.record()
        before = epoch_cpu_seconds(tmp_path)[1]
        _burn(0.03)
        ledger.record()
    assert epoch_cpu_seconds(tmp_path)[1] == before


def test_resume_from_an_epoch_the_ledger_lacks_records_unknown(tmp_path):
    _save_epoch(tmp_path, 4)  # trained before the ledger existed
    with CpuLedger(tmp_path, poll_seconds=0.01):
        _save_epoch(tmp_path, 5)
    assert epoch_cpu_seconds(tmp_path) == {5: None}


def test_not_a_ledger_is_an_error(tmp_path):
    (tmp_path / LEDGER_FILE).write_text(json.dumps({"steps": [1]}))
    with pytest.raises(ValueError, match="not a CPU ledger"):
        read_ledger(tmp_path)


def test_ledger_only_for_training_runs(tmp_path):
    assert ledger_for(["--collect_stats", "true", "--output_dir", str(tmp_path)]) is None
    assert ledger_for(["--config", "x.yaml"]) is None
    ledger = ledger_for(["--output_dir", str(tmp_path), "--collect_stats", "false"])
    assert isinstance(ledger, CpuLedger) and ledger.output_dir == tmp_path

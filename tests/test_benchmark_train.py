"""The training-throughput benchmark: its batch follows the recipe's numel batching, and its
output format (not its timings) on a tiny model."""

import re

from espnet_mvc.benchmarks import training_throughput as train
from espnet_mvc.bin import benchmark

NUM = r"[0-9]+(?:\.[0-9]+)?"


def test_recipe_batch_fills_batch_bins():
    conf = train.read_config(train.RECIPE_CONF)
    bins = int(conf["batch_bins"])
    lengths = train.batch_lengths(bins)
    total = sum(s + t for s, t in lengths)
    assert total <= bins < total + train.MEAN_SAMPLES * 1.2
    assert 7 <= len(lengths) <= 10  # the recipe's log: mean 8.6 utterances per batch
    batch = train.make_batch(lengths)
    assert (batch["durations"].sum(1) == batch["feats_lengths"]).all()
    assert (batch["durations"][batch["text"] > 0] >= 1).all()


def test_train_benchmark_tiny_output_format(capsys):
    rc = benchmark.main(["train", "--tiny", "--rounds", "1", "--threads", "1"])
    assert rc == 0
    # (ESPnet's own import-time notices may come first)
    lines = [ln for ln in capsys.readouterr().out.splitlines()
             if ln.startswith(("#", "  ", "train_"))]
    assert lines[0].startswith("# machine: ")
    assert lines[1].startswith("# cpu_capability: ") and "scan kernel " in lines[1]
    assert any(ln.startswith("# batch: numel batch_bins ") for ln in lines)
    assert any(ln.startswith("# round 1: ") and "load " in ln for ln in lines)
    keys = [ln.split(": ")[0] for ln in lines if ln.startswith("train_")]
    assert keys[0] == "train_seconds_per_step_1thread"
    for ln in lines:
        if ln.startswith("train_"):
            assert re.fullmatch(rf"train_[a-z0-9_]+: {NUM}", ln), ln
    if "train_seconds_per_step_1thread_generic" in keys:  # a CPU with a SIMD path
        assert keys[-1] == "train_speedup_vs_generic_1thread"

"""The head-to-head driver's budget arithmetic and report (egs2/kokoro_en/tts1/local/
head_to_head.py), on fake experiment dirs shaped as ESPnet and the scorer leave them."""

import argparse
import importlib.util
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from conftest import REPO_ROOT

from espnet_mvc.espnet.cpu_ledger import LEDGER_FILE

RECIPE = REPO_ROOT / "egs2" / "kokoro_en" / "tts1"
spec = importlib.util.spec_from_file_location("head_to_head", RECIPE / "local" / "head_to_head.py")
h2h = importlib.util.module_from_spec(spec)
spec.loader.exec_module(h2h)

# an ESPnet epoch-results line (MVC's, from a real run)
RESULTS_LINE = (
    "[vm] 2026-11-29 08:43:56,568 (trainer:394) INFO: {e}epoch results: [train] "
    "iter_time=0.040, loss=0.242, train_time=1.923, time=3 minutes and 12.35 seconds, "
    "total_count=6700, [valid] prior_loss=0.041, loss={v}, time=1.28 seconds, "
    "total_count=201")


def _ledger(exp, cpu):
    exp.mkdir(parents=True, exist_ok=True)
    (exp / LEDGER_FILE).write_text(json.dumps(
        {"epochs": {str(e): v for e, v in cpu.items()}, "runs": []}))


def test_next_max_epoch_calibrates_then_spends_the_budget(tmp_path):
    exp = tmp_path / "exp"
    assert h2h.next_max_epoch(exp, 1000) == h2h.CALIBRATION_EPOCHS
    _ledger(exp, {1: 110.0, 2: 200.0})
    # 100 CPU s per epoch so far: 800 s left hold 8 more epochs; a round trains half of them
    assert h2h.next_max_epoch(exp, 1000) == 6
    assert h2h.next_max_epoch(exp, 430) == 4  # 2 more fit: both
    assert h2h.next_max_epoch(exp, 299) == 0  # not one more: spent, none trained unscored
    _ledger(exp, {1: 110.0, 2: 200.0, 3: 1001.0})
    assert h2h.next_max_epoch(exp, 1000) == 0


def test_next_max_epoch_plans_at_the_latest_rate_when_it_is_slower(tmp_path):
    # a loaded machine: the last epoch cost 300 CPU s, against a mean of 150
    exp = tmp_path / "exp"
    _ledger(exp, {1: 100.0, 2: 200.0, 3: 300.0, 4: 600.0})
    assert h2h.next_max_epoch(exp, 1500) == 6  # 900 s left hold 3 epochs at 300: 2 of them
    assert h2h.next_max_epoch(exp, 850) == 0  # 250 s left: not one epoch at 300
    # the session's runs this replaces: mvc_seed2 calibrated at 127 CPU s per epoch, was
    # sent to epoch 8, and scored at epoch 6 (883 s of 900) as its epochs slowed to 156
    _ledger(exp, {1: 126.0, 2: 254.0})
    assert h2h.next_max_epoch(exp, 900) == 5  # 5 fit at 128: 3 now, then measure again
    _ledger(exp, {1: 126.0, 2: 254.0, 3: 410.0, 4: 574.0, 5: 726.0})
    assert h2h.next_max_epoch(exp, 900) == 6  # 174 s left, 164 per epoch: one more
    _ledger(exp, {1: 126.0, 2: 254.0, 3: 410.0, 4: 574.0, 5: 726.0, 6: 883.0})
    assert h2h.next_max_epoch(exp, 900) == 0


def test_epoch_at_is_the_last_epoch_within_the_budget(tmp_path):
    exp = tmp_path / "exp"
    _ledger(exp, {1: 110.0, 2: 200.0, 3: 310.0})
    assert h2h.epoch_at(exp, 309.9) == 2
    assert h2h.epoch_at(exp, 310.0) == 3
    assert h2h.epoch_at(exp, 100.0) is None
    assert h2h.main(["epoch-at", str(exp), "620", "--fraction", "0.5"]) == 0
    with pytest.raises(SystemExit, match="no epoch ends within 50 CPU s"):
        h2h.main(["epoch-at", str(exp), "100", "--fraction", "0.5"])


def test_an_epoch_without_a_cpu_count_is_refused(tmp_path):
    exp = tmp_path / "exp"
    _ledger(exp, {5: None})
    with pytest.raises(SystemExit, match=r"no CPU count for epochs \[5\]"):
        h2h.next_max_epoch(exp, 1000)


def test_valid_curve_reads_the_last_line_of_each_epoch(tmp_path):
    (tmp_path / "train.log").write_text("\n".join([
        RESULTS_LINE.format(e=1, v=0.9), "noise", RESULTS_LINE.format(e=2, v=0.7),
        RESULTS_LINE.format(e=2, v=0.6)]) + "\n")
    curve = h2h.valid_curve(tmp_path)
    assert sorted(curve) == [1, 2]
    assert curve[1]["loss"] == 0.9 and curve[2]["loss"] == 0.6 and curve[2]["prior_loss"] == 0.041


def _fake_system(h2h_dir, system, budget, points, dumpdir, params, wer=None):
    exp = h2h_dir / system / f"tts_train_{system}_raw_phn_kokoro_en"
    exp.mkdir(parents=True)
    (h2h_dir / system / "tts_stats_raw_fbank_phn_none_kokoro_en").mkdir()
    (exp / "config.yaml").write_text(yaml.safe_dump({
        "num_iters_per_epoch": 50, "feats_extract": "fbank", "feats_extract_conf": dict(
            fs=24000, n_fft=1024, hop_length=300, win_length=1024, fmin=0, fmax=12000,
            n_mels=80)}))
    cpu = {e: 100.0 * e for e in range(1, 11)}
    _ledger(exp, cpu)
    (exp / "train.log").write_text("\n".join(
        RESULTS_LINE.format(e=e, v=1.0 / e) for e in cpu).replace(
            "loss=", f"{h2h.VALID_LOSS_KEY[h2h.variant_of(system)[0]]}=") + "\n")
    for e in cpu:
        state = {"tts.generator.w": torch.zeros(params), "tts.discriminator.w": torch.zeros(7),
                 "tts.aligner.w": torch.zeros(5), "normalize.mean": torch.zeros(80)}
        torch.save(state, exp / f"{e}epoch.pth")
    wav = np.sin(2 * np.pi * 220 * np.arange(24000) / 24000).astype(np.float32) * 0.3
    for p in points:
        dec = exp / h2h.decode_tag(budget, p)
        sets = ["test"] + (["test_zeroshot"] if system.startswith("mvc") else [])
        for dset in sets:
            (dec / dset / "scores").mkdir(parents=True)
            metrics = {k: {"mean": float(i) + p} for i, k in enumerate(h2h.METRICS)
                       if k != "cpu_rtf"}
            metrics["rtf"]["cpu_rtf"] = 0.25 * p  # stage 9 puts it under rtf
            if wer is not None:
                metrics["wer"]["mean"] = wer + p
            (dec / dset / "scores" / "summary.json").write_text(json.dumps({"metrics": metrics}))
            (dec / dset / "wav").mkdir()
            sf.write(dec / dset / "wav" / "a_ts0000.wav", wav, 24000)
    return exp


def test_report_writes_the_json_tables_and_figures(tmp_path):
    dumpdir = tmp_path / "dump"
    (dumpdir / "raw" / "test").mkdir(parents=True)
    rec = np.random.default_rng(0).standard_normal(24000).astype(np.float32) * 0.1
    sf.write(dumpdir / "raw" / "test" / "a_ts0000.wav", rec, 24000)
    (dumpdir / "raw" / "test" / "wav.scp").write_text(
        f"a_ts0000 {dumpdir / 'raw' / 'test' / 'a_ts0000.wav'}\n")
    budget, points = 800.0, [0.5, 1.0]
    h2h_dir = tmp_path / "exp_h2h"
    vocoder = tmp_path / "vocoder.pth"
    torch.save({"w": torch.zeros(11)}, vocoder)
    vocoder.with_suffix(".yaml").write_text(yaml.safe_dump({"train": {"cpu_seconds": 4900.6}}))
    for system, params in (("mvc", 30), ("vits", 20), ("mvc_aligner", 30)):
        _fake_system(h2h_dir, system, budget, points, dumpdir, params)
    results = tmp_path / "results"
    h2h.main(["report", "--h2h-dir", str(h2h_dir), "--systems", "mvc", "vits", "mvc_aligner",
              "--budget",
              str(budget), "--points", "0.5", "1", "--dumpdir", str(dumpdir),
              "--results-dir", str(results), "--results-md", str(tmp_path / "RESULTS.md"),
              "--vocoder-file", str(vocoder)])
    res = json.loads((results / "head_to_head.json").read_text())
    mvc, vits = res["systems"]["mvc"], res["systems"]["vits"]
    assert res["ablation_points"] == [0.5, 1.0]  # no --ablation-points: the main points
    # the last epoch within 400 and 800 CPU s, at 50 steps an epoch
    assert mvc["points"]["0.5"]["epoch"] == 4 and mvc["points"]["1"]["epoch"] == 8
    assert mvc["points"]["1"]["steps"] == 400 and mvc["points"]["1"]["train_cpu_seconds"] == 800
    # inference parameters: generator only (no discriminator, aligner or buffers); + vocoder
    assert mvc["points"]["1"]["parameters"] == {"acoustic": 30, "vocoder": 11, "total": 41}
    assert vits["points"]["1"]["parameters"]["total"] == 20
    assert mvc["points"]["1"]["sets"]["test"]["wer"] == 1.0  # index 0 + point 1
    assert mvc["points"]["0.5"]["sets"]["test"]["rtf"] == list(h2h.METRICS).index("rtf") + 0.5
    assert mvc["points"]["0.5"]["sets"]["test"]["cpu_rtf"] == 0.125
    assert vits["points"]["1"]["sets"]["test_zeroshot"].startswith("n/a: ESPnet VITS")
    assert [c["valid_loss"] for c in vits["curve"]][:2] == [1.0, 0.5]
    assert math.isclose(mvc["curve"][-1]["cpu_seconds"], 1000.0)
    md = (tmp_path / "RESULTS.md").read_text()
    assert "| VITS | 0.222222 h | 8 | 400 | 800 |" in md
    # MVC without the teacher's durations is a main system, with its own zero-shot row
    assert md.count("| MVC, own aligner (no teacher durations) | 0.222222 h | 8 | 400 | 800 |") == 2
    assert "n/a: ESPnet VITS or JETS picks a voice by speaker id" in md  # once, not per row
    assert md.count("picks a voice by speaker id") == 1
    assert "n/a: n/a" not in md
    assert ('Reproduce: `local/head_to_head.sh --budget 800 --points 0.5 1 --systems '
            '"mvc vits mvc_aligner"`') in md
    assert mvc["vocoder_train_cpu_seconds"] == 4900.6 and "(its CPU seconds: 4901)" in md
    assert "![training_curves.png](results/training_curves.png)" in md
    for png in ("training_curves.png", "mel_spectrograms.png"):
        assert (results / png).read_bytes()[:4] == b"\x89PNG"


def test_ablation_table_ranks_variants_against_their_seed_spread(tmp_path):
    dumpdir = tmp_path / "dump"
    (dumpdir / "raw" / "test").mkdir(parents=True)
    sf.write(dumpdir / "raw" / "test" / "a_ts0000.wav", np.zeros(24000, np.float32) + 0.01, 24000)
    (dumpdir / "raw" / "test" / "wav.scp").write_text(
        f"a_ts0000 {dumpdir / 'raw' / 'test' / 'a_ts0000.wav'}\n")
    h2h_dir, budget = tmp_path / "exp_h2h", 800.0
    wers = {"mvc": 10.0, "mvc_seed1": 12.0, "mvc_concat": 20.0, "mvc_concat_seed1": 24.0,
            "mvc_depth2": 11.0, "mvc_depth2_seed1": 13.0}
    # the ablations at half the budget; MVC, their baseline, at the head to head's point too
    for system, wer in wers.items():
        points = [0.5, 1.0] if system == "mvc" else [0.5]
        _fake_system(h2h_dir, system, budget, points, dumpdir, 10, wer=wer)
    torch.save({"w": torch.zeros(1)}, tmp_path / "voc.pth")
    res = h2h.report(argparse.Namespace(
        h2h_dir=h2h_dir, systems=list(wers), budget=budget, points=[1.0],
        ablation_points=[0.5], dumpdir=dumpdir, results_dir=tmp_path / "results",
        results_md=tmp_path / "RESULTS.md", vocoder_file=tmp_path / "voc.pth"))
    assert res["systems"]["mvc_concat_seed1"]["seed"] == 1
    assert res["systems"]["mvc_concat_seed1"]["variant"] == "mvc_concat"
    assert sorted(res["systems"]["mvc"]["points"]) == ["0.5", "1"]
    assert sorted(res["systems"]["mvc_concat_seed1"]["points"]) == ["0.5"]
    assert res["ablation_points"] == [0.5]
    md = (tmp_path / "RESULTS.md").read_text()
    # WER at point 0.5 = wer + 0.5: gated 10.5 and 12.5, concat 20.5 and 24.5, depth 2 11.5
    # and 13.5
    # the steps each seed was scored at (epoch 4 of 50 steps within 400 CPU s), then WER
    assert ("| MVC concat, no AdaLN, depth 4/2/2 | 0.111111 h | 0, 1 | 0.00 | 200 [200, 200] "
            "| 22.5 [20.5, 24.5] |") in md
    assert ("- MVC gated + AdaLN, depth 2 per stack (12.5 %) vs MVC concat, no AdaLN, depth "
            "4/2/2 (22.5 %), seen-voice WER: the seeds' ranges do not overlap") in md
    assert ("- MVC gated + AdaLN, depth 4/2/2 (11.5 %) vs MVC gated + AdaLN, depth 2 per stack "
            "(12.5 %), seen-voice WER: the seeds' ranges overlap: not shown to differ") in md
    # the paper's fusion question is answered even where the ranking does not pair them
    paper = md.split("The paper's questions (the same pairs whatever their rank):")[1]
    assert paper.split("## ")[0].strip().splitlines()[0] == (
        "- MVC gated + AdaLN, depth 4/2/2 (11.5 %) vs MVC concat, no AdaLN, depth 4/2/2 "
        "(22.5 %), seen-voice WER: the seeds' ranges do not overlap (for two equal variants "
        "with 2 and 2 seeds that happens by chance 33% of the time)")
    assert "depth 4 per stack" not in paper  # no depth-4 runs here: no depth question
    # two seeds each: equal variants miss each other 1 time in 3 (2 * 2! 2! / 4!)
    assert "(for two equal variants with 2 and 2 seeds that happens by chance 33% of the time)" in md
    assert math.isclose(h2h.disjoint_chance(3, 3), 0.1) and h2h.disjoint_chance(1, 1) == 1.0
    # every run has the same validation curve here: no difference shown
    assert md.count("validation loss: the seeds' ranges overlap: not shown to differ") == 3
    # the main tables hold the main systems at the main points only
    assert "| MVC concat, no AdaLN, depth 4/2/2, seed 1 |" not in md
    assert "| MVC | 0.222222 h | 8 |" in md and "| MVC | 0.111111 h |" not in md
    assert "--budget 800 --points 1 --ablation_points 0.5 --systems" in md


def test_the_ablation_points_default_to_the_main_points():
    assert h2h.system_points("mvc_depth2", [0.5, 1.0], [0.25]) == [0.25]
    assert h2h.system_points("mvc", [0.5, 1.0], [0.25]) == [0.25, 0.5, 1.0]
    assert h2h.system_points("vits", [0.5, 1.0], [0.25]) == [0.5, 1.0]
    assert h2h.system_points("mvc_aligner", [0.5, 1.0], [0.25]) == [0.5, 1.0]
    # the training budget: the whole of it, or an ablation's largest point of it
    assert h2h.system_budget("mvc_aligner", 3600, [0.25]) == 3600
    assert h2h.system_budget("mvc_depth2_seed1", 3600, [0.25, 0.5]) == 1800


def test_plan_is_what_the_driver_reads(capsys):
    h2h.main(["plan", "mvc", "3600", "--points", "0.5", "1", "--ablation-points", "0.25"])
    h2h.main(["plan", "mvc_concat", "3600", "--points", "0.5", "1", "--ablation-points", "0.25"])
    h2h.main(["plan", "jets", "3600", "--points", "0.5", "1"])  # ablation points: the points
    h2h.main(["plan", "mvc_aligner", "3600", "--points", "0.5", "1", "--ablation-points", "0.25"])
    # the driver reads: training CPU s, role (main systems also clone a recorded voice), points
    assert capsys.readouterr().out.splitlines() == [
        "3600 main 0.25 0.5 1", "900 ablation 0.25", "3600 main 0.5 1", "3600 main 0.5 1"]


def test_the_mel_pictures_use_mvcs_features(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    conf = dict(fs=22050, n_fft=1024, hop_length=256, win_length=1024, fmin=0, fmax=8000,
                n_mels=80)
    (exp / "config.yaml").write_text(yaml.safe_dump({"feats_extract": "fbank",
                                                     "feats_extract_conf": conf}))
    res = {"systems": {"vits": {"model": "vits", "exp": "elsewhere"},
                       "mvc": {"model": "mvc", "exp": str(exp)}}}
    assert h2h.mel_features(res) == conf
    with pytest.raises(SystemExit, match="need an MVC system"):
        h2h.mel_features({"systems": {"vits": res["systems"]["vits"]}})


def test_the_driver_refuses_to_train_a_system_without_its_stats(tmp_path):
    # stage 2 before stage 1 for a new system: a message naming the fix, before any training
    import subprocess

    r = subprocess.run(
        ["bash", "local/head_to_head.sh", "--stage", "2", "--stop_stage", "2", "--budget", "100",
         "--systems", "mvc_seed7", "--h2h_dir", str(tmp_path / "h2h")],
        cwd=RECIPE, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "mvc_seed7: no feature stats under" in r.stderr + r.stdout
    assert "run stage 1 for it first" in r.stderr + r.stdout
    assert not (tmp_path / "h2h" / "mvc_seed7").exists()

"""Shared fixtures of the MVC tests (``tests/test_mvc_*.py``); other tests do not use them.

Kept to what several MVC test files need:

* ``mvc_conf(name)``: a fresh (deep-copied) dict of ``conf/<name>.yaml``.
* ``make_speech(n_samples, f0, seed)``: a deterministic speech-like waveform at 22.05 kHz
  (harmonics of a vibrato F0, a formant-like envelope, syllable-rate amplitude
  modulation, a little noise), so that ESPnet's fbank / dio / energy extractors run on
  something voiced, as in real training.
* ``build_espnet(task, config, workdir, batch)``: builds ``<task>.build_model(args)`` from a
  full training config (a dict, as ``conf/*.yaml`` holds) with ``args`` from the task's
  own parser, after writing the ``global_mvn`` statistics of ``batch`` the way ESPnet's
  collect-stats stage does (``model.collect_feats`` -> ``count/sum/sum_square`` npz).
* ``save_for_inference(model, args, workdir)``: writes ``config.yaml`` + ``model.pth`` as
  ESPnet's trainer does, for ``Text2Speech(train_config=..., model_file=...)``.
* ``TOKENS``: a tiny ESPnet-style token list (``<blank>``, ``<unk>``, phones, ``<sos/eos>``).

One autouse fixture, ``_one_torch_thread``, limited to ``test_mvc_*``, ``test_ssm_*`` and
``test_onnx_*`` modules: it runs them with one intra-op thread (restored afterwards). The
tiny models gain nothing from a second thread, and on a busy 2-core machine OpenMP's
two-thread team was measured 5-100x slower (e.g. this suite's Text2Speech decoding test: 63 s vs 0.6 s). A test
that needs another count takes ``torch_threads`` by indirect parametrization.

Helpers shared by the SSM tests (``rel_err``, ``trained_like``) are in ``ssm_testing.py``;
the MVC tests' ``randomize_zero_inits`` (also used by their worker scripts) is in
``mvc_testing.py``.
"""

import argparse
import copy
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
FS = 22050
HOP = 256
TOKENS = ["<blank>", "<unk>", "a", "b", "c", "d", "e", "f", "<sos/eos>"]


def _load_conf(name: str) -> dict:
    with open(REPO_ROOT / "espnet_mvc" / "conf" / f"{name}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def _speech(n_samples: int, f0: float = 140.0, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / FS
    f = f0 * (1.0 + 0.08 * np.sin(2 * np.pi * (3.0 + seed) * t))
    phase = 2 * np.pi * np.cumsum(f) / FS
    formants = (500.0 + 100 * seed, 1500.0, 2500.0)
    x = np.zeros(n_samples)
    for k in range(1, 30):
        fk = k * f0
        if fk > 7000:
            break
        gain = sum(np.exp(-(((fk - fm) / 200.0) ** 2)) for fm in formants) + 0.05 / k
        x += gain * np.sin(k * phase)
    env = 0.55 + 0.45 * np.sin(2 * np.pi * (4.0 + 0.5 * seed) * t)
    x = x * env
    x = 0.5 * x / (np.abs(x).max() + 1e-9) + 0.003 * rng.standard_normal(n_samples)
    return torch.tensor(x, dtype=torch.float32)


def _parse(task, config: dict, workdir: Path, tag: str) -> argparse.Namespace:
    path = workdir / f"{tag}.yaml"
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f)
    tokens = workdir / "tokens.txt"
    tokens.write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    parser = task.get_parser()
    return parser.parse_args(
        ["--config", str(path), "--token_list", str(tokens), "--output_dir", str(workdir)]
    )


def _build_espnet(task, config: dict, workdir: Path, batch: Dict[str, torch.Tensor]):
    import espnet_mvc  # noqa: F401  (registers tts: mvc)

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(config)
    norm_keys = {"feats": "normalize", "pitch": "pitch_normalize", "energy": "energy_normalize"}
    wanted = {k: v for k, v in norm_keys.items() if config.get(v) == "global_mvn"}
    if wanted:
        # collect-stats pass: same model without normalisation, features of the batch
        plain = dict(config, **{v: None for v in norm_keys.values()})
        model0 = task.build_model(_parse(task, plain, workdir, "collect_stats"))
        with torch.no_grad():
            feats = model0.collect_feats(**batch)
        for key, conf_key in wanted.items():
            x, lengths = feats[key], feats[f"{key}_lengths"]
            v = torch.cat([x[i, : lengths[i]] for i in range(len(lengths))]).double().numpy()
            stats = workdir / f"{key}_stats.npz"
            np.savez(stats, count=v.shape[0], sum=v.sum(0), sum_square=(v**2).sum(0))
            config[f"{conf_key}_conf"] = {"stats_file": str(stats)}
    args = _parse(task, config, workdir, "train")
    return task.build_model(args), args


def _save_for_inference(model, args, workdir: Path) -> Tuple[Path, Path]:
    workdir = Path(workdir)
    config, model_file = workdir / "config.yaml", workdir / "model.pth"
    with open(config, "w", encoding="utf-8") as f:
        yaml.safe_dump(vars(args), f)
    torch.save(model.state_dict(), model_file)
    return config, model_file


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(request):
    """One torch thread inside ``test_mvc_*`` / ``test_ssm_*`` / ``test_onnx_*`` modules
    (module docstring)."""
    if not request.module.__name__.rpartition(".")[2].startswith(
            ("test_mvc_", "test_ssm_", "test_onnx_")):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def torch_threads(request):
    """``request.param`` intra-op threads for one test (indirect parametrization)."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mvc_conf():
    """``mvc_conf("mvc_tiny")`` -> a fresh dict of ``conf/mvc_tiny.yaml``."""
    return lambda name: copy.deepcopy(_load_conf(name))


@pytest.fixture(scope="session")
def make_speech():
    """``make_speech(n_samples, f0=140.0, seed=0)`` -> deterministic waveform (T,)."""
    return _speech


@pytest.fixture(scope="session")
def build_espnet():
    """``build_espnet(TTSTask, config_dict, workdir, batch)`` -> (ESPnet model, args)."""
    return _build_espnet


@pytest.fixture(scope="session")
def save_for_inference():
    """``save_for_inference(model, args, workdir)`` -> (config.yaml, model.pth)."""
    return _save_for_inference

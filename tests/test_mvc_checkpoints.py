"""Safe checkpoint loading in the plugin's entry points (:mod:`espnet_mvc.espnet.checkpoints`).

A real tiny ``python -m espnet_mvc.espnet.tts_train`` run (``conf/mvc_tiny.yaml``, 2 steps an
epoch, in-process through the entry point's ``main``) is interrupted in its second epoch and
resumed with ``--resume true``: ``checkpoint.pth`` (reporter with numpy float64 and
timedelta values, AdamW state) and the averaged epoch files are read with
``weights_only=True``, and training goes on from the saved epoch and step. Checkpoints that
hold a pickled object whose ``__reduce__`` would run code are refused, naming the file, as
``--resume`` checkpoint, ``--init_param`` file and ``tts_inference`` model file, and the
code does not run.
"""

import pickle
import re
from pathlib import Path

import pytest
import soundfile as sf
import torch
from conftest import FS, REPO_ROOT, TOKENS

from espnet_mvc.espnet import checkpoints
from espnet_mvc.espnet.checkpoints import TRUST_ENV, UnsafeCheckpointError

ITERS = 2  # training steps per epoch


def _touch(path):
    """What the payload would do if it were unpickled: leave a marker file."""
    Path(path).write_text("code ran")
    return 0


class _Payload:
    """Pickles as a call of ``_touch(marker)``: unpickling it runs code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (_touch, (self.marker,))


def _save_with_payload(state, path, marker):
    state = dict(state)
    state["evil"] = _Payload(marker)
    torch.save(state, path, pickle_module=pickle)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory, make_speech):
    """Four utterances as ESPnet's stages 5/6 leave them (text, wav.scp, shape files)."""
    d = tmp_path_factory.mktemp("data")
    files = {name: [] for name in ("text", "wav.scp", "text_shape", "speech_shape")}
    for i in range(4):
        n = int(FS * (0.6 + 0.1 * i))
        wav = d / f"u{i}.wav"
        sf.write(wav, make_speech(n, 120.0 + 10 * i, seed=i % 3).numpy(), FS)
        tokens = [TOKENS[2 + (i + k) % 6] for k in range(5 + i)]
        files["text"].append(f"u{i} {' '.join(tokens)}")
        files["wav.scp"].append(f"u{i} {wav}")
        files["text_shape"].append(f"u{i} {len(tokens)}")
        files["speech_shape"].append(f"u{i} {n}")
    for name, lines in files.items():
        (d / name).write_text("\n".join(lines) + "\n")
    (d / "tokens.txt").write_text("\n".join(TOKENS) + "\n")
    return d


def _train_args(data, out, *extra):
    args = [
        "--config", str(REPO_ROOT / "conf" / "mvc_tiny.yaml"),
        "--token_list", str(data / "tokens.txt"), "--token_type", "phn", "--g2p", "none",
        "--normalize", "none", "--pitch_normalize", "none", "--energy_normalize", "none",
        "--output_dir", str(out), "--max_epoch", "2", "--num_iters_per_epoch", str(ITERS),
        "--batch_bins", "100000", "--ngpu", "0", "--use_tensorboard", "false",
        "--num_att_plot", "0",
    ]
    for split in ("train", "valid"):
        args += [f"--{split}_data_path_and_name_and_type", f"{data / 'text'},text,text",
                 f"--{split}_data_path_and_name_and_type", f"{data / 'wav.scp'},speech,sound",
                 f"--{split}_shape_file", str(data / "text_shape"),
                 f"--{split}_shape_file", str(data / "speech_shape")]
    return args + list(extra)


class _Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def interrupted(data, tmp_path_factory):
    """A training run stopped in epoch 2 (after epoch 1's checkpoint.pth was written)."""
    from espnet2.train.trainer import Trainer

    from espnet_mvc.espnet import tts_train

    out = tmp_path_factory.mktemp("exp") / "tts_mvc_tiny"
    original = Trainer.__dict__["train_one_epoch"]
    calls = []

    def train_one_epoch(cls, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise _Interrupted("killed in epoch 2")
        return original.__func__(cls, *args, **kwargs)

    Trainer.train_one_epoch = classmethod(train_one_epoch)
    try:
        with pytest.raises(_Interrupted):
            tts_train.main(_train_args(data, out))
    finally:
        Trainer.train_one_epoch = original
    assert not checkpoints.is_active()  # the entry point put ESPnet's torch back
    saved = torch.load(out / "checkpoint.pth", weights_only=False)
    assert saved["reporter"]["epoch"] == 1 and not (out / "2epoch.pth").exists()
    return out, saved


def _adam_steps(state):
    return {float(s["step"]) for s in state["optimizers"][0]["state"].values()}


def test_checkpoint_needs_only_the_allow_listed_globals(interrupted):
    out, saved = interrupted
    path = out / "checkpoint.pth"
    # what blocks plain weights_only loading: the reporter's numpy float64 and timedelta
    assert sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path)) == [
        "datetime.timedelta", "numpy._core.multiarray.scalar", "numpy.dtype"]
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    loaded = checkpoints.safe_load(path, "cpu", site=checkpoints.RESUME_SITE,
                                   allowed=checkpoints.RESUME_SAFE_GLOBALS)
    assert loaded["reporter"] == saved["reporter"]
    # the allow-list is for the resume checkpoint only
    with pytest.raises(UnsafeCheckpointError, match="numpy.dtype"):
        checkpoints.safe_load(path, "cpu", site="espnet2.tasks.abs_task")


def test_interrupted_training_resumes_from_the_saved_epoch(interrupted, data, monkeypatch):
    from espnet_mvc.espnet import tts_train

    out, saved = interrupted
    assert _adam_steps(saved) == {float(ITERS)}
    epoch1 = (out / "1epoch.pth").read_bytes()
    loads = []
    real_load = torch.load

    def spy(f, *args, **kwargs):
        loads.append((Path(f).name, kwargs.get("weights_only")))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    # --keep_nbest_models 2: the end of training averages 1epoch.pth and 2epoch.pth
    tts_train.main(_train_args(data, out, "--resume", "true", "--keep_nbest_models", "2"))
    monkeypatch.undo()
    assert not checkpoints.is_active()

    ours = [(name, wo) for name, wo in loads if name.endswith(".pth")]
    assert ("checkpoint.pth", True) in ours
    assert ("1epoch.pth", True) in ours and ("2epoch.pth", True) in ours
    assert all(wo is True for _, wo in ours), ours

    state = torch.load(out / "checkpoint.pth", weights_only=False)
    reporter = state["reporter"]
    assert reporter["epoch"] == 2 and sorted(reporter["stats"]) == [1, 2]
    # epoch 1 was not trained again: its statistics (times included) are the saved ones
    assert reporter["stats"][1] == saved["reporter"]["stats"][1]
    assert (out / "1epoch.pth").read_bytes() == epoch1
    # the counters go on from the checkpoint: 2 more steps on top of epoch 1's
    assert reporter["stats"][1]["train"]["total_count"] == ITERS
    assert reporter["stats"][2]["train"]["total_count"] == 2 * ITERS
    assert _adam_steps(state) == {float(2 * ITERS)}
    assert (out / "2epoch.pth").is_file() and (out / "valid.loss.ave_2best.pth").is_file()

    # the CPU ledger: epoch 2's count goes on from epoch 1's, across the two processes' runs
    from espnet_mvc.espnet.cpu_ledger import epoch_cpu_seconds, read_ledger

    cpu = epoch_cpu_seconds(out)
    assert sorted(cpu) == [1, 2] and 0 < cpu[1] < cpu[2]
    assert [r["start_epoch"] for r in read_ledger(out)["runs"]] == [0, 1]


def test_resume_refuses_checkpoint_that_runs_code(interrupted, data, tmp_path):
    from espnet_mvc.espnet import tts_train

    out, saved = interrupted
    exp = tmp_path / "exp"
    exp.mkdir()
    marker = tmp_path / "pwned"
    bad = _save_with_payload(saved, exp / "checkpoint.pth", marker)
    with pytest.raises(UnsafeCheckpointError) as info:
        tts_train.main(_train_args(data, exp, "--resume", "true"))
    message = str(info.value)
    assert str(bad) in message and "resume checkpoint" in message
    assert "test_mvc_checkpoints._touch" in message  # what blocked it
    assert TRUST_ENV in message  # how to load a checkpoint of one's own, explicitly
    assert not marker.exists()
    assert not (exp / "1epoch.pth").exists()  # no training happened
    assert not checkpoints.is_active()
    # the payload is live: loading the file fully would have run it
    torch.load(bad, weights_only=False)
    assert marker.read_text() == "code ran"


def test_init_param_with_code_is_refused(interrupted, data, tmp_path):
    from espnet_mvc.espnet import tts_train

    out, _ = interrupted
    marker = tmp_path / "pwned"
    weights = torch.load(out / "1epoch.pth", weights_only=True)
    bad = _save_with_payload(weights, tmp_path / "pretrained.pth", marker)
    with pytest.raises(UnsafeCheckpointError, match=re.escape(f"{bad}: refused to load an "
                                                              f"--init_param file")):
        tts_train.main(_train_args(data, tmp_path / "exp", "--init_param", str(bad)))
    assert not marker.exists()


def test_tts_inference_refuses_model_file_with_code(interrupted, data, tmp_path):
    from espnet_mvc.espnet import tts_inference

    out, _ = interrupted
    marker = tmp_path / "pwned"
    weights = torch.load(out / "1epoch.pth", weights_only=True)
    bad = _save_with_payload(weights, tmp_path / "model.pth", marker)
    with pytest.raises(UnsafeCheckpointError, match=re.escape(f"{bad}: refused to load a "
                                                              f"model file")):
        tts_inference.main([
            "--model_file", str(bad), "--train_config", str(out / "config.yaml"),
            "--output_dir", str(tmp_path / "decode"),
            "--data_path_and_name_and_type", f"{data / 'text'},text,text",
        ])
    assert not marker.exists()
    assert not checkpoints.is_active()


def test_trusting_a_resume_checkpoint_is_explicit_and_per_file(interrupted, tmp_path,
                                                              monkeypatch):
    """``ESPNET_MVC_TRUST_CHECKPOINT`` loads that one checkpoint.pth fully; nothing else."""
    import fractions

    import espnet2.torch_utils.load_pretrained_model as init_module
    import espnet2.train.trainer as trainer_module

    _, saved = interrupted
    odd = dict(saved, extra=fractions.Fraction(1, 3))  # harmless, but not allowed
    path = tmp_path / "checkpoint.pth"
    torch.save(odd, path)
    with checkpoints.safe_checkpoint_loading():
        with pytest.raises(UnsafeCheckpointError, match="fractions.Fraction"):
            trainer_module.torch.load(path, map_location="cpu", weights_only=False)
        monkeypatch.setenv(TRUST_ENV, str(tmp_path / "other.pth"))
        with pytest.raises(UnsafeCheckpointError):
            trainer_module.torch.load(path, map_location="cpu", weights_only=False)
        monkeypatch.setenv(TRUST_ENV, str(path))
        assert trainer_module.torch.load(path, map_location="cpu")["extra"] == odd["extra"]
        # never for other call sites (here --init_param)
        with pytest.raises(UnsafeCheckpointError):
            init_module.torch.load(path, map_location="cpu", weights_only=False)
    assert trainer_module.torch is torch and init_module.torch is torch


def test_gan_tts_train_runs_espnet_inside_safe_loading(monkeypatch):
    from espnet2.bin import gan_tts_train as espnet_gan_tts_train

    from espnet_mvc.espnet import tts_train

    seen = []
    monkeypatch.setattr(espnet_gan_tts_train, "main",
                        lambda cmd=None: seen.append((cmd, checkpoints.is_active())))
    tts_train.main(["--task", "gan_tts", "--resume", "true"])
    assert seen == [(["--resume", "true"], True)] and not checkpoints.is_active()


def test_safe_loading_leaves_the_espnet_modules_as_they_were():
    import espnet2.main_funcs.average_nbest_models as average_module
    import espnet2.tasks.abs_task as abs_task

    with checkpoints.safe_checkpoint_loading():
        with checkpoints.safe_checkpoint_loading():  # re-entrant
            assert checkpoints.is_active()
            # everything but load is torch's own
            assert abs_task.torch.nn is torch.nn and abs_task.torch.Tensor is torch.Tensor
        assert checkpoints.is_active()
    assert abs_task.torch is torch and average_module.torch is torch
    assert torch.load.__module__ == "torch.serialization"


def test_the_patched_espnet_modules_still_load_with_torch_load():
    """If ESPnet moves its loads elsewhere, the patch would guard nothing: fail here."""
    import importlib
    import inspect

    for name in checkpoints.SITES:
        assert "torch.load(" in inspect.getsource(importlib.import_module(name)), name

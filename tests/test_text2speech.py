"""Loading models: MVC without ESPnet's task stack, every other ESPnet model through it.

* :class:`espnet_mvc.espnet.text2speech.MVCText2Speech` builds the model ESPnet's ``Text2Speech``
  builds but its training-only aligner, and gives the same outputs (tiny recipe model with
  all its normalizers and Griffin-Lim; the shipped model with its vocoder).
* ``espnet-mvc synth`` imports neither ESPnet's task stack nor its text front ends, nor
  what inference does not use (the aligner and ESPnet's JETS, librosa's filters and with
  them scipy.signal / scipy.stats / numba), and sets no environment variable but OpenMP's
  wait policy.
* ``MVCSynthesizer`` loads VITS and JETS (through ESPnet's ``Text2Speech``) and says clearly
  what is MVC's only.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from espnet_mvc.api import MVCSynthesizer
from espnet_mvc.espnet.checkpoints import safe_checkpoint_loading
from espnet_mvc.espnet.text2speech import MVCText2Speech, fast_path_blocker, load_text2speech
from espnet_mvc.inference.loading import safe_unpack
from espnet_mvc.text.espeak import phonemize
from espnet_mvc.tts.mvc.decode_options import DecodeOptions
from test_recipes import random_weight_exp

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "espnet_mvc" / "pretrained" / "kokoro_en_mvc"
TEXT = "hello there, how are you today"


def build_exp(system: str, tmp: Path) -> Path:
    """A randomly initialised exp dir of mini_espeak's ``train_<system>.yaml`` (as the
    recipe's trainer writes it: config.yaml + weights, with global_mvn statistics), its
    tokens the English espeak phonemes of :data:`TEXT`, and ``lang2lid`` / ``spk2sid``."""
    exp = random_weight_exp(system, tmp, sorted(set(phonemize(TEXT, "en"))), f"exp_{system}")
    (exp / "lang2lid").write_text("en 1\nes 2\n")
    (exp / "spk2sid").write_text("spk1 1\n")
    return exp


def _voice(seconds: float, fs: int) -> torch.Tensor:
    t = np.arange(int(seconds * fs)) / fs
    wav = sum(np.sin(2 * np.pi * 140.0 * k * t) / k for k in range(1, 8))
    return torch.from_numpy((0.3 * wav).astype(np.float32))


def _espnet_text2speech(config, weights, **vocoder):
    from espnet2.bin.tts_inference import Text2Speech

    with safe_checkpoint_loading():
        return Text2Speech(train_config=str(config), model_file=str(weights), **vocoder)


def _assert_same_model_and_outputs(espnet, fast, ids, **inputs):
    a, b = espnet.model.state_dict(), fast.model.state_dict()
    # all but the training-only aligner, which inference never calls
    aligner = {k for k in a if k.startswith("tts.aligner.")}
    assert aligner and fast.tts.aligner is None
    assert set(a) - aligner == set(b)
    for k in b:
        assert torch.equal(a[k], b[k]), k
    assert fast.training_only_parameters == sum(a[k].numel() for k in aligner) == sum(
        p.numel() for p in espnet.tts.aligner.parameters())
    assert fast.decode_conf == espnet.decode_conf
    assert (fast.fs, fast.use_speech, fast.use_sids, fast.use_lids, fast.use_spembs) == \
        (espnet.fs, espnet.use_speech, espnet.use_sids, espnet.use_lids, espnet.use_spembs)
    conf = dict(options=DecodeOptions(seed=3, n_timesteps=2))
    out_espnet = espnet(ids, decode_conf=conf, **inputs)
    out_fast = fast(ids, decode_conf=conf, **inputs)
    for key in ("feat_gen", "feat_gen_denorm", "duration"):
        assert torch.equal(out_espnet[key], out_fast[key]), key
    if type(espnet.vocoder).__name__ == "Spectrogram2Waveform":
        # librosa's Griffin-Lim starts from phases of an unseeded generator: same settings
        assert repr(fast.vocoder) == repr(espnet.vocoder)
        assert out_fast["wav"].shape == out_espnet["wav"].shape
    else:
        assert torch.equal(out_espnet["wav"], out_fast["wav"])


def test_fast_path_equals_espnet_on_the_recipe_model(tmp_path):
    """All of a recipe model's parts: fbank, the three global_mvn, language ids, Griffin-Lim."""
    exp = build_exp("mvc_tiny", tmp_path)
    espnet = _espnet_text2speech(exp / "config.yaml", exp / "model.pth")
    fast = load_text2speech(exp / "config.yaml", exp / "model.pth")
    assert isinstance(fast, MVCText2Speech) and type(fast.vocoder) is type(espnet.vocoder)
    tokens = espnet.train_args.token_list
    ids = torch.tensor([tokens.index(p) for p in phonemize("hello there", "en")])
    _assert_same_model_and_outputs(espnet, fast, ids, speech=_voice(1.5, 22050),
                                   lids=torch.tensor([1]))


def test_fast_path_equals_espnet_on_the_shipped_model():
    """Raw text through the plugin's g2p, the shipped vocoder, the model's own options."""
    files = safe_unpack(SHIPPED / "packed.zip")
    vocoder = dict(vocoder_file=str(SHIPPED / "vocoder.pth"),
                   vocoder_config=str(SHIPPED / "vocoder.yaml"))
    espnet = _espnet_text2speech(files["train_config"], files["model_file"], **vocoder)
    fast = load_text2speech(files["train_config"], files["model_file"], **vocoder)
    assert isinstance(fast, MVCText2Speech)
    text = "Hello there, how are you?"
    ids = fast.preprocess_fn("<dummy>", dict(text=text))["text"]
    assert ids.tolist() == espnet.preprocess_fn("<dummy>", dict(text=text))["text"].tolist()
    _assert_same_model_and_outputs(espnet, fast, torch.from_numpy(ids),
                                   speech=_voice(2.0, fast.fs))


def test_fast_path_leaves_other_models_to_espnet(tmp_path):
    conf = dict(tts="mvc", token_list=["<unk>"], feats_extract="fbank", normalize="global_mvn")
    assert fast_path_blocker(argparse.Namespace(**conf)) is None
    assert "vits" in fast_path_blocker(argparse.Namespace(**dict(conf, tts="vits")))
    assert "linear_spectrogram" in fast_path_blocker(
        argparse.Namespace(**dict(conf, feats_extract="linear_spectrogram")))
    assert "utterance_mvn" in fast_path_blocker(
        argparse.Namespace(**dict(conf, normalize="utterance_mvn")))
    pkl = tmp_path / "checkpoint.pkl"
    pkl.write_bytes(b"")
    assert "not a plugin vocoder" in fast_path_blocker(argparse.Namespace(**conf), pkl)


# What inference must not import: ESPnet's task stack, trainers and text front ends (and
# what they bring: typeguard-instrumented modules, inflect, nltk); the training-only aligner
# and ESPnet's JETS (whose aligner imports scipy.stats and numba); librosa's filters (which
# import scipy.signal and numba; the lazily loaded top-level ``librosa`` is imported by
# ESPnet's Stft and LogMel modules and costs milliseconds).
NOT_FOR_INFERENCE = [
    "espnet2.tasks.tts", "espnet2.tasks.abs_task", "espnet2.bin.tts_inference",
    "espnet2.train.preprocessor", "espnet2.text.phoneme_tokenizer", "inflect", "nltk",
    "g2p_en", "espnet2.gan_tts.vits", "espnet_mvc.tts.mvc.aligner", "espnet2.gan_tts.jets",
    "librosa.filters", "librosa.core.spectrum", "scipy.signal", "scipy.stats", "numba",
]


def test_inference_path_imports_nothing_it_does_not_use():
    """Loading the shipped model and its vocoder through :class:`MVCText2Speech`, raw text
    to waveform, leaves the modules inference does not use unimported (a positive control:
    a training build of the same model imports the aligner)."""
    code = (
        "import json, sys\n"
        "from espnet_mvc.inference.loading import safe_unpack\n"
        "from espnet_mvc.espnet.text2speech import load_text2speech\n"
        f"shipped = {str(SHIPPED)!r}\n"
        "files = safe_unpack(shipped + '/packed.zip')\n"
        "t2s = load_text2speech(files['train_config'], files['model_file'],\n"
        "                       vocoder_file=shipped + '/vocoder.pth',\n"
        "                       vocoder_config=shipped + '/vocoder.yaml')\n"
        "import soundfile as sf\n"
        "ref, fs = sf.read(shipped + '/heldout/ref/alpha.flac', dtype='float32')\n"
        "assert fs == t2s.fs\n"
        "import torch\n"
        "wav = t2s('Hello there.', speech=torch.from_numpy(ref))['wav']\n"
        f"loaded = [m for m in {NOT_FOR_INFERENCE!r} if m in sys.modules]\n"
        "from espnet_mvc.tts.mvc.mvc import MVC\n"
        "MVC(idim=10, odim=80, **t2s.train_args.tts_conf)\n"
        "print(json.dumps(dict(samples=len(wav), loaded=loaded,\n"
        "                      training=[m for m in ('espnet_mvc.tts.mvc.aligner',\n"
        "                                            'espnet2.gan_tts.jets') if m in sys.modules])))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["samples"] > 1000
    assert res["loaded"] == [], res
    assert res["training"] == ["espnet_mvc.tts.mvc.aligner", "espnet2.gan_tts.jets"], res


def test_cli_synth_skips_espnet_task_stack(tmp_path):
    """The command line's synthesis imports nothing of :data:`NOT_FOR_INFERENCE`, and sets
    no variable but OpenMP's wait policy."""
    out = tmp_path / "hello.wav"
    code = (
        "import json, os, sys\n"
        "before = dict(os.environ)\n"
        "from espnet_mvc.bin.cli import main\n"
        f"rc = main(['synth', '--model', 'kokoro_en_mvc', '--text', 'Hello there.', '--ref', "
        f"{str(SHIPPED / 'heldout/ref/alpha.flac')!r}, '--out', {str(out)!r}, '--quiet'])\n"
        f"heavy = {NOT_FOR_INFERENCE!r}\n"
        "changed = sorted(k for k in os.environ if os.environ[k] != before.get(k))\n"
        "print(json.dumps(dict(rc=rc, loaded=[m for m in heavy if m in sys.modules],\n"
        "                      changed=changed)))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["rc"] == 0 and out.stat().st_size > 1000
    assert res["loaded"] == [], res
    # sklearn (under librosa) sets KMP_* itself
    assert [k for k in res["changed"] if not k.startswith("KMP_")] == ["OMP_WAIT_POLICY"], res
    assert "nltk_data" not in proc.stderr


@pytest.mark.parametrize("system", ["vits", "jets"])
def test_api_loads_other_espnet_models(system, tmp_path):
    """VITS / JETS load through ESPnet's Text2Speech and synthesize; MVC's own parts say
    clearly that they are not there."""
    exp = build_exp(system, tmp_path)
    tts = MVCSynthesizer.from_pretrained(exp)
    assert type(tts.t2s).__name__ == "Text2Speech"
    assert tts.mvc is None and not tts.uses_reference
    info = tts.info()
    assert info["model_class"] == system.upper() and info["is_mvc"] is False
    assert info["languages"] == ["en", "es"] and info["speakers"] == ["spk1"]
    res = tts.synthesize("hello there", lang="en-us", n_timesteps=3)  # MVC option: unused
    assert res.fs == 22050 and len(res.wav) > 0 and np.isfinite(res.wav).all()
    with pytest.raises(ValueError, match="streaming needs an MVC model"):
        next(tts.stream("hello there"))

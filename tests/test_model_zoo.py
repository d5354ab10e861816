"""The model zoo round trip, ESPnet's way: pack, load by ``model_tag``, synthesize raw text.

``Text2Speech.from_pretrained(model_tag=<packed archive>)`` (espnet_model_zoo unpacks it)
after ``import espnet_mvc``, in a fresh interpreter started elsewhere than the checkout:

* the shipped model (``g2p: kokoro_en`` in its config);
* a multilingual espeak model (trained on text phonemized beforehand, so its own config
  says ``g2p: none``) packed by ``espnet_mvc.bin.pack --g2p espeak_ng_multilingual``, which
  records the plugin's g2p in the model's default language.

Raw text must become the model's tokens through the plugin's g2p, and nothing may try
nltk downloads.
"""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from espnet_mvc.text import kokoro
from espnet_mvc.text.espeak import phonemize
from test_text2speech import SHIPPED, build_exp

TEXT = "Hello there, how are you today?"

# Run in a fresh interpreter; argv: archive, cache dir, reference clip, language id.
ROUND_TRIP = r"""
import json, sys
import espnet_model_zoo.downloader as zoo
# the zoo unpacks into its own package directory by default: keep it in the test's tmp
zoo.ModelDownloader.__init__.__defaults__ = (sys.argv[2],)
import espnet_mvc
import torch
from espnet2.bin.tts_inference import Text2Speech
from espnet_mvc.inference.reference_audio import load_reference

t2s = Text2Speech.from_pretrained(model_tag=sys.argv[1])
inputs = {}
if t2s.use_speech:
    inputs["speech"] = torch.from_numpy(load_reference(sys.argv[3], t2s.fs))
if t2s.use_lids:
    inputs["lids"] = torch.tensor([int(sys.argv[4])])
text = %r
ids = t2s.preprocess_fn("<dummy>", dict(text=text))["text"].tolist()
out = t2s(text, **inputs)
print(json.dumps(dict(g2p=t2s.train_args.g2p, ids=ids, samples=int(out["wav"].numel()),
                      tokens=t2s.train_args.token_list)))
""" % TEXT


def _round_trip(archive: Path, tmp: Path, lid: int = 0) -> dict:
    cwd = tmp / "elsewhere"
    cwd.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, str(archive), str(tmp / "zoo_cache"),
         str(SHIPPED / "heldout" / "ref" / "alpha.flac"), str(lid)],
        cwd=cwd, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nltk_data" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ids(tokens, symbols):
    return [tokens.index(s) if s in tokens else tokens.index("<unk>") for s in symbols]


def test_shipped_model_reads_raw_text_from_the_zoo(tmp_path):
    res = _round_trip(SHIPPED / "packed.zip", tmp_path)
    assert res["g2p"] == "kokoro_en"
    assert res["ids"] == _ids(res["tokens"], kokoro.g2p(TEXT))
    assert res["samples"] > 24000 * 0.5


@pytest.fixture(scope="module")
def packed_multilingual(tmp_path_factory):
    """mini_espeak's tiny MVC (English and Spanish, language ids) packed as stage 10 packs."""
    tmp = tmp_path_factory.mktemp("multilingual")
    exp = build_exp("mvc_tiny", tmp)
    archive = tmp / "packed.zip"
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_mvc.bin.pack", "tts", "--train_config",
         str(exp / "config.yaml"), "--model_file", str(exp / "model.pth"),
         "--option", str(exp / "lang2lid"), "--option", str(tmp / "feats_stats.npz"),
         "--option", str(tmp / "pitch_stats.npz"), "--option", str(tmp / "energy_stats.npz"),
         "--g2p", "espeak_ng_multilingual", "--outpath", str(archive)],
        cwd=tmp, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Recorded g2p: espeak_ng_multilingual_en" in proc.stdout
    return tmp, exp, archive


def test_pack_records_the_g2p_and_leaves_the_exp_dir(packed_multilingual):
    _, exp, archive = packed_multilingual
    assert yaml.safe_load((exp / "config.yaml").read_text())["g2p"] is None  # --g2p none
    with zipfile.ZipFile(archive) as z:
        meta = yaml.safe_load(z.read("meta.yaml"))
        packed = yaml.safe_load(z.read(meta["yaml_files"]["train_config"]))
        assert sorted(z.namelist()) == sorted(set(z.namelist()))  # member replaced, not added
    assert packed["g2p"] == "espeak_ng_multilingual_en"
    own = yaml.safe_load((exp / "config.yaml").read_text())
    assert {k: v for k, v in packed.items() if k != "g2p"} == \
        {k: v for k, v in own.items() if k != "g2p"}


def test_multilingual_model_reads_raw_text_from_the_zoo(packed_multilingual):
    tmp, _, archive = packed_multilingual
    res = _round_trip(archive, tmp, lid=1)  # lang2lid: en 1
    assert res["g2p"] == "espeak_ng_multilingual_en"
    expected = _ids(res["tokens"], phonemize(TEXT, "en"))
    assert res["ids"] == expected and set(expected) != {res["tokens"].index("<unk>")}
    assert res["samples"] > 0


def test_api_follows_the_packed_g2p(packed_multilingual):
    """MVCSynthesizer reads the packed multilingual model's raw text in its g2p's language
    unless told another."""
    from espnet_mvc.api import MVCSynthesizer

    _, _, archive = packed_multilingual
    tts = MVCSynthesizer.from_pretrained(archive)
    assert tts.g2p == "espeak_ng_multilingual_en" and tts.languages == ["en", "es"]
    english = [tts.token_to_id.get(t, 1) for t in phonemize(TEXT, "en")]
    assert tts.text_to_ids(TEXT).tolist() == english
    voice = (np.sin(np.arange(22050) * 0.06).astype(np.float32), 22050)
    assert tts.voice_inputs(ref=voice)["lids"].tolist() == [1]  # en
    assert tts.text_to_ids("hola", lang="es").tolist() == \
        [tts.token_to_id.get(t, 1) for t in phonemize("hola", "es")]

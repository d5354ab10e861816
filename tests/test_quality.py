"""The shipped reference model speaks: held-out sentences, Whisper WER, by name and via ESPnet.

These tests load the model committed in ``espnet_mvc/pretrained/kokoro_en_mvc`` (trained by
``egs2/kokoro_en``) and fail when a change to the model code, the front end or the vocoder
stops it from speaking intelligibly. They use the same functions as
``python -m espnet_mvc.bin.benchmark quality``.
"""

import numpy as np
import pytest
import torch

from espnet_mvc import pretrained
from espnet_mvc.benchmarks import quality

NAME = "kokoro_en_mvc"
# percent, over 4 seen-voice + 4 unseen-voice held-out sentences: the CI bar of the issue
# "MVC that speaks". The shipped model measures 8.59 % seen / 6.11 % zero-shot over the
# whole held-out set (corpus recordings 2.04 %); a model that does not speak scores 80-100.
MAX_WER = 15.0


@pytest.fixture(scope="module")
def tts():
    from espnet_mvc.inference.synthesizer import MVCSynthesizer

    torch.set_num_threads(2)
    return MVCSynthesizer.from_pretrained(NAME)


def test_shipped_model_is_found_by_name():
    assert NAME in pretrained.available()
    d = pretrained.path(NAME)
    assert (d / "MODEL_CARD.md").is_file()
    size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
    assert size <= 50 * 2**20, f"{d}: {size / 2**20:.1f} MiB (limit 50 MB)"
    with pytest.raises(KeyError, match="no shipped model 'nope'"):
        pretrained.path("nope")


def test_packed_statistics_are_the_ones_the_weights_use():
    """The archive's feats/pitch/energy stats files give the model's normalisation buffers
    (ESPnet loads the buffers from the weights over the file's, so a mismatch would not
    show at synthesis, but anyone fine-tuning from the archive would get other inputs)."""
    import io
    import zipfile

    with zipfile.ZipFile(pretrained.path(NAME) / "packed.zip") as z:
        names = z.namelist()
        weights = next(n for n in names if n.endswith(".pth"))
        state = torch.load(io.BytesIO(z.read(weights)), map_location="cpu", weights_only=True)
        for kind, prefix in (("feats", "normalize"), ("pitch", "pitch_normalize"),
                             ("energy", "energy_normalize")):
            stats = np.load(io.BytesIO(z.read(next(n for n in names
                                                   if n.endswith(f"/{kind}_stats.npz")))))
            mean = stats["sum"] / stats["count"]
            std = np.sqrt(np.maximum(stats["sum_square"] / stats["count"] - mean**2, 1e-20))
            np.testing.assert_allclose(mean, state[f"{prefix}.mean"].numpy(), atol=1e-5,
                                       err_msg=f"{kind}_stats.npz mean")
            np.testing.assert_allclose(std, state[f"{prefix}.std"].numpy(), atol=1e-5,
                                       err_msg=f"{kind}_stats.npz std")


def test_shipped_model_speaks_heldout_sentences(tts):
    from espnet_mvc.metrics.asr import WhisperASR

    assert tts.info()["vocoder"] == "Vocoder"  # the shipped one, not Griffin-Lim
    items = quality.pick(quality.read_heldout(pretrained.path(NAME)), 4)
    assert sum(i.set == "seen" for i in items) == 4 and sum(i.set == "zeroshot" for i in items) == 4
    wavs = quality.synthesize_items(tts, items, seed=0)
    for w, i in zip(wavs, items):
        assert np.isfinite(w).all() and np.abs(w).max() > 0.05, i.utt
        # a sentence of ~10 words takes 1.5-6 s, not a click and not a runaway
        assert 1.0 < len(w) / tts.fs < 8.0, (i.utt, len(w) / tts.fs)
    scores, hyps = quality.wer_of(WhisperASR(), wavs, tts.fs, items)
    report = "\n".join(f"{i.text} -> {h}" for i, h in zip(items, hyps))
    assert scores["wer"] <= MAX_WER, f"WER {scores['wer']:.1f}% > {MAX_WER}%:\n{report}"


def test_shipped_model_through_espnet_text2speech(tts):
    """ESPnet's own Text2Speech takes raw text (the plugin's kokoro_en g2p) and our vocoder."""
    from espnet2.bin.tts_inference import Text2Speech

    from espnet_mvc.inference.reference_audio import load_reference

    t2s = Text2Speech(**pretrained.text2speech_kwargs(NAME))
    item = quality.read_heldout(pretrained.path(NAME))[0]
    ref = torch.from_numpy(load_reference(str(item.ref), t2s.fs))
    out = t2s(item.text, speech=ref, decode_conf=dict(seed=0))
    api = tts.synthesize(item.text, ref=str(item.ref), seed=0)
    assert out["wav"].shape[0] == api.wav.shape[0]
    np.testing.assert_allclose(out["wav"].numpy(), api.wav, atol=1e-4)

"""The shipped model clones a real person (issue 22's CI bar).

The reference is one clip of a real person held out of all training, shipped in the repo under
a license that allows it: ``tests/data/realvoice/asterisk_allison_ref.flac`` (Allison Smith,
US English, CC BY-SA 3.0, see the LICENSE.md beside it; it is the ``asterisk_allison``
reference of the real-voice set, ``espnet_mvc/recipe/realvoice.py``). The shipped
``kokoro_en_mvc`` reads 3 held-out sentences in that voice; the outputs must sound like the
clip (Resemblyzer cosine, the project's speaker metric, >= 0.70 on average) and be understood
(Whisper tiny.en WER <= 15 %). Same functions as ``benchmark quality``'s real-voice lines.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from espnet_mvc import pretrained
from espnet_mvc.benchmarks import quality

NAME = "kokoro_en_mvc"
REF = Path(__file__).parent / "data" / "realvoice" / "asterisk_allison_ref.flac"
N_SENTENCES = 3
MIN_SIM = 0.70
MAX_WER = 15.0


@pytest.fixture(scope="module")
def cloned():
    from espnet_mvc.api import MVCSynthesizer
    from espnet_mvc.metrics.asr import WhisperASR
    from espnet_mvc.metrics.audio import load_wav

    torch.set_num_threads(1)
    tts = MVCSynthesizer.from_pretrained(NAME)
    sentences = quality.heldout_sentences(quality.read_heldout(pretrained.path(NAME)))
    items = [quality.RealVoiceItem("asterisk_allison", s, REF)
             for s in sentences[:N_SENTENCES]]
    wavs = quality.synthesize_realvoice(tts, items, seed=0)
    ref = quality.unit_embedding(*load_wav(REF))
    sims = [float(quality.unit_embedding(w, tts.fs) @ ref) for w in wavs]
    wer, hyps = quality.wer_of(WhisperASR(), wavs, tts.fs, items)
    report = "\n".join(f"{i.text} -> {h} (similarity {s:.3f})"
                       for i, h, s in zip(items, hyps, sims))
    return dict(wavs=wavs, fs=tts.fs, sims=sims, wer=wer["wer"], report=report)


def test_real_voice_clone_is_intelligible(cloned):
    for w in cloned["wavs"]:
        assert np.isfinite(w).all() and 1.0 < len(w) / cloned["fs"] < 8.0
    assert cloned["wer"] <= MAX_WER, (
        f"WER {cloned['wer']:.1f} % > {MAX_WER} %:\n{cloned['report']}")


@pytest.mark.xfail(strict=True, reason=(
    "measured on the shipped kokoro_en_mvc (round 3, 1 thread): similarity 0.671 "
    "(0.649-0.706 per sentence) to the clip, WER 6.9 %; the retrained model of issue 22 "
    "must pass (then drop this marker)"))
def test_real_voice_clone_sounds_like_the_person(cloned):
    sim = float(np.mean(cloned["sims"]))
    assert sim >= MIN_SIM, (
        f"similarity to the reference {sim:.3f} < {MIN_SIM}:\n{cloned['report']}")

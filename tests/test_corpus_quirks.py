"""The real-corpus readers (``espnet_mvc/recipe/corpora.py``, stage 1) on stand-ins laid out
as the public releases are, with the releases' quirks (issue 25, item 3):

* VCTK 0.92: speaker ``s5`` beside the ``pXXX`` ones; ``p315`` has recordings but no
  transcripts; ``p280`` has no mic2 recordings; ``p362`` has transcripts whose recordings
  are missing. Skipped speakers and files are named in a note.
* CSS10: a stereo file and a 32-bit float file; stage 2's converter (``format_wav.py``)
  makes 16-bit mono of them.
* LJSpeech 1.1: the three-field ``metadata.csv`` (id|text|normalized text), the normalized
  text used.

And the CSS10 recipe's tiny config fits its language ids where the package's tiny config
does not. Audio is short noise (no speech is needed to read a layout).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_mvc.recipe import corpora, datadir

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "espnet_mvc" / "recipe"


def _noise(path: Path, fs: int, seconds=0.3, channels=1, subtype="PCM_16", seed=0):
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal((int(fs * seconds), channels)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x if channels > 1 else x[:, 0], fs, subtype=subtype)


def _kv(path: Path):
    return dict(line.split(maxsplit=1) for line in path.read_text(encoding="utf-8").splitlines())


# ---------------------------------------------------------------------------------- VCTK
def fake_vctk(root: Path, n=12) -> Path:
    v = root / "VCTK-Corpus-0.92"
    wav, txt = v / "wav48_silence_trimmed", v / "txt"
    for spk in ("p225", "p226", "p280", "p315", "p362", "s5"):
        for i in range(1, n + 1):
            uid = f"{spk}_{i:03d}"
            if spk == "p362" and i in (4, 7):  # transcripts without recordings
                (txt / spk).mkdir(parents=True, exist_ok=True)
                (txt / spk / f"{uid}.txt").write_text("Missing audio.\n")
                continue
            mics = ("mic1",) if spk == "p280" else ("mic1", "mic2")
            for mic in mics:
                _noise(wav / spk / f"{uid}_{mic}.flac", 48000, 0.05, seed=i)
            if spk != "p315":  # no transcripts for p315 in the release
                (txt / spk).mkdir(parents=True, exist_ok=True)
                (txt / spk / f"{uid}.txt").write_text(f"Please call Stella number {i}.\n")
    (v / "speaker-info.txt").write_text("ID  AGE  GENDER  ACCENTS  REGION COMMENTS\n")
    return v


def test_vctk_reads_s5_and_skips_the_release_gaps(tmp_path, capsys):
    v = fake_vctk(tmp_path)
    data = tmp_path / "data"
    corpora.prep_vctk(v, data, n_dev=2, n_eval=2, n_zeroshot=3, zeroshot_speakers=["p225"])
    err = capsys.readouterr().err
    assert "speakers without transcripts skipped: p315" in err
    assert "VCTK speaker p362: 2 transcripts without a mic1 recording skipped (p362_004 p362_007)" in err
    tr = _kv(data / "tr_no_dev" / "utt2spk")
    assert set(tr.values()) == {"p226", "p280", "p362", "s5"}
    assert sum(s == "s5" for s in tr.values()) == 12 - 4
    assert sum(s == "p362" for s in tr.values()) == 10 - 4
    assert "s5_011" in _kv(data / "eval1" / "utt2spk") or "s5_011" in _kv(data / "dev" / "utt2spk")
    assert set(_kv(data / "test_zeroshot" / "utt2spk").values()) == {"p225"}
    assert _kv(data / "tr_no_dev" / "text")["s5_001"] == "Please call Stella number 1."

    # mic2: p280 has none, and is named
    corpora.prep_vctk(v, tmp_path / "data2", n_dev=2, n_eval=2, n_zeroshot=3,
                      zeroshot_speakers=["p225"], mic="mic2")
    err = capsys.readouterr().err
    assert "speakers without mic2 recordings skipped: p280" in err
    tr2 = _kv(tmp_path / "data2" / "tr_no_dev" / "wav.scp")
    assert set(_kv(tmp_path / "data2" / "tr_no_dev" / "utt2spk").values()) == {"p226", "p362", "s5"}
    assert all(w.endswith("_mic2.flac") for w in tr2.values())


def test_vctk_mic_option_of_the_script(tmp_path):
    v = fake_vctk(tmp_path, n=6)
    p = subprocess.run([sys.executable, str(RECIPE / "corpora.py"), "vctk", str(v), "--data-dir",
                        str(tmp_path / "d"), "--n-dev", "1", "--n-eval", "1", "--n-zeroshot", "2",
                        "--zeroshot-speakers", "p225", "--mic", "mic2"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "without mic2 recordings skipped: p280" in p.stderr


# ---------------------------------------------------------------------------------- CSS10
def fake_css10(root: Path, n=5) -> Path:
    c = root / "css10"
    for lang, book in (("es", "don_quijote"), ("de", "achtgesichterambiwasse")):
        lines = []
        for i in range(n):
            rel = f"{book}/{book}_{i:04d}.wav"
            stereo, flt = (lang == "es" and i == 1), (lang == "es" and i == 2) or (lang == "de" and i == 0)
            _noise(c / lang / rel, 22050, 0.3, channels=2 if stereo else 1,
                   subtype="FLOAT" if flt else "PCM_16", seed=i)
            lines.append(f"{rel}|Texto {i}.|Texto {i}.|0.30")
        (c / lang / "transcript.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return c


def test_css10_stereo_and_float_files(tmp_path):
    c = fake_css10(tmp_path)
    data = tmp_path / "data"
    corpora.prep_css10(c, data, ["es", "de"], n_dev=1, n_eval=1)
    scp = _kv(data / "tr_no_dev" / "wav.scp")
    assert len(scp) == 6 and set(_kv(data / "tr_no_dev" / "utt2lang").values()) == {"es", "de"}
    infos = {u: sf.info(w) for u, w in scp.items()}
    assert {i.channels for i in infos.values()} == {1, 2}
    assert "FLOAT" in {i.subtype for i in infos.values()}
    # stage 2's converter: 16-bit mono at the recipe's rate
    out = tmp_path / "dump"
    p = subprocess.run([sys.executable, str(RECIPE / "format_wav.py"), "--scp",
                        str(data / "tr_no_dev" / "wav.scp"), "--fs", "22050", "--out-dir", str(out),
                        "--final-dir", str(out), "--out-scp", str(tmp_path / "wav.scp"),
                        "--out-num-samples", str(tmp_path / "utt2num_samples")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for u, w in _kv(tmp_path / "wav.scp").items():
        info = sf.info(w)
        assert (info.channels, info.samplerate, info.subtype) == (1, 22050, "PCM_16"), (u, info)
        x, _ = sf.read(w)
        src, _ = sf.read(scp[u], always_2d=True)
        assert np.allclose(x, src[:, 0], atol=1 / 32767 + 1e-6)  # the first channel


def test_css10_tiny_config_fits_language_ids(tmp_path):
    train = tmp_path / "tr_no_dev"
    train.mkdir()
    (train / "lang2lid").write_text("<unk> 0\nde 1\nes 2\nfr 3\n")
    tiny = ROOT / "egs2/css10/tts1/conf/tuning/train_mvc_tiny.yaml"
    datadir.check_config(tiny, train, use_sid=False, use_lid=True)
    with pytest.raises(datadir.DataDirError, match="set langs >= 4"):
        datadir.check_config(ROOT / "espnet_mvc/conf/mvc_tiny.yaml", train, False, True)


# ---------------------------------------------------------------------------------- LJSpeech
def test_ljspeech_three_field_metadata(tmp_path):
    lj = tmp_path / "LJSpeech-1.1"
    lines = []
    for i in range(6):
        uid = f"LJ001-{i + 1:04d}"
        _noise(lj / "wavs" / f"{uid}.wav", 22050, 0.2, seed=i)
        raw, norm = (f'Dr. Smith paid ${i} in "{1800 + i}".',
                     f'Doctor Smith paid {["zero", "one", "two", "three", "four", "five"][i]} '
                     f'dollars in "eighteen hundred".')
        lines.append(f"{uid}|{raw}|{norm}")
    (lj / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = tmp_path / "data"
    corpora.prep_ljspeech(lj, data, n_dev=1, n_eval=1)
    text = _kv(data / "tr_no_dev" / "text")
    assert len(text) == 4 and set(_kv(data / "tr_no_dev" / "utt2spk").values()) == {"LJ"}
    assert text["LJ001-0002"] == 'Doctor Smith paid one dollars in "eighteen hundred".'
    assert list(_kv(data / "eval1" / "text")) == ["LJ001-0006"]

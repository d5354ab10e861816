"""The real-voice test set (espnet_mvc.recipe.realvoice) without network or real .debs:
fake .debs with synthetic voices, and the selection rules of the real packages' layouts.
The scores that benchmark quality computes on the set: tests/test_quality_realvoice.py."""

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_mvc.recipe import debian_package, g722
from espnet_mvc.recipe import realvoice as rv

FIXTURE = Path(__file__).parent / "data" / "realvoice" / "asterisk_allison_ref.flac"


# ----------------------------------------------------------------------------- fake .debs


def _voice(seconds: float, f0: float, fs: int, seed: int, channels: int = 1) -> np.ndarray:
    """A harmonic 'voice' with 0.3 s of silence on each side (trimmed by the builder)."""
    t = np.arange(int(seconds * fs)) / fs
    x = sum(np.sin(2 * np.pi * f0 * k * t + seed) / k for k in range(1, 6)) * 0.2
    x *= np.hanning(len(x)) ** 0.1
    pad = np.zeros(int(0.3 * fs))
    x = np.concatenate([pad, x, pad]).astype(np.float32)
    return np.stack([x] * channels, 1) if channels > 1 else x


def _tar_xz(files) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as t:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ar(members) -> bytes:
    out = [b"!<arch>\n"]
    for name, data in members:
        head = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n"
        out += [head.encode("ascii"), data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def _audio_bytes(x: np.ndarray, fs: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, fs, format=fmt, subtype="PCM_16" if fmt == "WAV" else None)
    return buf.getvalue()


def make_deb(dirpath: Path, package: str, files, version: str = "1.0-1") -> Path:
    """A minimal .deb (ar: debian-binary, control.tar.xz, data.tar.xz) as dpkg-deb builds."""
    control = _tar_xz({"control": f"Package: {package}\nVersion: {version}\n".encode()})
    files = dict(files)
    files[f"usr/share/doc/{package}/copyright"] = f"{package}: GPL-2+ (fake)\n".encode()
    deb = Path(dirpath) / f"{package}_{version}_all.deb"
    deb.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", control),
                         ("data.tar.xz", _tar_xz(files))]))
    return deb


@pytest.fixture(scope="module")
def fake_debs(tmp_path_factory):
    """Two packages: 'voices-a' with one speaker of long lines (wav, 48 kHz stereo) and one
    of short words (ogg, 22.05 kHz), plus 8 kHz recordings that must be skipped;
    'voices-b' with one speaker of words in a subdir layout."""
    d = tmp_path_factory.mktemp("debs")
    a = {}
    for i in range(4):  # 4 lines of 3.2 s
        a[f"usr/share/va/lines/l{i}.wav"] = _audio_bytes(_voice(3.2, 110, 48000, i, 2), 48000,
                                                         "WAV")
    for i in range(12):  # 12 words of 0.8 s
        a[f"usr/share/va/words/w{i:02d}.ogg"] = _audio_bytes(_voice(0.8, 220, 22050, i), 22050,
                                                             "OGG")
    for i in range(10):  # narrow band: never used
        a[f"usr/share/va/words/z{i:02d}.wav"] = _audio_bytes(_voice(2.0, 300, 8000, i), 8000,
                                                             "WAV")
    make_deb(d, "voices-a", a)
    b = {f"usr/share/vb/{sub}/{i}.wav": _audio_bytes(_voice(1.1, 180, 44100, i), 44100, "WAV")
         for sub in ("alpha", "syllab") for i in range(5)}
    make_deb(d, "voices-b", b, version="2:3.4-5")
    return d


PEOPLE = (
    rv.Person("a_lines", "voices-a", "GPL-2", "xx", ("usr/share/va/lines/*.wav",),
              min_segment=1.0),
    rv.Person("a_words", "voices-a", "CC0", "yy", ("usr/share/va/words/*",)),
    rv.Person("b_words", "voices-b", "GPL-2+", "zz", ("usr/share/vb/*.wav",),
              exclude=(r"/syllab/4\.wav$",)),
)


def test_builds_two_clips_per_person_from_fake_debs(fake_debs, tmp_path):
    out = tmp_path / "set"
    manifest = rv.build(out, [fake_debs], tmp_path / "cache", download=False, persons=PEOPLE,
                        log=lambda m: None)
    rows = rv.read_manifest(out)
    assert manifest == out / "manifest.tsv"
    assert manifest.read_text().splitlines()[0].split("\t") == list(rv.COLUMNS)
    assert sorted({r["person"] for r in rows}) == ["a_lines", "a_words", "b_words"]
    for p in PEOPLE:
        mine = [r for r in rows if r["person"] == p.person]
        assert [r["role"] for r in mine] == ["ref", "ceiling"]
        assert [r["clip_id"] for r in mine] == [f"{p.person}_ref", f"{p.person}_ceiling"]
        srcs = [set(r["sources"].split("+")) for r in mine]
        assert not srcs[0] & srcs[1], "the ceiling clip reuses the reference's recordings"
        for r in mine:
            assert (r["source_package"], r["license"], r["language"]) == (
                p.package, p.license, p.language)
            x, fs = sf.read(r["path"])
            info = sf.info(r["path"])
            assert (fs, info.channels, info.subtype, info.format) == (24000, 1, "PCM_16", "FLAC")
            assert 3.0 <= len(x) / fs <= 10.0
            assert float(r["seconds"]) == pytest.approx(len(x) / fs, abs=0.01)
            assert np.abs(x).max() == pytest.approx(10 ** (-1 / 20), abs=1e-3)
    by = {r["clip_id"]: r for r in rows}
    assert by["a_lines_ref"]["sources"] == "l0.wav+l1.wav"  # 3.2 s lines: two make 5 s
    assert by["a_words_ref"]["sources"].count("+") >= 3  # 0.8 s words joined
    assert not any(s.startswith("z") for r in rows for s in r["sources"].split("+"))  # 8 kHz
    assert by["b_words_ref"]["sources"].startswith("alpha/0.wav+alpha/1.wav+")
    assert "syllab/4.wav" not in by["b_words_ceiling"]["sources"]  # excluded
    assert by["b_words_ref"]["package_version"] == "2:3.4-5"
    assert sorted(p.name for p in (out / "licenses").iterdir()) == [
        "voices-a.copyright", "voices-b.copyright"]
    # joined words: the gaps are there, and the silence around each word is trimmed
    x, fs = sf.read(by["a_words_ref"]["path"])
    n_words = by["a_words_ref"]["sources"].count("+") + 1
    gaps = (n_words - 1) * 0.15  # trim_silence keeps up to a frame (43 ms) around each word
    assert n_words * 0.8 + gaps <= len(x) / fs <= n_words * 0.9 + gaps


def test_build_is_deterministic_and_skips_an_up_to_date_set(fake_debs, tmp_path):
    kw = dict(download=False, persons=PEOPLE, log=lambda m: None)
    rv.build(tmp_path / "one", [fake_debs], tmp_path / "cache", **kw)
    rv.build(tmp_path / "two", [fake_debs], tmp_path / "cache", **kw)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*")
                   if p.is_file())
    assert files and all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f)
                         .read_bytes() for f in files)
    said = []
    rv.build(tmp_path / "one", [], tmp_path / "nothing-here", download=False, persons=PEOPLE,
             log=said.append)  # no .debs needed when nothing changed
    assert "up to date" in said[0]


def test_missing_package_is_named_with_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(rv.RealVoiceError, match=r"'voices-a'.*a_lines.*apt-get download "
                                                r"voices-a.*--deb-dir"):
        rv.build(tmp_path / "set", [tmp_path], tmp_path / "cache", download=False,
                 persons=PEOPLE, log=lambda m: None)
    monkeypatch.setattr(debian_package.shutil, "which", lambda name: None)
    with pytest.raises(debian_package.DebError, match=r"'voices-a'.*apt-get is not installed"):
        debian_package.find_deb("voices-a", [], tmp_path / "cache", download=True)
    fake = tmp_path / "bin" / "apt-get"  # an apt-get that cannot find the package
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"E: Unable to locate package $2\"\nexit 100\n")
    fake.chmod(0o755)
    monkeypatch.setattr(debian_package.shutil, "which", lambda name: str(fake))
    with pytest.raises(debian_package.DebError, match=r"`apt-get download nope-pkg` failed \(exit "
                                                r"100: E: Unable to locate package nope-pkg\)"):
        debian_package.find_deb("nope-pkg", [], tmp_path / "cache", download=True)
    assert not (tmp_path / "set").exists()


def test_apt_get_download_goes_to_the_cache(fake_debs, tmp_path, monkeypatch):
    fake = tmp_path / "apt-get"
    fake.write_text(f"#!/bin/sh\ncp {fake_debs}/$2_*.deb .\n")
    fake.chmod(0o755)
    monkeypatch.setattr(debian_package.shutil, "which", lambda name: str(fake))
    deb = debian_package.find_deb("voices-b", [], tmp_path / "cache", download=True)
    assert deb.parent == tmp_path / "cache" and deb.name.startswith("voices-b_")


def test_not_enough_audio_is_an_error_naming_the_person():
    word = np.ones(int(0.8 * rv.FS), np.float32)
    with pytest.raises(rv.RealVoiceError, match="shorty: not enough audio for 2 clips"):
        rv.build_clips([(f"w{i}", word) for i in range(5)], who="shorty")
    # just enough: 8 words of 0.8 s (+ gaps) split evenly into two clips of >= 3 s
    clips = rv.build_clips([(f"w{i}", word) for i in range(8)], who="ok")
    assert [len(c.sources) for c in clips] == [4, 4]
    assert all(3.0 <= c.seconds <= 10.0 for c in clips)
    # a long piece alone; pieces over the maximum or under min_segment are skipped
    long, huge, tiny = (np.ones(int(s * rv.FS), np.float32) for s in (6.0, 11.0, 0.5))
    clips = rv.build_clips([("huge", huge), ("a", long), ("t", tiny), ("b", long)],
                           min_segment=1.0)
    assert [c.sources for c in clips] == [["a"], ["b"]]


def test_the_shipped_people():
    people = rv.PERSONS
    assert len(people) >= 8 and len({p.person for p in people}) == len(people)
    assert not {p.package for p in people} & set(rv.HELD_OUT_PACKAGES)
    assert all(p.license and p.language and p.patterns for p in people)
    # one person per language and package family (a translator may record both KDE games)
    kde = [p.language for p in people if p.package in ("ktuberling-data", "klettres-data")]
    assert len(kde) == len(set(kde))
    festvox = rv.Person("nsh", "festvox-ru", "BSD", "ru", ("*.wav",))
    with pytest.raises(rv.RealVoiceError, match="festvox-ru trains a shipped model"):
        rv.build(Path("/nonexistent/x"), persons=(festvox,), download=False)


def test_file_selection_follows_the_games_naming():
    by = {p.person: p for p in rv.PERSONS}
    snd = "usr/share/games/fillets-ng/sound"
    files = [f"{snd}/airplane/cs/let-m-oko.ogg", f"{snd}/airplane/cs/let-v-vrak0.ogg",
             f"{snd}/city/cs/vit-hs-klid1.ogg", f"{snd}/keys/cs/k-m-x.ogg",
             f"{snd}/linux/cs/m-radi.ogg", f"{snd}/linux/cs/1-ubuntu.ogg",
             f"{snd}/linux/cs/2-root.ogg", f"{snd}/share/border/cs/cil-m-hlaska1.ogg"]
    assert rv._select(files, by["fillets_cs_small"]) == [f"{snd}/airplane/cs/let-m-oko.ogg"]
    assert rv._select(files, by["fillets_cs_big"]) == [f"{snd}/airplane/cs/let-v-vrak0.ogg"]
    assert rv._select(files, by["fillets_cs_linuxer1"]) == [f"{snd}/linux/cs/1-ubuntu.ogg"]
    ast = "usr/share/asterisk/sounds/en_US_f_Allison"
    assert rv._select([f"{ast}/vm-intro.g722", f"{ast}/digits/1.g722"],
                      by["asterisk_allison"]) == [f"{ast}/vm-intro.g722"]
    alsa = "usr/share/sounds/alsa"
    assert rv._select([f"{alsa}/Front_Left.wav", f"{alsa}/Noise.wav"], by["alsa_voice"]) == [
        f"{alsa}/Front_Left.wav"]


def test_g722_decoder_shape_and_range():
    data = bytes(np.random.RandomState(0).randint(0, 256, 4000).astype(np.uint8))
    y = g722.decode_g722(data)
    assert y.dtype == np.int16 and y.shape == (8000,)
    assert np.abs(g722.decode_g722(bytes([0xFF] * 4000)).astype(int)).max() < 2000  # idle


def test_fixture_is_the_sets_reference_clip():
    info = sf.info(str(FIXTURE))
    assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
    assert 4.0 <= info.frames / info.samplerate <= 8.0
    assert (FIXTURE.parent / "LICENSE.md").is_file()
    built = rv.DEFAULT_OUT / "wav" / FIXTURE.name
    if not built.is_file():
        pytest.skip(f"the real-voice set is not built at {rv.DEFAULT_OUT}")
    assert built.read_bytes() == FIXTURE.read_bytes()

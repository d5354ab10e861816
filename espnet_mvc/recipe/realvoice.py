"""Real-voice test set: two reference clips of each of 10 real people, from Debian packages.

    python -m espnet_mvc.recipe.realvoice [--out-dir DIR] [--deb-dir DIR] [--cache-dir DIR]
    (or, from egs2/kokoro_en/tts1: local/realvoice.sh)

``python -m espnet_mvc.bin.benchmark quality`` clones every person's reference clip and
scores the outputs against it (issue 22); ``--realvoice DIR`` there reads the set, by default
from the same place this script writes it.

Where: ``<out-dir>/manifest.tsv``, default ``egs2/kokoro_en/tts1/data/realvoice/manifest.tsv``
(:data:`DEFAULT_OUT`; ``data/`` is not committed), the clips in ``<out-dir>/wav/``, each source
package's Debian copyright file in ``<out-dir>/licenses/<package>.copyright``.

Manifest: tab-separated, a header line, one row per clip (two per person: ``ref`` then
``ceiling``), rows sorted by person. Columns, read them by name (:func:`read_manifest`):

    person          id of the person, e.g. ``asterisk_allison``
    clip_id         ``<person>_<role>``
    role            ``ref``: the reference to clone; ``ceiling``: a second clip of the same
                    person made of other recordings (similarity(ref, ceiling) is about
                    what a perfect clone could score)
    path            the clip, relative to the manifest's dir (``wav/<clip_id>.flac``):
                    mono, 24 kHz, 16-bit FLAC, silence trimmed, peak at -1 dBFS
    seconds         its length (3 to 10 s)
    source_package  the Debian package the recordings come from
    license         the license of those recordings (from the package's copyright file)
    language        what the person speaks in the clip (ISO 639-1)
    package_version the package version used
    sources         the recordings joined into the clip, ``+``-separated, as paths below
                    the directory that holds all of the person's recordings in the package
                    (short ones are joined with 0.15 s of silence between them)

The people (:data:`PERSONS`) must stay out of all training: festvox-ru's speaker
(msu_ru_nsh) trains the vocoder and is therefore not in the set (:data:`HELD_OUT_PACKAGES`).
Identity was checked by the file naming, the dialog scripts and credits of the games, and
with Resemblyzer d-vectors of 4 s groups of recordings of each candidate source: each chosen
source agrees with itself (mean 0.79-0.93 between its groups), no two chosen sources are
closer than 0.77, and sources that sound like one person (0.79-0.93 apart) gave one person
at most (see each entry's note).

The .debs come from ``--deb-dir`` (``<package>_*.deb``), else the cache dir, else
``apt-get download <package>`` into the cache dir; a missing package stops the build with a
message naming it and how to get it (:mod:`espnet_mvc.recipe.debian_package`; no dpkg
needed). Asterisk's G.722 prompts are decoded by :mod:`espnet_mvc.recipe.g722`.
Deterministic: the same packages give the same files.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

from espnet_mvc.inference.reference_audio import resample, trim_silence
from espnet_mvc.recipe.debian_package import DebError, deb_version, extract_deb, find_deb
from espnet_mvc.recipe.g722 import decode_g722

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "egs2" / "kokoro_en" / "tts1" / "data" / "realvoice"
DEFAULT_CACHE = REPO / "egs2" / "kokoro_en" / "tts1" / "downloads" / "debs"
MANIFEST = "manifest.tsv"
COLUMNS = ("person", "clip_id", "role", "path", "seconds", "source_package", "license",
           "language", "package_version", "sources")
ROLES = ("ref", "ceiling")

FS = 24000          # the clips' rate (the shipped model's)
MIN_SECONDS = 3.0   # each clip
MAX_SECONDS = 10.0
TARGET_SECONDS = 5.0  # a clip is closed once this long (less when a person has little audio)
GAP_SECONDS = 0.15  # silence between joined recordings
MIN_SOURCE_FS = 16000  # narrow-band (8 kHz) recordings are not used
PEAK = 10 ** (-1 / 20)  # -1 dBFS
BUILDER_VERSION = 2  # bump when a change to this file changes what it writes
# Levels that Fish Fillets NG added to ALTAR's game (recorded later at 44.1 kHz, not by
# ALTAR's actors): the small and big fish there may be other people.
FILLETS_NG_LEVELS = ("fdto", "hanoi", "hole", "keys", "linux", "nowall", "rush")
_FILLETS = "usr/share/games/fillets-ng/sound"
_NG = tuple(rf"^{_FILLETS}/{lvl}/" for lvl in FILLETS_NG_LEVELS) + (rf"^{_FILLETS}/share/",)


def _ktuberling(lang: str) -> Tuple[str, ...]:
    return tuple(f"usr/share/ktuberling/sounds/{lang}/*.{ext}" for ext in ("ogg", "wav"))


@dataclass(frozen=True)
class Person:
    """One real person and where their recordings are in a package."""

    person: str
    package: str
    license: str
    language: str
    patterns: Tuple[str, ...]  # fnmatch patterns on paths inside the package (``*`` spans /)
    exclude: Tuple[str, ...] = ()  # regexes on those paths
    min_segment: float = 0.3  # shortest recording used (s, after trimming)
    note: str = ""


PERSONS: Tuple[Person, ...] = (
    Person("asterisk_allison", "asterisk-core-sounds-en-g722", "CC-BY-SA-3.0", "en",
           ("usr/share/asterisk/sounds/en_US_f_Allison/*.g722",),
           exclude=(r"/en_US_f_Allison/.+/",), min_segment=3.0,
           note="Allison Smith, US English female, the Asterisk PBX prompts (16 kHz G.722, "
                "decoded here); whole prompts of 3 s or more, one per clip"),
    Person("alsa_voice", "alsa-utils", "GPL-2", "en",
           ("usr/share/sounds/alsa/*.wav",), exclude=(r"Noise\.wav$",),
           note="the speaker-test channel names ('Front Left', ...), one voice, 48 kHz"),
    Person("fillets_cs_small", "fillets-ng-data-cs", "GPL-2", "cs",
           (f"{_FILLETS}/*/cs/*-m-*.ogg",), exclude=_NG, min_segment=1.0,
           note="Fish Fillets, the small fish (file code -m-, dialog font font_small in every "
                "level), ALTAR's actor; the NG levels are left out"),
    Person("fillets_cs_big", "fillets-ng-data-cs", "GPL-2", "cs",
           (f"{_FILLETS}/*/cs/*-v-*.ogg",), exclude=_NG, min_segment=1.0,
           note="Fish Fillets, the big fish (code -v-, font_big), ALTAR's actor; NG levels "
                "left out"),
    Person("fillets_cs_linuxer1", "fillets-ng-data-cs", "GPL-2", "cs",
           (f"{_FILLETS}/linux/cs/1-*.ogg",), min_segment=1.0,
           note="Fish Fillets NG's linux level, the first linuxer (code 1-, font_linuxer1; "
                "18 lines); not like any other voice of the game (at most 0.75). ALTAR's "
                "minor characters (statue, vikings, parrot, robodog, ...) sound like one "
                "actor (0.82-0.93 to each other) and are left out"),
    Person("ktuberling_fr", "ktuberling-data", "GPL-2+", "fr",
           _ktuberling("fr"),
           note="KTuberling's French words; Walloon (wa, 0.79 to it) is left out"),
    Person("ktuberling_de", "ktuberling-data", "GPL-2+", "de",
           _ktuberling("de"),
           note="KTuberling's German words; English (en, 0.79 to it) is left out"),
    Person("ktuberling_lt", "ktuberling-data", "GPL-2+", "lt",
           _ktuberling("lt"), note="KTuberling's Lithuanian words"),
    Person("ktuberling_el", "ktuberling-data", "GPL-2+", "el",
           _ktuberling("el"), note="KTuberling's Greek words"),
    Person("klettres_es", "klettres-data", "GPL-2+", "es",
           ("usr/share/klettres/es/*.ogg",),
           note="KLettres' Spanish letters and syllables"),
)
# Never in the set: the people whose recordings train a shipped model.
HELD_OUT_PACKAGES = ("festvox-ru",)


class RealVoiceError(RuntimeError):
    """The set cannot be built; the message says what is missing and what to do."""


# ----------------------------------------------------------------------------- audio


def raw_seconds(path: Path) -> Tuple[float, int]:
    """Length and sample rate of a recording without decoding it."""
    if path.suffix == ".g722":
        return path.stat().st_size / 8000.0, 16000
    info = sf.info(str(path))
    return info.frames / info.samplerate, info.samplerate


def load_audio(path: Path) -> Tuple[np.ndarray, int]:
    """Mono float32 waveform and its rate (wav/ogg/flac through libsndfile, or .g722)."""
    if path.suffix == ".g722":
        return decode_g722(path.read_bytes()).astype(np.float32) / 32768.0, 16000
    x, fs = sf.read(str(path), dtype="float32", always_2d=True)
    return x.mean(axis=1), int(fs)


def prepare(x: np.ndarray, fs: int) -> np.ndarray:
    """To :data:`FS` with the project's resampler, silence trimmed at both ends."""
    return trim_silence(resample(np.asarray(x, np.float32), fs, FS), FS)


@dataclass
class Clip:
    sources: List[str] = field(default_factory=list)
    parts: List[np.ndarray] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        n = sum(len(p) for p in self.parts) + int(round(GAP_SECONDS * FS)) * max(
            0, len(self.parts) - 1)
        return n / FS

    def audio(self) -> np.ndarray:
        gap = np.zeros(int(round(GAP_SECONDS * FS)), np.float32)
        out = []
        for i, p in enumerate(self.parts):
            out += ([gap] if i else []) + [p]
        y = np.concatenate(out).astype(np.float32)
        return y * (PEAK / max(float(np.abs(y).max()), 1e-9))


def build_clips(segments: Iterable[Tuple[str, np.ndarray]], n: int = 2,
                target: float = TARGET_SECONDS, min_seconds: float = MIN_SECONDS,
                max_seconds: float = MAX_SECONDS, min_segment: float = 0.3,
                who: str = "") -> List[Clip]:
    """Join recordings, in the order given, into ``n`` clips of ``min_seconds``-``max_seconds``.

    ``segments``: (name, trimmed waveform at :data:`FS`). Pieces shorter than ``min_segment``
    or longer than ``max_seconds`` are skipped. Each clip takes pieces until it reaches
    ``target`` seconds, or ``1/n`` of all the audio when there is less than ``n * target``,
    and stops before a piece that would take it farther from that goal (once it has
    ``min_seconds`` and 80 % of the goal); a piece that would pass ``max_seconds`` is left for the next clip.
    At most ``n * 2 * max_seconds`` of audio is read. Raises :class:`RealVoiceError` when
    ``n`` clips of at least ``min_seconds`` cannot be made.
    """
    gap = GAP_SECONDS
    pool: List[Tuple[str, np.ndarray]] = []
    total = 0.0
    for name, x in segments:
        s = len(x) / FS
        if s < min_segment or s > max_seconds:
            continue
        pool.append((name, x))
        total += s + gap
        if total >= n * 2 * max_seconds:  # enough to choose from
            break
    goal = min(target, max(min_seconds, (total - gap) / n))
    clips: List[Clip] = []
    cur = Clip()
    for name, x in pool:
        if len(clips) == n:
            break
        s = len(x) / FS
        if cur.parts and cur.seconds >= max(min_seconds, 0.8 * goal) and (
                abs(cur.seconds + gap + s - goal) > abs(cur.seconds - goal)):
            clips.append(cur)  # nearer the goal without this piece: it starts the next clip
            cur = Clip()
            if len(clips) == n:
                break
        if cur.parts and cur.seconds + gap + s > max_seconds:
            continue
        cur.sources.append(name)
        cur.parts.append(x)
        if cur.seconds >= goal - 1e-9:
            clips.append(cur)
            cur = Clip()
    if len(clips) < n and cur.parts and cur.seconds >= min_seconds:
        clips.append(cur)
    if len(clips) < n:
        got = ", ".join(f"{c.seconds:.1f} s" for c in clips) or "none"
        raise RealVoiceError(
            f"{who or 'a person'}: not enough audio for {n} clips of {min_seconds:g}-"
            f"{max_seconds:g} s (made: {got}; {len(pool)} usable recordings, "
            f"{max(0.0, total - gap):.1f} s with gaps)")
    return clips


def _matcher(person: Person):
    """``path -> bool``: whether a path inside the package is one of the person's recordings."""
    pats = [re.compile(fnmatch.translate(p)) for p in person.patterns]
    excl = [re.compile(e) for e in person.exclude]
    return lambda f: any(p.match(f) for p in pats) and not any(e.search(f) for e in excl)


def _select(files: Sequence[str], person: Person) -> List[str]:
    return sorted(filter(_matcher(person), files))


def person_segments(root: Path, files: Sequence[str], person: Person
                    ) -> Iterator[Tuple[str, np.ndarray]]:
    """The person's recordings in path order, narrow-band and too short ones skipped cheaply."""
    for rel in files:
        path = Path(root) / rel
        seconds, fs = raw_seconds(path)
        if fs < MIN_SOURCE_FS or seconds < person.min_segment:
            continue
        x, fs = load_audio(path)
        yield rel, prepare(x, fs)


# ----------------------------------------------------------------------------- the set


def spec_hash(persons: Sequence[Person]) -> str:
    blob = json.dumps([asdict(p) for p in persons] + [BUILDER_VERSION, FS, MIN_SECONDS, MAX_SECONDS,
                      TARGET_SECONDS, GAP_SECONDS, MIN_SOURCE_FS, PEAK], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def build(out_dir: Path, deb_dirs: Sequence[Path] = (), cache_dir: Path = DEFAULT_CACHE,
          download: bool = True, persons: Sequence[Person] = PERSONS,
          force: bool = False, log=print) -> Path:
    """Build the set into ``out_dir``; returns the manifest's path."""
    out_dir = Path(out_dir)
    manifest = out_dir / MANIFEST
    stamp = out_dir / ".spec"
    want = spec_hash(persons)
    if (not force and manifest.is_file() and stamp.is_file()
            and stamp.read_text().strip() == want
            and all((out_dir / r["path"]).is_file() for r in _read_rows(manifest))):
        log(f"realvoice: {manifest} is up to date ({len(persons)} people)")
        return manifest
    for p in persons:
        if p.package in HELD_OUT_PACKAGES:
            raise RealVoiceError(f"{p.person}: {p.package} trains a shipped model; its "
                                 f"speaker cannot be in the real-voice test set")
    if len({p.person for p in persons}) != len(persons):
        raise RealVoiceError("two entries of the real-voice set have the same person id")
    packages = sorted({p.package for p in persons})
    try:
        debs = {pkg: find_deb(pkg, deb_dirs, Path(cache_dir), download,
                              who=", ".join(p.person for p in persons if p.package == pkg))
                for pkg in packages}
    except DebError as e:
        raise RealVoiceError(str(e)) from e
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=str(out_dir.parent)))
    rows = []
    try:
        (tmp / "wav").mkdir()
        (tmp / "licenses").mkdir()
        for pkg in packages:
            mine = [p for p in persons if p.package == pkg]
            doc = f"usr/share/doc/{pkg}/copyright"
            wanted = [_matcher(p) for p in mine]
            with tempfile.TemporaryDirectory(prefix="deb.", dir=str(tmp)) as root:
                files = extract_deb(debs[pkg], Path(root),
                                    lambda f: f == doc or any(m(f) for m in wanted))
                if doc in files:
                    shutil.copyfile(Path(root) / doc, tmp / "licenses" / f"{pkg}.copyright")
                version = deb_version(debs[pkg])
                for p in mine:
                    sel = _select(files, p)
                    if not sel:
                        raise RealVoiceError(
                            f"{p.person}: no recordings matching {', '.join(p.patterns)} in "
                            f"{debs[pkg].name}; is it the right package?")
                    clips = build_clips(person_segments(Path(root), sel, p),
                                        min_segment=p.min_segment, who=p.person)
                    common = os.path.commonpath([str(PurePosixPath(f).parent) for f in sel])
                    for role, c in zip(ROLES, clips):
                        clip_id = f"{p.person}_{role}"
                        rel = f"wav/{clip_id}.flac"
                        sf.write(str(tmp / rel), c.audio(), FS, subtype="PCM_16",
                                 format="FLAC")
                        rows.append(dict(
                            person=p.person, clip_id=clip_id, role=role, path=rel,
                            seconds=f"{c.seconds:.2f}", source_package=pkg,
                            license=p.license, language=p.language,
                            package_version=version,
                            sources="+".join(os.path.relpath(f, common) for f in c.sources)))
                    log(f"realvoice: {p.person:20s} {pkg} ({p.license}, {p.language}): "
                        + ", ".join(f"{r['role']} {r['seconds']} s" for r in rows
                                    if r["person"] == p.person))
        rows.sort(key=lambda r: (r["person"], ROLES.index(r["role"])))
        with open(tmp / MANIFEST, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        (tmp / ".spec").write_text(want + "\n")
        tmp.chmod(0o755)  # mkdtemp's 0700 would otherwise stay on out_dir
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"realvoice: wrote {manifest}: {len(persons)} people, {len(rows)} clips")
    return manifest


def _read_rows(manifest: Path) -> List[Dict[str, str]]:
    with open(manifest, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_manifest(where: Path) -> List[Dict[str, str]]:
    """The clips of a built set (``where``: its dir or its manifest.tsv), ``path`` absolute.

    Raises FileNotFoundError when there is no manifest, ValueError when it is malformed.
    """
    where = Path(where)
    manifest = where / MANIFEST if where.is_dir() or not where.suffix else where
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no real-voice set (build it with "
                                f"egs2/kokoro_en/tts1/local/realvoice.sh)")
    rows = _read_rows(manifest)
    for i, r in enumerate(rows, 2):
        missing = [c for c in COLUMNS[:8] if not r.get(c)]
        if missing or r["role"] not in ROLES:
            raise ValueError(f"{manifest}:{i}: bad row (missing {missing or 'nothing'}, "
                             f"role {r.get('role')!r})")
        r["path"] = str((manifest.parent / r["path"]).resolve())
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--deb-dir", type=Path, action="append", default=[],
                    help="a directory holding the .debs (may be given several times)")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                    help="where apt-get download puts the .debs (also searched)")
    ap.add_argument("--no-download", action="store_true", help="never run apt-get")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    a = ap.parse_args(argv)
    try:
        build(a.out_dir, a.deb_dir, a.cache_dir, download=not a.no_download, force=a.force,
              log=lambda m: print(m, file=sys.stderr, flush=True))
    except (RealVoiceError, DebError) as e:
        print(f"realvoice: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Stage 1 data preparation for the real corpora (LJSpeech, VCTK 0.92, CSS10).

Run by ``local/data.sh`` as ``python -m espnet_mvc.recipe.corpora <corpus> ...``. Checks the
corpus layout, that every listed recording exists, is readable, non-empty and has the
corpus' sample rate, then writes Kaldi-style data dirs
``<data-dir>/<set>/{wav.scp,text,utt2spk,spk2utt,utt2lang}``. Any problem stops with a
message that names the file and what is wrong.

  ljspeech <root>   LJSpeech-1.1: metadata.csv (id|text|normalized) + wavs/<id>.wav,
                    22050 Hz. ESPnet's split: the last 500 utterances -> 250 dev
                    + 250 eval1, the rest -> tr_no_dev.
  vctk <root>       VCTK-Corpus-0.92: wav48_silence_trimmed/<spk>/<spk>_NNN_mic1.flac
                    + txt/<spk>/<spk>_NNN.txt, 48 kHz. Every speaker folder of the release
                    is read (109 pXXX and s5). Per seen speaker, ESPnet's split: the last
                    10 utterances -> 5 eval1 + 5 dev. Held-out speakers (never trained on;
                    YourTTS' zero-shot set by default) -> test_zeroshot with ref.scp
                    (another utterance of the same speaker). The release's gaps are
                    skipped with a note naming them: speakers without any transcript
                    (p315), speakers without a recording from --mic (p280 has no mic2),
                    and transcripts without a recording (p362 lacks some files).
  css10 <root>      CSS10: <root>/<lang>/transcript.txt (path|text|normalized|duration,
                    paths relative to <root>/<lang>), 22050 Hz; <lang> is es/de/fr (or
                    spanish/german/french). Per language: the last 100 utterances -> 50 dev
                    + 50 eval1. One speaker per language; utt2lang for per-language espeak.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

import soundfile as sf

from espnet_mvc.recipe.datadir import write_datadir

# YourTTS / common zero-shot VCTK test speakers (held out from training)
VCTK_ZEROSHOT_SPEAKERS = [
    "p225", "p234", "p238", "p245", "p248", "p261", "p294", "p302", "p326", "p335", "p347",
]
VCTK_MICS = ("mic1", "mic2")
CSS10_LANGS = {"es": "spanish", "de": "german", "fr": "french"}


class CorpusError(Exception):
    pass


def check_audio(path: Path, expect_fs: int, what: str) -> float:
    """Duration in seconds; raises CorpusError naming the file and the problem."""
    if not path.is_file():
        raise CorpusError(f"{what}: audio file not found: {path}")
    if path.stat().st_size == 0:
        raise CorpusError(f"{what}: empty audio file: {path}")
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises RuntimeError/LibsndfileError
        raise CorpusError(f"{what}: unreadable audio file {path}: {e}") from e
    if info.frames == 0:
        raise CorpusError(f"{what}: audio file has no samples: {path}")
    if info.samplerate != expect_fs:
        raise CorpusError(
            f"{what}: {path} has sample rate {info.samplerate} Hz, expected {expect_fs} Hz "
            "(is this the original corpus?)"
        )
    return info.frames / info.samplerate


def write_sets(data_dir: Path, sets: Dict[str, List[dict]]):
    """One data dir per set; each utterance dict: id, wav, text, spk, lang, optional ref."""
    for name, utts in sets.items():
        if not utts:
            raise CorpusError(f"set {name} would be empty")
        write_datadir(data_dir / name, utts)
        n_spk = len({u["spk"] for u in utts})
        print(f"  {data_dir / name}: {len(utts)} utterances, {n_spk} speakers", file=sys.stderr)


def clean_text(t: str) -> str:
    return " ".join(t.replace("\t", " ").split())


# ----------------------------------------------------------------------------------
def prep_ljspeech(root: Path, data_dir: Path, n_dev: int = 250, n_eval: int = 250, check_all: bool = True):
    meta = root / "metadata.csv"
    if not root.is_dir():
        raise CorpusError(f"LJSpeech directory not found: {root}")
    if not meta.is_file():
        raise CorpusError(
            f"LJSpeech layout: {meta} not found (expected LJSpeech-1.1/metadata.csv and "
            f"LJSpeech-1.1/wavs/); contents of {root}: {sorted(p.name for p in root.iterdir())[:10]}"
        )
    if not (root / "wavs").is_dir():
        raise CorpusError(f"LJSpeech layout: {root / 'wavs'} not found")
    utts = []
    for i, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 2:
            raise CorpusError(f"{meta}: line {i}: expected 'id|text|normalized text', got: {line[:80]}")
        uid = parts[0].strip()
        text = clean_text(parts[2] if len(parts) > 2 and parts[2].strip() else parts[1])
        if not text:
            raise CorpusError(f"{meta}: line {i}: empty text for {uid}")
        wav = root / "wavs" / f"{uid}.wav"
        if check_all or i <= 5:
            check_audio(wav, 22050, f"{meta}: line {i}")
        utts.append(dict(id=uid, wav=str(wav.resolve()), text=text, spk="LJ", lang="en"))
    if len(utts) <= n_dev + n_eval:
        raise CorpusError(
            f"{meta}: only {len(utts)} utterances; need more than {n_dev + n_eval} "
            f"for the {n_dev} dev + {n_eval} eval split"
        )
    head, dev, ev = utts[: -(n_dev + n_eval)], utts[-(n_dev + n_eval): -n_eval], utts[-n_eval:]
    write_sets(data_dir, {"tr_no_dev": head, "dev": dev, "eval1": ev})


# ----------------------------------------------------------------------------------
def prep_vctk(
    root: Path,
    data_dir: Path,
    n_dev: int = 5,
    n_eval: int = 5,
    n_zeroshot: int = 10,
    zeroshot_speakers: Optional[List[str]] = None,
    mic: str = "mic1",
):
    if not root.is_dir():
        raise CorpusError(f"VCTK directory not found: {root}")
    wav_root = root / "wav48_silence_trimmed"
    txt_root = root / "txt"
    for p, what in ((wav_root, "wav48_silence_trimmed/"), (txt_root, "txt/")):
        if not p.is_dir():
            raise CorpusError(
                f"VCTK-Corpus-0.92 layout: {p} not found (expected {what} under {root}; "
                f"contents: {sorted(x.name for x in root.iterdir())[:10]})"
            )
    if mic not in VCTK_MICS:
        raise CorpusError(f"VCTK: unknown microphone {mic!r} (use {' or '.join(VCTK_MICS)})")
    zs = set(VCTK_ZEROSHOT_SPEAKERS if zeroshot_speakers is None else zeroshot_speakers)
    # every speaker folder, as the release has them: p225 ... p376 and s5
    spks = sorted(p.name for p in wav_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not spks:
        raise CorpusError(f"{wav_root}: no speaker directories (pXXX, s5)")
    no_text = [s for s in spks if not any((txt_root / s).glob(f"{s}_*.txt"))]
    if no_text:
        print(f"  note: VCTK speakers without transcripts skipped: {' '.join(no_text)}",
              file=sys.stderr)
    spks = [s for s in spks if s not in no_text]
    sets: Dict[str, List[dict]] = {"tr_no_dev": [], "dev": [], "eval1": [], "test_zeroshot": []}
    n_no_txt = 0
    no_mic: List[str] = []
    for spk in spks:
        files = sorted((wav_root / spk).glob(f"{spk}_*_{mic}.flac"))
        if not files:
            no_mic.append(spk)
            continue
        utts = []
        for i, f in enumerate(files):
            uid = f.name[: -len(f"_{mic}.flac")]
            txt = txt_root / spk / f"{uid}.txt"
            if not txt.is_file():
                n_no_txt += 1
                continue
            text = clean_text(txt.read_text(encoding="utf-8", errors="replace"))
            if not text:
                raise CorpusError(f"{txt}: empty transcript")
            if i < 3:  # the whole corpus is 44k files: check the first ones of each speaker
                check_audio(f, 48000, f"VCTK speaker {spk}")
            utts.append(dict(id=uid, wav=str(f.resolve()), text=text, spk=spk, lang="en"))
        unrecorded = sorted(t.stem for t in (txt_root / spk).glob(f"{spk}_*.txt")
                            if not (wav_root / spk / f"{t.stem}_{mic}.flac").exists())
        if unrecorded:
            print(f"  note: VCTK speaker {spk}: {len(unrecorded)} transcripts without a {mic} "
                  f"recording skipped ({' '.join(unrecorded[:5])}{' ...' if len(unrecorded) > 5 else ''})",
                  file=sys.stderr)
        if spk in zs:
            if len(utts) < 2:
                raise CorpusError(f"VCTK speaker {spk}: fewer than 2 utterances with text")
            test = utts[-min(n_zeroshot, len(utts) - 1):]
            for j, u in enumerate(test):
                u["ref"] = utts[j % (len(utts) - len(test))]["wav"]
            sets["test_zeroshot"] += test
            continue
        if len(utts) <= n_dev + n_eval:
            raise CorpusError(f"VCTK speaker {spk}: only {len(utts)} utterances with text")
        deveval = utts[-(n_dev + n_eval):]
        sets["tr_no_dev"] += utts[: -(n_dev + n_eval)]
        sets["eval1"] += deveval[:n_eval]
        sets["dev"] += deveval[n_eval:]
    if no_mic:
        print(f"  note: VCTK speakers without {mic} recordings skipped: {' '.join(no_mic)}",
              file=sys.stderr)
    missing_zs = sorted(zs - set(spks))
    if missing_zs and zeroshot_speakers is None and not sets["test_zeroshot"]:
        raise CorpusError(f"VCTK: none of the zero-shot speakers {sorted(zs)} found in {wav_root}")
    if missing_zs:
        print(f"  note: zero-shot speakers not found: {missing_zs}", file=sys.stderr)
    if n_no_txt:
        print(f"  note: {n_no_txt} recordings without a transcript skipped", file=sys.stderr)
    write_sets(data_dir, sets)


# ----------------------------------------------------------------------------------
def prep_css10(root: Path, data_dir: Path, langs: List[str], n_dev: int = 50, n_eval: int = 50):
    if not root.is_dir():
        raise CorpusError(f"CSS10 directory not found: {root}")
    sets: Dict[str, List[dict]] = {"tr_no_dev": [], "dev": [], "eval1": []}
    for lang in langs:
        if lang not in CSS10_LANGS:
            raise CorpusError(f"CSS10: unsupported language '{lang}' (use {sorted(CSS10_LANGS)})")
        cands = [root / lang, root / CSS10_LANGS[lang]]
        ldir = next((c for c in cands if (c / "transcript.txt").is_file()), None)
        if ldir is None:
            raise CorpusError(
                f"CSS10 {lang}: transcript.txt not found; looked for "
                + " and ".join(str(c / "transcript.txt") for c in cands)
            )
        tr = ldir / "transcript.txt"
        utts = []
        for i, line in enumerate(tr.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("|")
            if len(parts) < 3:
                raise CorpusError(f"{tr}: line {i}: expected 'path|text|normalized|duration', got: {line[:80]}")
            rel = parts[0].strip()
            text = clean_text(parts[2] if parts[2].strip() else parts[1])
            if not text:
                raise CorpusError(f"{tr}: line {i}: empty text for {rel}")
            wav = ldir / rel
            check_audio(wav, 22050, f"{tr}: line {i}")
            uid = f"css10_{lang}-" + Path(rel).with_suffix("").as_posix().replace("/", "_")
            utts.append(dict(id=uid, wav=str(wav.resolve()), text=text, spk=f"css10_{lang}", lang=lang))
        if len(utts) <= n_dev + n_eval:
            raise CorpusError(f"{tr}: only {len(utts)} utterances; need more than {n_dev + n_eval}")
        sets["tr_no_dev"] += utts[: -(n_dev + n_eval)]
        sets["dev"] += utts[-(n_dev + n_eval): -n_eval]
        sets["eval1"] += utts[-n_eval:]
    write_sets(data_dir, sets)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", choices=["ljspeech", "vctk", "css10"])
    ap.add_argument("root")
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--n-dev", type=int, default=None)
    ap.add_argument("--n-eval", type=int, default=None)
    ap.add_argument("--n-zeroshot", type=int, default=10, help="VCTK: test_zeroshot utterances per held-out speaker")
    ap.add_argument("--zeroshot-speakers", default=None, help="VCTK: space-separated held-out speakers")
    ap.add_argument("--langs", default="es de fr", help="CSS10 languages")
    ap.add_argument("--mic", default="mic1", choices=VCTK_MICS, help="VCTK: microphone (default mic1)")
    a = ap.parse_args(argv)
    root, data_dir = Path(a.root), Path(a.data_dir)
    try:
        if a.corpus == "ljspeech":
            prep_ljspeech(root, data_dir, a.n_dev or 250, a.n_eval or 250)
        elif a.corpus == "vctk":
            zs = a.zeroshot_speakers.split() if a.zeroshot_speakers is not None else None
            prep_vctk(root, data_dir, a.n_dev or 5, a.n_eval or 5, a.n_zeroshot, zs, a.mic)
        else:
            prep_css10(root, data_dir, a.langs.split(), a.n_dev or 50, a.n_eval or 50)
    except CorpusError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Put a recipe's packed model, its vocoder and a held-out set into espnet_mvc/pretrained/.

    cd egs2/kokoro_en/tts1 && python -m espnet_mvc.recipe.ship_model --name kokoro_en_mvc \
        --packed exp/tts_<tag>/packed.zip --vocoder exp/vocoder/vocoder.pth \
        --seen dump/raw/test --zeroshot dump/raw/test_zeroshot \
        --voices-from dump/raw/tr_no_dev --voice-names af_heart,am_adam,bf_emma \
        --default-voice af_heart --voice-aliases alloy=af_heart,echo=am_adam,fable=bf_emma

Writes ``espnet_mvc/pretrained/<name>/`` (into a temporary dir, renamed into place):
``packed.zip``, ``vocoder.pth`` + ``vocoder.yaml`` and ``heldout/``: ``heldout.tsv`` (utt,
spk, set, text, ref, rec), the corpus recordings ``rec/<utt>.flac`` and one reference clip
per voice ``ref/<spk>.flac`` (from the data dir's ``ref.scp``). The model card
(``MODEL_CARD.md``) is written by hand and kept if present.

With ``--voices-from`` (a Kaldi data dir with ``wav.scp`` and ``utt2spk``, e.g. the
training set) it writes the built-in voices (``voices/``,
:mod:`espnet_mvc.inference.builtin_voices`): for each of ``--voice-names`` (default: every speaker) the first utterance of that speaker
lasting 3-10 s, as a 24 kHz 16-bit FLAC ``voices/<name>.flac``, and ``voices.json`` with the
default voice and OpenAI's voice names mapped onto the voices (``--voice-aliases``; the
names left unmapped go to the default voice). Without it an existing ``voices/`` is kept,
as the model card is.

Run as ``python -m espnet_mvc.recipe.ship_model`` (stdlib, soundfile, ESPnet's Kaldi reader
``read_2columns_text``, and for the voices the package's resampler and voice index).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1] / "pretrained"
VOICE_FS = 24000
VOICE_SECONDS = (3.0, 10.0)


def copy_audio(src: str, dst: Path) -> None:
    import soundfile as sf

    if src.endswith("|"):
        raise ValueError(f"piped wav.scp entries are not supported: {src}")
    x, fs = sf.read(src, dtype="int16")
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, x, fs, subtype="PCM_16", format="FLAC")


def heldout_rows(d: Path, set_name: str, out: Path) -> List[dict]:
    """Copy a data dir's recordings and references (paths relative to the recipe dir, the
    current directory, as ESPnet's data dirs write them) into ``out``."""
    from espnet2.fileio.read_text import read_2columns_text

    wav, text, spk, ref = (
        read_2columns_text(d / f) for f in ("wav.scp", "text", "utt2spk", "ref.scp")
    )
    rows = []
    for utt in sorted(wav):
        rec = Path("rec") / f"{utt}.flac"
        refp = Path("ref") / f"{spk[utt]}.flac"
        copy_audio(wav[utt], out / rec)
        if not (out / refp).is_file():
            copy_audio(ref[utt], out / refp)
        rows.append(dict(utt=utt, spk=spk[utt], set=set_name, text=text[utt],
                         ref=str(refp), rec=str(rec)))
    return rows


def parse_aliases(spec: Optional[str]) -> Dict[str, str]:
    """``alloy=x,echo=y`` -> ``{"alloy": "x", "echo": "y"}``.

    Raises:
        ValueError: an item without ``=``.
    """
    out = {}
    for item in filter(None, (spec or "").split(",")):
        alias, sep, voice = item.partition("=")
        if not sep or not alias.strip() or not voice.strip():
            raise ValueError(f"--voice-aliases: {item!r} is not ALIAS=VOICE")
        out[alias.strip()] = voice.strip()
    return out


def pick_voice_clips(data_dir: Path,
                     names: Optional[List[str]]) -> Dict[str, Tuple[str, str, float]]:
    """For each speaker of ``names`` (default: every speaker of ``utt2spk``, sorted) the
    first utterance (in ``wav.scp``'s order) lasting 3-10 s.

    Returns:
        Dict[str, Tuple[str, str, float]]: speaker -> (utt, audio path, seconds).

    Raises:
        ValueError: a speaker not in the data dir, or without an utterance of 3-10 s.
    """
    import soundfile as sf
    from espnet2.fileio.read_text import read_2columns_text

    wav = read_2columns_text(data_dir / "wav.scp")
    spk = read_2columns_text(data_dir / "utt2spk")
    speakers = sorted(set(spk.values()))
    names = names or speakers
    unknown = [n for n in names if n not in speakers]
    if unknown:
        raise ValueError(f"--voice-names: {', '.join(unknown)} not in {data_dir}/utt2spk "
                         f"(speakers: {', '.join(speakers[:30])})")
    picked: Dict[str, Tuple[str, str, float]] = {}
    lo, hi = VOICE_SECONDS
    for utt, path in wav.items():  # wav.scp's order
        name = spk.get(utt)
        if name not in names or name in picked:
            continue
        if path.endswith("|"):
            raise ValueError(f"piped wav.scp entries are not supported: {path}")
        seconds = sf.info(path).duration
        if lo <= seconds <= hi:
            picked[name] = (utt, path, seconds)
    missing = [n for n in names if n not in picked]
    if missing:
        raise ValueError(f"no utterance of {lo:g}-{hi:g} s in {data_dir} for "
                         f"{', '.join(missing)}")
    return {n: picked[n] for n in names}


def write_voices(out: Path, data_dir: Path, names: Optional[List[str]],
                 default: Optional[str], aliases: Dict[str, str]) -> Path:
    """Write ``out/voices/``: one 24 kHz 16-bit FLAC per voice and ``voices.json``."""
    import numpy as np
    import soundfile as sf

    from espnet_mvc.inference.builtin_voices import OPENAI_VOICES, VOICES_DIR, BuiltinVoices
    from espnet_mvc.inference.reference_audio import resample

    clips = pick_voice_clips(data_dir, names)
    default = default or next(iter(clips))
    if default not in clips:
        raise ValueError(f"--default-voice {default!r} is not one of the voices "
                         f"({', '.join(clips)})")
    d = out / VOICES_DIR
    d.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, (utt, path, seconds) in clips.items():
        x, fs = sf.read(path, dtype="float32", always_2d=True)
        x = resample(x.mean(axis=1), fs, VOICE_FS)
        sf.write(d / f"{name}.flac", np.clip(x, -1.0, 1.0), VOICE_FS, subtype="PCM_16",
                 format="FLAC")
        entries[name] = dict(file=f"{name}.flac",
                             description=f"speaker {name} of {data_dir.name} ({utt}, "
                                         f"{seconds:.1f} s)")
    aliases = dict(aliases)
    for alias in OPENAI_VOICES:
        aliases.setdefault(alias, default)
    BuiltinVoices.write(d, entries, default, aliases)  # checked as loading checks it
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--packed", required=True, help="packed.zip of stage 10")
    ap.add_argument("--vocoder", required=True, help="vocoder.pth (vocoder.yaml beside it)")
    ap.add_argument("--seen", required=True, help="data dir of held-out texts, seen voices")
    ap.add_argument("--zeroshot", required=True, help="data dir of held-out texts, unseen voices")
    ap.add_argument("--out-root", default=str(ROOT))
    ap.add_argument("--voices-from", type=Path,
                    help="Kaldi data dir (wav.scp, utt2spk) to take built-in voices from; "
                         "without it an existing voices/ is kept")
    ap.add_argument("--voice-names",
                    help="speakers to ship as voices, comma-separated (default: all)")
    ap.add_argument("--default-voice", help="the voice used when none is asked for "
                                            "(default: the first of --voice-names)")
    ap.add_argument("--voice-aliases",
                    help="OpenAI voice names onto voices, e.g. alloy=x,echo=y (the OpenAI "
                         "names left out go to the default voice)")
    a = ap.parse_args(argv)
    if a.voices_from is None and (a.voice_names or a.default_voice or a.voice_aliases):
        print("ERROR: --voice-names, --default-voice and --voice-aliases need --voices-from",
              file=sys.stderr)
        return 1
    try:
        aliases = parse_aliases(a.voice_aliases)
    except ValueError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1

    vocoder = Path(a.vocoder)
    for p in (Path(a.packed), vocoder, vocoder.with_suffix(".yaml")):
        if not p.is_file():
            print(f"ERROR: {p} not found", file=sys.stderr)
            return 1
    final = Path(a.out_root) / a.name
    tmp = Path(a.out_root) / f".{a.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(a.packed, tmp / "packed.zip")
    shutil.copy(vocoder, tmp / "vocoder.pth")
    shutil.copy(vocoder.with_suffix(".yaml"), tmp / "vocoder.yaml")
    if (final / "MODEL_CARD.md").is_file():
        shutil.copy(final / "MODEL_CARD.md", tmp / "MODEL_CARD.md")
    if a.voices_from is not None:
        names = [n.strip() for n in (a.voice_names or "").split(",") if n.strip()]
        try:
            voices = write_voices(tmp, a.voices_from, names or None, a.default_voice, aliases)
        except ValueError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
            return 1
        print(f"{voices}: {len(list(voices.glob('*.flac')))} voices")
    elif (final / "voices").is_dir():
        shutil.copytree(final / "voices", tmp / "voices")
    rows = heldout_rows(Path(a.seen), "seen", tmp / "heldout")
    rows += heldout_rows(Path(a.zeroshot), "zeroshot", tmp / "heldout")
    with open(tmp / "heldout" / "heldout.tsv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["utt", "spk", "set", "text", "ref", "rec"], delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    print(f"{final}: {len(rows)} held-out items, {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

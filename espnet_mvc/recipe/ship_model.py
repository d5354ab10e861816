#!/usr/bin/env python3
"""Put a recipe's packed model, its vocoder and a held-out set into espnet_mvc/pretrained/.

    cd egs2/kokoro_en/tts1 && python ../../../espnet_mvc/recipe/ship_model.py --name kokoro_en_mvc \
        --packed exp/tts_<tag>/packed.zip --vocoder exp/vocoder/vocoder.pth \
        --seen dump/raw/test --zeroshot dump/raw/test_zeroshot

Writes ``espnet_mvc/pretrained/<name>/`` (into a temporary dir, renamed into place):
``packed.zip``, ``vocoder.pth`` + ``vocoder.yaml`` and ``heldout/``: ``heldout.tsv`` (utt,
spk, set, text, ref, rec), the corpus recordings ``rec/<utt>.flac`` and one reference clip
per voice ``ref/<spk>.flac`` (from the data dir's ``ref.scp``). The model card
(``MODEL_CARD.md``) is written by hand and kept if present.

Run by path (stdlib, soundfile and ESPnet's Kaldi reader ``read_2columns_text``).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1] / "pretrained"


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--packed", required=True, help="packed.zip of stage 10")
    ap.add_argument("--vocoder", required=True, help="vocoder.pth (vocoder.yaml beside it)")
    ap.add_argument("--seen", required=True, help="data dir of held-out texts, seen voices")
    ap.add_argument("--zeroshot", required=True, help="data dir of held-out texts, unseen voices")
    ap.add_argument("--out-root", default=str(ROOT))
    a = ap.parse_args(argv)

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

"""Stage 5 helper for ``--g2p espeak_ng_multilingual``: phonemize every utterance of a
Kaldi ``text`` file with ESPnet's espeak g2p for its language (from ``utt2lang``),
writing ``utt tok tok ...`` lines (French liaison marks stripped).

Run by ``tts.sh`` as ``python -m espnet_mvc.recipe.phonemize_text``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from espnet_mvc.recipe.datadir import DataDirError, read_kv
from espnet_mvc.text import espeak


def phonemize_file(text: Path, utt2lang: Path, out: Path, cleaner: str) -> int:
    """Write ``out``: ``<utt> <phoneme> ...`` for every utterance of ``text``.

    Args:
        text: Kaldi ``text`` file.
        utt2lang: Language of each utterance (an espeak language name).
        out: The file written (through a temporary name).
        cleaner: ESPnet text cleaner applied before espeak.

    Returns:
        The number of utterances written.

    Raises:
        ValueError: An utterance has no language, espeak fails, or gives no phonemes.
    """
    _, u2l = read_kv(utt2lang)
    keys, texts = read_kv(text)
    lines = []
    for i, key in enumerate(keys, 1):  # read_kv refused empty lines: line i is key i
        if key not in u2l:
            raise ValueError(f"{utt2lang}: no language for utterance '{key}'")
        try:
            toks = espeak.phonemize(texts[key], u2l[key], cleaner=cleaner)
        except espeak.EspeakError as e:
            raise ValueError(f"{text}: line {i}: utterance '{key}': {e}") from e
        if not toks:
            raise ValueError(f"{text}: line {i}: no phonemes for '{key}': {texts[key]}")
        lines.append(f"{key} {' '.join(toks)}\n")
    tmp = Path(str(out) + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(out)
    return len(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dirs", nargs="+", help="data dirs with text and utt2lang; writes <dir>/<out-name>")
    ap.add_argument("--out-name", default="text_phn")
    ap.add_argument("--cleaner", default="none")
    a = ap.parse_args(argv)
    espeak.setup_espeak_env()
    for d in map(Path, a.dirs):
        for f in ("text", "utt2lang"):
            if not (d / f).is_file():
                print(f"ERROR: {d / f} missing (per-language phonemes need text and utt2lang)", file=sys.stderr)
                return 1
        try:
            n = phonemize_file(d / "text", d / "utt2lang", d / a.out_name, a.cleaner)
        except (ValueError, DataDirError) as e:
            print(f"ERROR: {e}", file=sys.stderr)
            return 1
        print(f"{d}/text: {n} utterances phonemized -> {d}/{a.out_name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

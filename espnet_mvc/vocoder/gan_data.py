"""Data dirs of the vocoder's GAN fine-tune (``local/train_vocoder.sh --gan true``).

    python -m espnet_mvc.vocoder.gan_data --out exp/vocoder_gan/data \\
        --teacher-corpus downloads/kokoro_multi --festvox-wav DIR/msu_ru_nsh_clunits/wav \\
        --heldout-dir <shipped model dir>/heldout

Writes four Kaldi-style dirs (``wav.scp`` only; the trainer resamples with ``--resample``):

* ``train_teacher``: the teacher corpus' training utterances (``<voice>_tr*.flac``) of its
  seen voices (``voices.json`` split ``seen``); never its dev / test / zero-shot / reference
  clips nor its unseen voices, so the benchmarks stay held out. The corpus may still be
  growing: re-run this before a resume to train on what exists then.
* ``train_real``: real human speech whose license allows training, festvox-ru's speaker
  (``msu_ru_nsh``, 16 kHz, BSD-like: "free of charge, to use and distribute"), all but its
  last ``--festvox-holdout`` utterances (by name).
* ``valid_teacher``: the first ``--valid-teacher`` reference clips of the shipped held-out
  set (``heldout/ref``): held-out voices, and not the recordings (``heldout/rec``) that
  ``benchmark vocoder`` scores, so choosing a checkpoint on them does not tune to the test.
* ``valid_real``: the ``--valid-real`` shortest of the held-out festvox utterances.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence


def _write_scp(out: Path, files: Sequence[Path]) -> int:
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"{f.stem} {f.resolve()}" for f in sorted(files)]
    (out / "wav.scp").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def teacher_train_files(corpus: Path) -> List[Path]:
    """``<voice>_tr*.flac`` of the seen voices of a ``kokoro_corpus`` directory."""
    voices = json.loads((corpus / "voices.json").read_text(encoding="utf-8"))
    seen = [v for v, info in voices.items() if info.get("split") == "seen"]
    return [f for v in seen for f in sorted((corpus / "wav" / v).glob(f"{v}_tr*.flac"))]


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--teacher-corpus", type=Path, required=True)
    p.add_argument("--festvox-wav", type=Path, default=None,
                   help="festvox-ru's wav dir (dpkg-deb -x festvox-ru_*.deb)")
    p.add_argument("--heldout-dir", type=Path, required=True)
    p.add_argument("--festvox-holdout", type=int, default=8)
    p.add_argument("--valid-teacher", type=int, default=8)
    p.add_argument("--valid-real", type=int, default=4)
    a = p.parse_args(argv)
    import soundfile as sf

    n = _write_scp(a.out / "train_teacher", teacher_train_files(a.teacher_corpus))
    print(f"{a.out / 'train_teacher'}: {n} utterances")
    refs = sorted((a.heldout_dir / "ref").glob("*.flac"))[: a.valid_teacher]
    print(f"{a.out / 'valid_teacher'}: {_write_scp(a.out / 'valid_teacher', refs)} utterances")
    if a.festvox_wav is not None:
        wavs = sorted(a.festvox_wav.glob("*.wav"))
        train, held = wavs[: -a.festvox_holdout], wavs[-a.festvox_holdout:]
        print(f"{a.out / 'train_real'}: {_write_scp(a.out / 'train_real', train)} utterances")
        held = sorted(held, key=lambda f: sf.info(str(f)).duration)[: a.valid_real]
        print(f"{a.out / 'valid_real'}: {_write_scp(a.out / 'valid_real', held)} utterances")
    return 0


if __name__ == "__main__":
    sys.exit(main())

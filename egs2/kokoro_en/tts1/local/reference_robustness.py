#!/usr/bin/env python3
"""Does a model's clone survive what recordings of people do to a reference?

Each held-out reference of a model (its ``heldout/`` set: voices the corpus has) is cloned
as it is and after one change a real recording brings: band-limited to 8 kHz (a 16 kHz
recording), to 4 kHz (8 kHz telephone audio), or 12 dB quieter. Each output is scored
against the *unchanged* reference with the project's speaker metric (Resemblyzer cosine,
which hears only up to 8 kHz itself), so a drop is the model's, not the judge's.

    local/reference_robustness.py [--model kokoro_en_mvc] [--heldout-dir DIR] [--sentences 2]

Last lines, one per variant: ``refrobust_<variant>: mean similarity``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SENTENCES = ["The moon looks enormous tonight.", "We watched the storm roll in from the porch.",
             "Gently fold the egg whites into the batter."]


def variants(x: np.ndarray, fs: int):
    from espnet_mvc.inference.reference_audio import resample

    return {
        "full": x,
        "lowpass8k": resample(resample(x, fs, 16000), 16000, fs),
        "lowpass4k": resample(resample(x, fs, 8000), 8000, fs),
        "gain_minus12db": x * 0.25,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="kokoro_en_mvc")
    ap.add_argument("--heldout-dir", type=Path, default=None,
                    help="dir with heldout/heldout.tsv (default: the shipped model's)")
    ap.add_argument("--sentences", type=int, default=2)
    a = ap.parse_args(argv)

    import torch

    from espnet_mvc import pretrained
    from espnet_mvc.api import MVCSynthesizer
    from espnet_mvc.benchmarks.quality import read_heldout, unit_embedding

    torch.set_num_threads(1)
    tts = MVCSynthesizer.from_pretrained(a.model)
    items = read_heldout(a.heldout_dir or pretrained.path(a.model))
    refs = sorted({i.ref for i in items})
    scores = {}
    for ref in refs:
        x, fs = sf.read(ref, dtype="float32")
        own = unit_embedding(x, fs)
        for name, v in variants(x, fs).items():
            for text in SENTENCES[: a.sentences]:
                out = tts.synthesize(text, ref=v, ref_sr=fs, seed=0)
                scores.setdefault(name, []).append(float(unit_embedding(out.wav, out.fs) @ own))
        print(f"# {ref.stem}: " + ", ".join(f"{k} {np.mean(v[-a.sentences:]):.3f}"
                                            for k, v in scores.items()), flush=True)
    print(f"# {len(refs)} references x {a.sentences} sentences, model {a.model}")
    for name, v in scores.items():
        print(f"refrobust_{name}: {np.mean(v):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""How close do a corpus's voices come to the real people of the real-voice set?

A model that learned every training voice perfectly, and for a real reference picked the
training voice nearest to it, would score about the nearest voice's similarity to that
person. This measures that reach, before any training, with the project's speaker metric
(Resemblyzer cosine): for each real person, the similarity of their reference clip to each
corpus voice (the mean embedding of up to ``--utts-per-voice`` training utterances), and
the best of them. Compare with ``quality_spk_sim_realvoice`` (a clone's similarity to its
own reference) and the same person's two clips (``..._ceiling``).

    local/realvoice_reach.py --corpus-dir downloads/kokoro_multi [--realvoice data/realvoice]

Last lines:
    realvoice_reach_mean: mean over people of the best corpus voice's similarity
    realvoice_reach_min / realvoice_reach_max
    realvoice_reach_other_people: mean similarity of a person to the other real people
    realvoice_reach_ceiling: mean similarity of a person's two clips
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from espnet_mvc.benchmarks.quality import realvoice_ceiling, unit_embedding
from espnet_mvc.metrics.audio import load_wav
from espnet_mvc.recipe.realvoice import read_manifest


def voice_embeddings(corpus_dir: Path, utts_per_voice: int):
    """Voice -> unit mean embedding of its first training utterances (``<voice>_tr*``)."""
    out = {}
    for d in sorted(p for p in (corpus_dir / "wav").iterdir() if p.is_dir()):
        files = sorted(d.glob("*_tr*.flac"))[:utts_per_voice]
        if not files:
            continue
        embs = [unit_embedding(*load_wav(f)) for f in files]
        m = np.mean(embs, 0)
        out[d.name] = m / np.linalg.norm(m)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", type=Path, required=True, help="a kokoro_corpus.py corpus dir")
    ap.add_argument("--realvoice", type=Path, default=Path("data/realvoice"))
    ap.add_argument("--utts-per-voice", type=int, default=2)
    a = ap.parse_args(argv)
    clips = read_manifest(a.realvoice)
    voices = voice_embeddings(a.corpus_dir, a.utts_per_voice)
    if not voices:
        print(f"ERROR: no training utterances in {a.corpus_dir}/wav", file=sys.stderr)
        return 1
    names = list(voices)
    table = np.stack([voices[n] for n in names])
    emb = {c["clip_id"]: unit_embedding(*load_wav(c["path"])) for c in clips}
    real = {c["person"]: emb[c["clip_id"]] for c in clips if c["role"] == "ref"}
    ceil = {c["person"]: emb[c["clip_id"]] for c in clips if c["role"] == "ceiling"}
    best, others = [], []
    for p, ref in sorted(real.items()):
        sims = table @ ref
        top = np.argsort(-sims)[:3]
        best.append(float(sims[top[0]]))
        others.append(float(np.mean([ref @ v for q, v in real.items() if q != p])))
        print(f"# {p}: nearest corpus voices " + ", ".join(f"{names[i]} {sims[i]:.3f}" for i in top)
              + f"; other people {others[-1]:.3f}; own second clip {float(ref @ ceil[p]):.3f}")
    print(f"# {len(voices)} corpus voices ({a.corpus_dir}), {len(real)} real people")
    print(f"realvoice_reach_mean: {np.mean(best):.4f}")
    print(f"realvoice_reach_min: {np.min(best):.4f}")
    print(f"realvoice_reach_max: {np.max(best):.4f}")
    print(f"realvoice_reach_other_people: {np.mean(others):.4f}")
    print(f"realvoice_reach_ceiling: {realvoice_ceiling(real, ceil):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does the shipped MVC speak? WER, DNSMOS and cloning on held-out text, against the corpus.

    python -m espnet_mvc.bin.benchmark quality [--quick] [--model kokoro_en_mvc]

The held-out set ships with the model (``<model dir>/heldout/heldout.tsv``): sentences that
no training utterance says, for seen voices (``seen``: a reference clip of the same voice
saying another text) and for unseen voices (``zeroshot``: blends of the teacher's voices
held out of training, each with its own reference clip), plus the corpus recording of each
item. Every item is synthesized with the reference as the voice, then scored with the
project's scorer (:mod:`espnet_mvc.metrics`): Whisper tiny.en WER (stage 9's model, through
faster-whisper), DNSMOS (OVRL), and speaker similarity. The recordings of the same items are
scored the same way in the same run: they are the bar that WER and DNSMOS are compared with.

Speaker-similarity margin (zero-shot): for each unseen-voice item, the similarity of the
synthesized speech to its own reference minus its mean similarity to the other unseen
voices' references; the mean over items. Positive means the clone sounds more like its own
reference than like the other unseen voices.

Last lines (WER in percent):
    quality_wer_seen: X
    quality_wer_zeroshot: Y
    quality_wer_groundtruth: Z
    quality_spk_sim_margin: M
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from espnet_mvc.benchmarks.machine import cpu_capability

DEFAULT_MODEL = "kokoro_en_mvc"


@dataclass
class HeldoutItem:
    utt: str
    spk: str
    set: str  # "seen" or "zeroshot"
    text: str
    ref: Path
    rec: Path


def read_heldout(model_dir: Path) -> List[HeldoutItem]:
    """The held-out items shipped beside a model (``heldout/heldout.tsv``)."""
    tsv = Path(model_dir) / "heldout" / "heldout.tsv"
    if not tsv.is_file():
        raise FileNotFoundError(f"{tsv}: no held-out set beside the model")
    items = []
    with open(tsv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            items.append(HeldoutItem(
                utt=row["utt"], spk=row["spk"], set=row["set"], text=row["text"],
                ref=tsv.parent / row["ref"], rec=tsv.parent / row["rec"],
            ))
    return items


def pick(items: Sequence[HeldoutItem], per_set: Optional[int]) -> List[HeldoutItem]:
    """Up to ``per_set`` items of each set, spread over the voices (deterministic)."""
    if per_set is None:
        return list(items)
    out = []
    for name in ("seen", "zeroshot"):
        group = sorted((i for i in items if i.set == name), key=lambda i: i.utt)
        by_spk: Dict[str, List[HeldoutItem]] = {}
        for i in group:
            by_spk.setdefault(i.spk, []).append(i)
        chosen: List[HeldoutItem] = []
        while len(chosen) < per_set and any(by_spk.values()):
            for spk in sorted(by_spk):
                if by_spk[spk] and len(chosen) < per_set:
                    chosen.append(by_spk[spk].pop(0))
        out.extend(chosen)
    return out


def synthesize_items(tts, items: Sequence[HeldoutItem], **decode) -> List[np.ndarray]:
    """Synthesize every item with its reference as the voice (one waveform each)."""
    return [tts.synthesize(i.text, ref=str(i.ref), **decode).wav for i in items]


def wer_of(asr, wavs: Sequence[np.ndarray], fs: int, items: Sequence[HeldoutItem]):
    """Corpus WER/CER (%) and the per-item transcripts."""
    from espnet_mvc.metrics.asr import error_counts, wer_cer

    hyps = [asr.transcribe(w, fs, "en") for w in wavs]
    scores = wer_cer([error_counts(i.text, h) for i, h in zip(items, hyps)])
    return scores, hyps


def spk_sim_margin(wavs, fs: int, items: Sequence[HeldoutItem]) -> Optional[float]:
    """Mean over zero-shot items of sim(own reference) - mean sim(other unseen references)."""
    from espnet_mvc.metrics.audio import load_wav
    from espnet_mvc.metrics.speaker import embed

    zs = [(w, i) for w, i in zip(wavs, items) if i.set == "zeroshot"]
    refs = sorted({i.spk: i.ref for _, i in zs}.items())
    if len(refs) < 2:
        return None
    ref_emb = {}
    for spk, path in refs:
        x, rfs = load_wav(path)
        e, _ = embed(x, rfs)
        ref_emb[spk] = e / np.linalg.norm(e)
    margins = []
    for w, i in zs:
        e, _ = embed(w, fs)
        e = e / np.linalg.norm(e)
        own = float(e @ ref_emb[i.spk])
        others = [float(e @ v) for s, v in ref_emb.items() if s != i.spk]
        margins.append(own - float(np.mean(others)))
    return float(np.mean(margins))


def mean_dnsmos(wavs, fs: int) -> float:
    from espnet_mvc.metrics.dnsmos import dnsmos

    return float(np.mean([dnsmos(w, fs)["dnsmos"] for w in wavs]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m espnet_mvc.bin.benchmark quality", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name, archive or exp dir")
    ap.add_argument("--heldout-dir", default=None,
                    help="dir holding heldout/heldout.tsv (default: the shipped model's dir)")
    ap.add_argument("--quick", action="store_true", help="8 seen + 8 zero-shot items")
    ap.add_argument("--per-set", type=int, default=None, help="items per set (default: all; --quick: 8)")
    ap.add_argument("--steps", type=int, default=None, help="flow steps (default: the model's)")
    ap.add_argument("--temperature", type=float, default=None, help="default: the model's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(a.threads)
    from espnet_mvc import pretrained
    from espnet_mvc.api import MVCSynthesizer
    from espnet_mvc.metrics.asr import WhisperASR
    from espnet_mvc.metrics.audio import load_wav

    heldout_dir = Path(a.heldout_dir) if a.heldout_dir else pretrained.path(a.model)
    per_set = a.per_set if a.per_set is not None else (8 if a.quick else None)
    items = pick(read_heldout(heldout_dir), per_set)
    print(f"# quality benchmark: model {a.model}; {sum(i.set == 'seen' for i in items)} seen + "
          f"{sum(i.set == 'zeroshot' for i in items)} zero-shot held-out items; "
          f"cpu_capability: {cpu_capability()}; threads {a.threads}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.perf_counter()
    tts = MVCSynthesizer.from_pretrained(a.model)
    print(f"# model loaded in {time.perf_counter() - t0:.1f} s; vocoder "
          f"{tts.info()['vocoder']}", flush=True)
    t0 = time.perf_counter()
    wavs = synthesize_items(tts, items, n_timesteps=a.steps, temperature=a.temperature, seed=a.seed)
    synth_s = time.perf_counter() - t0
    audio_s = sum(len(w) for w in wavs) / tts.fs
    recs = [load_wav(i.rec) for i in items]
    asr = WhisperASR()
    print(f"# ASR: {asr.name}", flush=True)
    results = {}
    for name, sel in (("seen", "seen"), ("zeroshot", "zeroshot")):
        idx = [k for k, i in enumerate(items) if i.set == sel]
        if not idx:
            continue
        sub = [items[k] for k in idx]
        s, hyps = wer_of(asr, [wavs[k] for k in idx], tts.fs, sub)
        g, ghyps = wer_of(asr, [recs[k][0] for k in idx], recs[idx[0]][1], sub)
        results[name] = (s, g)
        for i, h, gh in zip(sub, hyps, ghyps):
            print(f"#   {i.utt} ({i.spk}): ref: {i.text}\n#     mvc: {h}\n#     rec: {gh}")
    gt_all = [recs[k] for k in range(len(items))]
    g_all, _ = wer_of(asr, [r[0] for r in gt_all], gt_all[0][1], items)
    dn_mvc = {n: mean_dnsmos([wavs[k] for k, i in enumerate(items) if i.set == n], tts.fs)
              for n in results}
    dn_rec = {n: mean_dnsmos([recs[k][0] for k, i in enumerate(items) if i.set == n], recs[0][1])
              for n in results}
    margin = spk_sim_margin(wavs, tts.fs, items)
    print(f"quality_rtf: {synth_s / audio_s:.3f}")
    for n in results:
        s, g = results[n]
        print(f"quality_cer_{n}: {s['cer']:.2f}")
        print(f"quality_wer_groundtruth_{n}: {g['wer']:.2f}")
        print(f"quality_dnsmos_{n}: {dn_mvc[n]:.3f}")
        print(f"quality_dnsmos_groundtruth_{n}: {dn_rec[n]:.3f}")
    if "seen" in results:
        print(f"quality_wer_seen: {results['seen'][0]['wer']:.2f}")
    if "zeroshot" in results:
        print(f"quality_wer_zeroshot: {results['zeroshot'][0]['wer']:.2f}")
    print(f"quality_wer_groundtruth: {g_all['wer']:.2f}")
    print(f"quality_spk_sim_margin: {'n/a' if margin is None else f'{margin:.4f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

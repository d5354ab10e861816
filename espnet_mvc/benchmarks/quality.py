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

Real voices (issue 22), when the real-voice set is built (``--realvoice DIR``, default
``egs2/kokoro_en/tts1/data/realvoice``: ``egs2/kokoro_en/tts1/local/realvoice.sh`` builds it
from Debian packages; see :mod:`espnet_mvc.recipe.realvoice`; else a ``#`` line says how):
each real person's reference clip is cloned on held-out sentences (3 each with --quick, else
5; sentences of the held-out set). ``spk_sim_realvoice``: mean similarity of each output to
its own reference; ``spk_margin_realvoice``: own minus the mean over the other real people's
references; ``spk_id_realvoice``: the share of outputs whose own reference is the most
similar among all real references and the teacher references of the held-out set (seen and
zero-shot); ``spk_sim_realvoice_ceiling``: each person's two clips against each other.

Last lines (WER in percent):
    quality_wer_seen: X
    quality_wer_zeroshot: Y
    quality_wer_groundtruth: Z
    quality_spk_sim_margin: M
    quality_spk_sim_realvoice: S         (these five only with the real-voice set)
    quality_spk_margin_realvoice: R
    quality_spk_id_realvoice: I          (a share, 0-1)
    quality_wer_realvoice: W
    quality_spk_sim_realvoice_ceiling: C
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


def unit_embedding(wav: np.ndarray, fs: int) -> np.ndarray:
    """The project's speaker embedding (:func:`espnet_mvc.metrics.speaker.embed`), unit norm."""
    from espnet_mvc.metrics.speaker import embed

    e, _ = embed(wav, fs)
    return e / np.linalg.norm(e)


def own_minus_others(e: np.ndarray, own: str, refs: Dict[str, np.ndarray]) -> float:
    """sim(e, refs[own]) - the mean of sim(e, r) over the other references (unit vectors)."""
    others = [float(e @ v) for s, v in refs.items() if s != own]
    return float(e @ refs[own]) - float(np.mean(others))


def spk_sim_margin(wavs, fs: int, items: Sequence[HeldoutItem]) -> Optional[float]:
    """Mean over zero-shot items of sim(own reference) - mean sim(other unseen references)."""
    from espnet_mvc.metrics.audio import load_wav

    zs = [(w, i) for w, i in zip(wavs, items) if i.set == "zeroshot"]
    refs = sorted({i.spk: i.ref for _, i in zs}.items())
    if len(refs) < 2:
        return None
    ref_emb = {spk: unit_embedding(*load_wav(path)) for spk, path in refs}
    return float(np.mean([own_minus_others(unit_embedding(w, fs), i.spk, ref_emb)
                          for w, i in zs]))


# ----------------------------------------------------------------------------- real voices


@dataclass
class RealVoiceItem:
    person: str
    text: str
    ref: Path


def heldout_sentences(items: Sequence[HeldoutItem]) -> List[str]:
    """The held-out texts, each once, in the order of their utterance ids."""
    out: List[str] = []
    for i in sorted(items, key=lambda i: i.utt):
        if i.text not in out:
            out.append(i.text)
    return out


def realvoice_items(clips: Sequence[Dict[str, str]], sentences: Sequence[str],
                    per_person: int) -> List[RealVoiceItem]:
    """``per_person`` held-out sentences for each person's ``ref`` clip: person k (sorted)
    reads sentences k*per_person ... (k+1)*per_person - 1, wrapping around the list."""
    refs = sorted((c["person"], c["path"]) for c in clips if c["role"] == "ref")
    n = len(sentences)
    return [RealVoiceItem(person, sentences[(k * per_person + j) % n], Path(path))
            for k, (person, path) in enumerate(refs) for j in range(per_person)]


def realvoice_scores(out_emb: Sequence[np.ndarray], owners: Sequence[str],
                     real_refs: Dict[str, np.ndarray],
                     other_refs: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Cloning scores of outputs against the real people's references (unit embeddings).

    ``sim``: mean sim(output, own reference); ``margin``: mean of own minus the mean over
    the other real references (:func:`own_minus_others`); ``id``: the share of outputs whose
    own reference is at least as similar as every other one among ``real_refs`` and
    ``other_refs`` (the teacher's voices).
    """
    pool = dict(real_refs)
    pool.update({f"other:{k}": v for k, v in other_refs.items()})
    sims, margins, hits = [], [], []
    for e, own in zip(out_emb, owners):
        sims.append(float(e @ real_refs[own]))
        margins.append(own_minus_others(e, own, real_refs))
        best_other = max(float(e @ v) for k, v in pool.items() if k != own)
        hits.append(sims[-1] >= best_other)
    return {"sim": float(np.mean(sims)), "margin": float(np.mean(margins)),
            "id": float(np.mean(hits))}


def realvoice_ceiling(refs: Dict[str, np.ndarray], ceilings: Dict[str, np.ndarray]) -> float:
    """Mean over people of sim(reference clip, the same person's second clip)."""
    return float(np.mean([float(refs[p] @ ceilings[p]) for p in sorted(refs)]))


def synthesize_realvoice(tts, items: Sequence[RealVoiceItem], **decode) -> List[np.ndarray]:
    return [tts.synthesize(i.text, ref=str(i.ref), **decode).wav for i in items]


def run_realvoice(tts, asr, clips, heldout: Sequence[HeldoutItem], per_person: int,
                  **decode) -> Dict[str, float]:
    """Clone each real person's reference on held-out sentences; the quality_*_realvoice
    figures (WER in percent) and a comment line per person."""
    from espnet_mvc.metrics.audio import load_wav

    items = realvoice_items(clips, heldout_sentences(heldout), per_person)
    t0 = time.perf_counter()
    wavs = synthesize_realvoice(tts, items, **decode)
    synth_s = time.perf_counter() - t0
    emb = {c["clip_id"]: unit_embedding(*load_wav(c["path"])) for c in clips}
    real = {c["person"]: emb[c["clip_id"]] for c in clips if c["role"] == "ref"}
    ceil = {c["person"]: emb[c["clip_id"]] for c in clips if c["role"] == "ceiling"}
    teacher = {spk: unit_embedding(*load_wav(path))
               for spk, path in sorted({i.spk: i.ref for i in heldout}.items())}
    out = [unit_embedding(w, tts.fs) for w in wavs]
    owners = [i.person for i in items]
    scores = realvoice_scores(out, owners, real, teacher)
    wer, hyps = wer_of(asr, wavs, tts.fs, items)
    pool = dict(real)
    pool.update(teacher)
    lang = {c["person"]: c["language"] for c in clips}
    for p in sorted(real):
        idx = [k for k, o in enumerate(owners) if o == p]
        own = np.mean([float(out[k] @ real[p]) for k in idx])
        best = {q: np.mean([float(out[k] @ v) for k in idx]) for q, v in pool.items() if q != p}
        q = max(best, key=best.get)
        print(f"#   realvoice {p} ({lang[p]}): sim own {own:.3f}, closest other {q} "
              f"{best[q]:.3f}, ceiling {float(real[p] @ ceil[p]):.3f}", flush=True)
    for i, h in zip(items, hyps):
        print(f"#     {i.person}: ref: {i.text}\n#       mvc: {h}")
    print(f"# realvoice: {len(real)} people x {per_person} sentences, synthesis "
          f"{synth_s:.1f} s", flush=True)
    return {"spk_sim_realvoice": scores["sim"], "spk_margin_realvoice": scores["margin"],
            "spk_id_realvoice": scores["id"], "wer_realvoice": wer["wer"],
            "spk_sim_realvoice_ceiling": realvoice_ceiling(real, ceil)}


def mean_dnsmos(wavs, fs: int) -> float:
    from espnet_mvc.metrics.dnsmos import dnsmos

    return float(np.mean([dnsmos(w, fs)["dnsmos"] for w in wavs]))


def load_realvoice(where: Optional[str]):
    """``(clips, note)``: the real-voice set's manifest rows (None when absent) and a comment
    line saying what was found or how to build it."""
    if where is not None and where.lower() == "none":
        return None, "# real-voice set: skipped (--realvoice none)"
    from espnet_mvc.recipe.realvoice import DEFAULT_OUT, read_manifest

    d = Path(where) if where else DEFAULT_OUT
    try:
        clips = read_manifest(d)
    except FileNotFoundError:
        return None, (f"# real-voice set: none at {d}; the quality_*_realvoice lines are "
                      f"skipped. Build it (Debian packages, extraction only) with: cd "
                      f"egs2/kokoro_en/tts1 && local/realvoice.sh, or python -m "
                      f"espnet_mvc.recipe.realvoice --out-dir {d}")
    people = sorted({c["person"] for c in clips})
    return clips, (f"# real-voice set: {d}: {len(people)} people, {len(clips)} clips "
                   f"({', '.join(sorted({c['language'] for c in clips}))})")


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
    ap.add_argument("--realvoice", default=None, metavar="DIR",
                    help="the real-voice set (its dir or manifest.tsv; default: where "
                         "egs2/kokoro_en/tts1/local/realvoice.sh writes it, "
                         "egs2/kokoro_en/tts1/data/realvoice; 'none': skip it)")
    ap.add_argument("--realvoice-per-person", type=int, default=None,
                    help="held-out sentences cloned per real person (default 5; --quick: 3)")
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(a.threads)
    from espnet_mvc import pretrained
    from espnet_mvc.inference.synthesizer import MVCSynthesizer
    from espnet_mvc.metrics.asr import WhisperASR
    from espnet_mvc.metrics.audio import load_wav

    heldout_dir = Path(a.heldout_dir) if a.heldout_dir else pretrained.path(a.model)
    per_set = a.per_set if a.per_set is not None else (8 if a.quick else None)
    heldout = read_heldout(heldout_dir)
    items = pick(heldout, per_set)
    clips, rv_note = load_realvoice(a.realvoice)
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
    if clips is None:
        print(rv_note, flush=True)
        return 0
    print(rv_note, flush=True)
    per_person = a.realvoice_per_person or (3 if a.quick else 5)
    rv = run_realvoice(tts, asr, clips, heldout, per_person, n_timesteps=a.steps,
                       temperature=a.temperature, seed=a.seed)
    for k in ("spk_sim_realvoice", "spk_margin_realvoice", "spk_id_realvoice"):
        print(f"quality_{k}: {rv[k]:.4f}")
    print(f"quality_wer_realvoice: {rv['wer_realvoice']:.2f}")
    print(f"quality_spk_sim_realvoice_ceiling: {rv['spk_sim_realvoice_ceiling']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

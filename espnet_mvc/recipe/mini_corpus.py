"""Synthesize the embedded offline corpus of egs2/mini_espeak with espeak-ng.

Speakers are espeak voice variants with their own speaking rate and pitch; every
utterance gets a small deterministic rate/pitch jitter. English plus Spanish, German and
French. Splits (Kaldi data dirs under --data-dir):

  train          seen speakers, training texts
  dev, test      seen speakers, held-out texts (never in train)
  test_zeroshot  unseen speakers, held-out texts; ref.scp -> a reference recording of
                 the same unseen speaker (different text)

dev/test also get a ref.scp (another utterance of the same speaker from train). Each
data dir has wav.scp, text, utt2spk, spk2utt, utt2lang. The output depends only on the
options: same options, same corpus (one process, fixed order, fixed seeds).

Run by ``local/data.sh`` as ``python -m espnet_mvc.recipe.mini_corpus``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from pathlib import Path

from espnet_mvc.recipe.datadir import write_datadir
from espnet_mvc.text import espeak

# (speaker id, espeak voice, base rate in wpm, base pitch 0..100, language)
SEEN_SPEAKERS = [
    ("en_f2", "en-us+f2", 165, 58, "en"),
    ("en_m3", "en-us+m3", 175, 44, "en"),
    ("en_f4", "en+f4", 158, 62, "en"),
    ("en_m1", "en-us+m1", 185, 40, "en"),
    ("es_m3", "es+m3", 170, 45, "es"),
    ("es_f3", "es+f3", 160, 58, "es"),
    ("de_m1", "de+m1", 165, 42, "de"),
    ("de_f2", "de+f2", 158, 56, "de"),
    ("fr_f2", "fr+f2", 165, 57, "fr"),
    ("fr_m2", "fr+m2", 172, 46, "fr"),
]
UNSEEN_SPEAKERS = [
    ("en_f5", "en-us+f5", 170, 64, "en"),
    ("en_m7", "en-us+m7", 160, 38, "en"),
    ("es_f1", "es+f1", 165, 60, "es"),
    ("de_m4", "de+m4", 170, 44, "de"),
    ("fr_f1", "fr+f1", 162, 60, "fr"),
]


def read_sentences(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"sentence list not found: {path}")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(lines) < 10:
        raise ValueError(f"{path}: only {len(lines)} sentences (need >= 10)")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", required=True, help="where the wavs are written")
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--sentences-dir", required=True, help="holds sentences_<lang>.txt")
    ap.add_argument("--langs", default="en es de fr")
    ap.add_argument("--n-utts-per-spk", type=int, default=50, help="training utterances per seen speaker")
    ap.add_argument("--n-eval-utts", type=int, default=2, help="dev and test utterances per seen speaker")
    ap.add_argument("--n-zeroshot-utts", type=int, default=4, help="test_zeroshot utterances per unseen speaker")
    ap.add_argument("--heldout-frac", type=float, default=0.15, help="share of each sentence list kept out of train")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    t0 = time.time()
    langs = a.langs.split()
    known = {s[4] for s in SEEN_SPEAKERS}
    bad = [lang for lang in langs if lang not in known]
    if bad:
        print(f"ERROR: no mini_espeak speakers for language(s) {bad}; known: {sorted(known)}", file=sys.stderr)
        return 1
    if a.n_utts_per_spk < 1 or a.n_eval_utts < 1 or a.n_zeroshot_utts < 1:
        print("ERROR: --n_utts_per_spk, --n_eval_utts and --n_zeroshot_utts must be >= 1", file=sys.stderr)
        return 1
    corpus = Path(a.corpus_dir).resolve()
    (corpus / "wavs").mkdir(parents=True, exist_ok=True)

    # texts: shuffled per language with a fixed seed; the tail is held out of training
    pools = {}
    for lang in langs:
        sents = read_sentences(Path(a.sentences_dir) / f"sentences_{lang}.txt")
        rng = random.Random(zlib.crc32(f"{a.seed}-{lang}".encode()))
        rng.shuffle(sents)
        n_held = max(2, int(round(len(sents) * a.heldout_frac)))
        pools[lang] = (sents[:-n_held], sents[-n_held:])

    n_audio = [0.0]

    def synth(spk, voice, rate, pitch, text, uid, rng):
        r = int(round(rate * (1.0 + rng.uniform(-0.06, 0.06))))
        p = max(0, min(100, pitch + rng.randint(-4, 4)))
        syn = espeak.EspeakSynthesizer(voice, rate=r, pitch=p)
        path = corpus / "wavs" / spk / f"{uid}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        dur = syn.to_file(text, path)
        if dur < 0.2:
            raise RuntimeError(f"espeak produced {dur:.2f}s of audio for {uid} ({voice}): {text}")
        n_audio[0] += dur
        return str(path)

    sets = {"train": [], "dev": [], "test": [], "test_zeroshot": []}
    with (corpus / "speakers.tsv").open("w", encoding="utf-8") as info:
        info.write("speaker\tvoice\trate\tpitch\tlang\tsplit\n")
        for spk, voice, rate, pitch, lang in SEEN_SPEAKERS:
            if lang not in langs:
                continue
            info.write(f"{spk}\t{voice}\t{rate}\t{pitch}\t{lang}\tseen\n")
            rng = random.Random(zlib.crc32(f"{a.seed}-{spk}".encode()))
            train_pool, held = pools[lang]
            n = min(a.n_utts_per_spk, len(train_pool))
            texts = rng.sample(train_pool, n)
            tr = []
            for i, t in enumerate(texts):
                uid = f"{spk}-{i:04d}"
                tr.append(dict(id=uid, wav=synth(spk, voice, rate, pitch, t, uid, rng), text=t, spk=spk, lang=lang))
            sets["train"] += tr
            ev = rng.sample(held, min(2 * a.n_eval_utts, len(held)))
            for j, t in enumerate(ev):
                name = "dev" if j % 2 == 0 else "test"
                uid = f"{spk}-{name}{j // 2:03d}"
                ref = tr[rng.randrange(len(tr))]["wav"]
                sets[name].append(
                    dict(id=uid, wav=synth(spk, voice, rate, pitch, t, uid, rng), text=t, spk=spk, lang=lang, ref=ref)
                )
        for spk, voice, rate, pitch, lang in UNSEEN_SPEAKERS:
            if lang not in langs:
                continue
            info.write(f"{spk}\t{voice}\t{rate}\t{pitch}\t{lang}\tunseen\n")
            rng = random.Random(zlib.crc32(f"{a.seed}-{spk}".encode()))
            train_pool, held = pools[lang]
            refs = [
                synth(spk, voice, rate, pitch, t, f"{spk}-ref{k}", rng)
                for k, t in enumerate(rng.sample(train_pool, 2))
            ]
            for j, t in enumerate(rng.sample(held, min(a.n_zeroshot_utts, len(held)))):
                uid = f"{spk}-zs{j:03d}"
                sets["test_zeroshot"].append(
                    dict(id=uid, wav=synth(spk, voice, rate, pitch, t, uid, rng), text=t, spk=spk, lang=lang, ref=refs[j % 2])
                )
    for name, utts in sets.items():
        if not utts:
            print(f"ERROR: set {name} is empty", file=sys.stderr)
            return 1
        write_datadir(Path(a.data_dir) / name, utts)
    dt = time.time() - t0
    counts = ", ".join(f"{k} {len(v)}" for k, v in sets.items())
    print(
        f"mini_espeak: {counts} utterances; {n_audio[0] / 60:.1f} min of audio in {dt:.1f}s "
        f"-> {corpus}, {a.data_dir}/",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

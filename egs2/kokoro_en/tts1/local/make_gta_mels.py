#!/usr/bin/env python3
"""Ground-truth-aligned mels of a trained MVC, for fine-tuning the vocoder on them.

    local/make_gta_mels.py --exp exp/tts_train_mvc_cpu_raw_phn_kokoro_en --model avg.pth \\
        --data dump/raw/train --collect-feats exp/tts_stats_raw_fbank_phn_none_kokoro_en/train/collect_feats \\
        --out exp/gta_mels/train

For each utterance, MVC generates its mel with the utterance's own durations, pitch and
energy (ESPnet's teacher forcing: ``use_teacher_forcing``; the corpus's teacher durations,
F0 and energy extracted from the recording) and its own recording as the voice reference,
at the model's decode options. F0 and energy are stage 6's (``--write_collected_feats
true``), the values the model was trained on. So the mel has exactly the recording's frames, and a
vocoder trained to turn it into the recording (``train_vocoder --input-mels-dir``) learns
to undo what the acoustic model smooths away: the mismatch between the mels it is trained
on and the ones it is given at synthesis.

Writes ``<out>/<utt>.npy`` (T_feats, n_mels), denormalised log-mel as ``Text2Speech``
hands a vocoder (``feat_gen_denorm``), atomically; existing files are kept, so an
interrupted run resumes.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp", type=Path, required=True, help="MVC training dir (config.yaml)")
    p.add_argument("--model", required=True, help="model file in --exp")
    p.add_argument("--data", type=Path, required=True,
                   help="dump dir with text_phn, durations and wav.scp")
    p.add_argument("--collect-feats", type=Path, required=True,
                   help="stage 6's collect_feats dir of the set (pitch.scp, energy.scp: "
                        "--write_collected_feats true)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from espnet2.fileio.read_text import read_2columns_text

    from espnet_mvc.api import MVCSynthesizer
    from espnet_mvc.tts.mvc.decode_options import DecodeOptions

    tts = MVCSynthesizer(args.exp / "config.yaml", args.exp / args.model)
    model = tts.t2s.model
    token_list = tts.t2s.train_args.token_list
    token2id = {t: i for i, t in enumerate(token_list)}
    eos = token2id["<sos/eos>"]
    texts = read_2columns_text(args.data / "text_phn")
    durations = read_2columns_text(args.data / "durations")
    wavs = read_2columns_text(args.data / "wav.scp")
    # the F0 and energy the model was trained on (stage 6), not extracted again
    pitch_scp = read_2columns_text(args.collect_feats / "pitch.scp")
    energy_scp = read_2columns_text(args.collect_feats / "energy.scp")
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [u for u in sorted(wavs) if not (args.out / f"{u}.npy").exists()]
    print(f"{len(wavs) - len(todo)} of {len(wavs)} done; {len(todo)} to make", flush=True)
    t0 = time.time()
    for n, utt in enumerate(todo, 1):
        tokens = texts[utt].split()
        unknown = [t for t in tokens if t not in token2id]
        if unknown:
            raise SystemExit(f"error: {utt}: symbols {unknown} are not in the model's token list")
        dur = torch.tensor([int(d) for d in durations[utt].split()])
        ids = [token2id[t] for t in tokens]
        if len(dur) == len(ids) + 1:  # ESPnet appends <sos/eos>, which has a duration too
            ids.append(eos)
        if len(dur) != len(ids):
            raise SystemExit(f"error: {utt}: {len(dur)} durations for {len(ids)} tokens")
        wav, fs = sf.read(wavs[utt], dtype="float32")
        if fs != tts.fs:
            raise SystemExit(f"error: {utt}: {fs} Hz audio, the model is {tts.fs} Hz")
        speech = torch.from_numpy(wav)
        with torch.no_grad():
            out = model.inference(
                text=torch.tensor(ids), speech=speech, durations=dur,
                pitch=torch.from_numpy(np.load(pitch_scp[utt])).float().view(-1, 1),
                energy=torch.from_numpy(np.load(energy_scp[utt])).float().view(-1, 1),
                use_teacher_forcing=True, options=DecodeOptions())
            mel = out["feat_gen"]
            if model.normalize is not None:
                mel = model.normalize.inverse(mel.clone()[None])[0][0]
        frames = len(wav) // model.feats_extract.hop_length + 1
        if mel.shape[0] != int(dur.sum()) or abs(mel.shape[0] - frames) > 1:
            raise SystemExit(f"error: {utt}: {mel.shape[0]} frames generated, the recording "
                             f"has {frames} and the durations sum to {int(dur.sum())}")
        tmp = args.out / f"{utt}.npy.tmp"
        with open(tmp, "wb") as f:
            np.save(f, mel.numpy().astype(np.float32))
        os.replace(tmp, args.out / f"{utt}.npy")
        if n % 100 == 0 or n == len(todo):
            print(f"{n} / {len(todo)} ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

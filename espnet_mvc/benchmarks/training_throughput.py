"""Training throughput of MVC's CPU tier: seconds per optimizer step at the recipe's batch.

    python -m espnet_mvc.bin.benchmark train [--quick] [--threads 1 2] [--rounds N] [--jets]

Model: ``tts_conf`` of ``egs2/kokoro_en/tts1/conf/tuning/train_mvc_cpu.yaml`` (the recipe
that trains the shipped ``kokoro_en_mvc``; it is not package data, so this benchmark runs
from a checkout, or with ``--config PATH``), 80 mel bins, random weights (timing does not
depend on them), train mode, AdamW with the recipe's settings.

Batch: the recipe batches by ``numel`` with ``batch_bins: 800000``; its training set
averages 95,568 samples (3.98 s at 24 kHz) and 59 phonemes per utterance, so a batch holds
about 800000 / (95568 + 59) = 8.4 utterances (the recipe's log: mean 8.6, as short ones pack
more). The synthetic batch fills ``batch_bins`` the same way: utterances of 3.6 .. 4.4 s
(mean 4.0 s, hop 300: 320 frames) with 59 +- 6 phonemes, added while they fit (8 of them,
about 2,560 frames), with teacher durations (the recipe's ``--use_durations true``: the
aligner is idle), normalised pitch and energy. ESPnet's per-step fbank of the waveform is
not timed (the model gets the mel, as after ``feats_extract`` / ``normalize``; under 2 % of
a step in the profile).

A step is forward (every loss) + backward + gradient clipping at the recipe's 1.0 + AdamW.
Timing: one warm-up step per setting, then ``--rounds`` rounds in which every setting runs
one step (interleaved, so that load changes hit all alike), each from the same random seed
(same crops, windows, dropout); the median is kept. Settings: each thread count (the recipe
trains with one thread per job) x the scan kernel's explicit SIMD path (``avx2+fma`` where
the CPU has it) and its generic C path (``mvc_set_isa(0)``, what ``ESPNET_MVC_SIMD=generic``
selects at load), switched in this one process. ``--jets`` adds ESPnet's JETS (its
LJSpeech-size generator, HiFi-GAN V1 included, with its discriminator; 22.05 kHz, hop 256,
the same 4 s utterances): one generator turn + one discriminator turn per step, 1 thread.

Last lines: ``train_seconds_per_step_<n>thread[_generic]: X`` and
``train_speedup_vs_generic_<n>thread: Y``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from espnet_mvc.benchmarks.machine import cpu_capability, load_average, machine_note

FS = 24000
HOP = 300
N_MELS = 80
RECIPE_CONF = (Path(__file__).resolve().parents[2] / "egs2" / "kokoro_en" / "tts1" / "conf"
               / "tuning" / "train_mvc_cpu.yaml")
# the recipe's training set (exp_x/tts_stats_raw_fbank_phn_none_kokoro_en/train/*_shape)
MEAN_SAMPLES = 95568
MEAN_TOKENS = 59
VOCAB = 80


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m espnet_mvc.bin.benchmark train",
        description="Seconds per training step (forward + backward + AdamW) of MVC's CPU tier "
                    "at the kokoro_en recipe's batch, SIMD vs generic scan kernel.")
    p.add_argument("--quick", action="store_true", help="2 rounds (default 5)")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="thread counts (default 1 and min(2, cpus))")
    p.add_argument("--config", type=Path, default=RECIPE_CONF,
                   help="training config whose tts_conf / batch_bins / optim_conf to use")
    p.add_argument("--jets", action="store_true",
                   help="also time an ESPnet JETS step (slow: a HiFi-GAN generator and its "
                        "discriminators in every step)")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests
    return p.parse_args(argv)


def read_config(path: Path) -> dict:
    import yaml

    if not path.is_file():
        raise SystemExit(
            f"error: training config {path} not found: this benchmark reads the kokoro_en "
            "recipe's CPU-tier config, which is in a checkout of the repository (not in the "
            "installed package); run it from a checkout or pass --config")
    with open(path) as f:
        conf = yaml.safe_load(f)
    if conf.get("tts") != "mvc" or "tts_conf" not in conf:
        raise SystemExit(f"error: {path} is not an MVC training config (tts: mvc, tts_conf)")
    return conf


def batch_lengths(batch_bins: int, seed: int = 0, tiny: bool = False):
    """(samples, tokens) per utterance, added while the numel total fits ``batch_bins``."""
    import torch

    g = torch.Generator().manual_seed(seed)
    mean = 0.25 * FS if tiny else MEAN_SAMPLES
    tokens_mean = 8 if tiny else MEAN_TOKENS
    out, total = [], 0
    while True:
        samples = int(mean * (0.9 + 0.2 * torch.rand(1, generator=g).item()))
        samples = samples // HOP * HOP
        tokens = max(2, tokens_mean + int(torch.randint(-6, 7, (1,), generator=g)))
        if tiny:
            tokens = min(tokens, samples // HOP)
        if out and total + samples + tokens > batch_bins:
            return out
        out.append((samples, tokens))
        total += samples + tokens


def make_batch(lengths, seed: int = 0) -> Dict[str, "torch.Tensor"]:
    """Mel, text, teacher durations summing to the frames, pitch and energy (padded)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    frames = [s // HOP for s, _ in lengths]
    tokens = [t for _, t in lengths]
    bsz, t_max, n_max = len(lengths), max(frames), max(tokens)
    text = torch.zeros(bsz, n_max, dtype=torch.long)
    durations = torch.zeros(bsz, n_max, dtype=torch.long)
    feats = torch.zeros(bsz, t_max, N_MELS)
    pitch = torch.zeros(bsz, t_max, 1)
    energy = torch.zeros(bsz, t_max, 1)
    for b, (f, n) in enumerate(zip(frames, tokens)):
        text[b, :n] = torch.randint(2, VOCAB, (n,), generator=g)
        # random positive durations summing to f
        w = torch.rand(n, generator=g) + 0.5
        d = torch.floor(w / w.sum() * (f - n)).long() + 1
        d[-1] += f - int(d.sum())
        durations[b, :n] = d
        feats[b, :f] = torch.randn(f, N_MELS, generator=g)
        pitch[b, :f] = torch.randn(f, 1, generator=g)
        energy[b, :f] = torch.randn(f, 1, generator=g)
    lens = torch.tensor(frames)
    return dict(text=text, text_lengths=torch.tensor(tokens), feats=feats, feats_lengths=lens,
                durations=durations, durations_lengths=torch.tensor(tokens), pitch=pitch,
                pitch_lengths=lens, energy=energy, energy_lengths=lens)


def _kernel():
    from espnet_mvc.nets.ssm import cpu_kernel

    lib = cpu_kernel.load()
    if lib is None:
        return None
    lib.mvc_set_isa.argtypes = [ctypes.c_int]
    lib.mvc_set_isa.restype = ctypes.c_int
    lib.mvc_kernel_isa.restype = ctypes.c_char_p
    return lib


def mvc_step_fn(conf: dict, batch, tiny: bool) -> Callable[[], float]:
    import torch

    from espnet_mvc.tts.mvc.mvc import MVC

    tts_conf = dict(conf["tts_conf"])
    if tiny:
        from espnet_mvc.benchmarks.baselines import tiny_mvc_conf

        tts_conf = tiny_mvc_conf()
        tts_conf.update(ref_segment_frames=16, decoder_segment_frames=16)
    torch.manual_seed(0)
    model = MVC(VOCAB, N_MELS, **tts_conf).train()
    optim_conf = dict(conf.get("optim_conf") or {"lr": 1e-3})
    opt = torch.optim.AdamW(model.parameters(), **optim_conf)
    clip = float(conf.get("grad_clip", 1.0))

    def step() -> float:
        torch.manual_seed(1)
        t0 = time.perf_counter()
        loss = model(**batch)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return time.perf_counter() - t0

    step.params = sum(p.numel() for p in model.parameters())  # type: ignore[attr-defined]
    return step


def jets_step_fn(lengths, tiny: bool) -> Callable[[], float]:
    """One JETS generator turn + one discriminator turn (ESPnet's GAN trainer's step)."""
    import torch

    from espnet_mvc.benchmarks.baselines import build_jets

    torch.manual_seed(0)
    model = build_jets(idim=VOCAB, tiny=tiny).train()
    fs, hop = 22050, 256
    g = torch.Generator().manual_seed(0)
    frames = [max(t + 1, int(s / FS * fs) // hop) for s, t in lengths]
    tokens = [t for _, t in lengths]
    bsz, t_max, n_max = len(lengths), max(frames), max(tokens)
    text = torch.zeros(bsz, n_max, dtype=torch.long)
    feats = torch.zeros(bsz, t_max, N_MELS)
    speech = torch.zeros(bsz, t_max * hop)
    pitch = torch.zeros(bsz, t_max, 1)
    energy = torch.zeros(bsz, t_max, 1)
    for b, (f, n) in enumerate(zip(frames, tokens)):
        text[b, :n] = torch.randint(2, VOCAB, (n,), generator=g)
        feats[b, :f] = torch.randn(f, N_MELS, generator=g)
        speech[b, : f * hop] = 0.1 * torch.randn(f * hop, generator=g)
        pitch[b, :f] = torch.randn(f, 1, generator=g)
        energy[b, :f] = torch.randn(f, 1, generator=g)
    lens = torch.tensor(frames)
    batch = dict(text=text, text_lengths=torch.tensor(tokens), feats=feats, feats_lengths=lens,
                 speech=speech, speech_lengths=lens * hop, pitch=pitch, pitch_lengths=lens,
                 energy=energy, energy_lengths=lens)
    opt_g = torch.optim.AdamW(model.generator.parameters(), lr=2e-4, betas=(0.8, 0.99))
    opt_d = torch.optim.AdamW(model.discriminator.parameters(), lr=2e-4, betas=(0.8, 0.99))

    def step() -> float:
        torch.manual_seed(1)
        t0 = time.perf_counter()
        for turn, opt in ((True, opt_g), (False, opt_d)):
            out = model(**batch, forward_generator=turn)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
        return time.perf_counter() - t0

    return step


def main(argv: Optional[List[str]] = None) -> int:
    import torch

    args = parse_args(sys.argv[1:] if argv is None else argv)
    conf = read_config(args.config)
    rounds = args.rounds or (2 if args.quick else 5)
    threads = args.threads or sorted({1, min(2, os.cpu_count() or 1)})
    batch_bins = 16000 if args.tiny else int(conf.get("batch_bins", 800000))
    lengths = batch_lengths(batch_bins, tiny=args.tiny)
    batch = make_batch(lengths)
    lib = _kernel()
    best = lib.mvc_set_isa(-1) if lib is not None else 0
    paths = [("", best)] + ([("_generic", 0)] if best > 0 else [])
    previous_threads = torch.get_num_threads()
    try:
        step = mvc_step_fn(conf, batch, args.tiny)
        frames = batch["feats_lengths"]
        print(f"# machine: {machine_note()}")
        print(f"# cpu_capability: {cpu_capability()}")
        print(f"# model: MVC CPU tier, tts_conf of {args.config.name} ({step.params / 1e6:.2f} M "
              f"parameters), AdamW {conf.get('optim_conf')}, grad_clip {conf.get('grad_clip')}")
        print(f"# batch: numel batch_bins {batch_bins} (recipe: mean 8.6 utterances of 3.98 s "
              f"/ 59 phonemes) -> {len(lengths)} utterances, {int(frames.sum())} frames "
              f"({float(frames.float().mean()) * HOP / FS:.2f} s mean at {FS} Hz, hop {HOP}), "
              f"{int(batch['text_lengths'].float().mean())} phonemes mean; teacher durations, "
              "pitch, energy")
        names = {0: "generic", best: lib.mvc_kernel_isa().decode() if lib else "no kernel"}
        print(f"# scan kernel paths compared: {', '.join(names[lv] for _, lv in paths)} "
              f"(switched in-process with mvc_set_isa; rounds {rounds}, interleaved, median)")
        settings = [(n, suffix, lv) for n in threads for suffix, lv in paths]
        times: Dict[str, List[float]] = {}
        for n, suffix, lv in settings:  # warm-up per setting
            torch.set_num_threads(n)
            if lib is not None:
                lib.mvc_set_isa(lv)
            step()
        for r in range(rounds):
            for n, suffix, lv in settings:
                torch.set_num_threads(n)
                if lib is not None:
                    lib.mvc_set_isa(lv)
                key = f"{n}thread{suffix}"
                times.setdefault(key, []).append(step())
            print(f"# round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items())
                  + f" (load {load_average()})", flush=True)
        if lib is not None:
            lib.mvc_set_isa(-1)
        jets = None
        if args.jets:
            try:
                torch.set_num_threads(1)
                jstep = jets_step_fn(lengths, args.tiny)
                jstep()
                jets = statistics.median(jstep() for _ in range(max(1, min(rounds, 2))))
            except Exception as e:  # noqa: BLE001 - a baseline that fails to build is skipped
                print(f"# JETS skipped: {type(e).__name__}: {e}")
        else:
            print("# JETS not run (--jets adds it; each of its steps trains HiFi-GAN V1 and "
                  "its discriminators)")
        print("#")
        print(f"# {'setting':<20} {'s/step':>8} {'min':>8} {'max':>8}")
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, v in times.items():
            print(f"  {k:<20} {med[k]:8.3f} {min(v):8.3f} {max(v):8.3f}")
        if jets is not None:
            print(f"  {'jets_1thread':<20} {jets:8.3f}")
        print(f"# load average at the end: {load_average()}")
        for k in med:
            print(f"train_seconds_per_step_{k}: {med[k]:.3f}")
        if jets is not None:
            print(f"train_seconds_per_step_jets_1thread: {jets:.3f}")
        for n in threads:
            if f"{n}thread_generic" in med:
                print(f"train_speedup_vs_generic_{n}thread: "
                      f"{med[f'{n}thread_generic'] / med[f'{n}thread']:.2f}")
        return 0
    finally:
        torch.set_num_threads(previous_threads)
        if lib is not None:
            lib.mvc_set_isa(-1)


if __name__ == "__main__":
    sys.exit(main())

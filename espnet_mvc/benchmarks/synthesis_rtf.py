"""End-to-end CPU real-time factor: MVC (2 / 4 / 10 flow steps + HiFi-GAN) vs ESPnet VITS / JETS.

    python -m espnet_mvc.bin.benchmark rtf [--quick] [--out-dir bench_out]

Systems, all built in this one process with random weights (timing does not depend on
weights), eval mode, ``torch.inference_mode``, ``torch.set_num_threads(min(2, cpus))``:

* ``mvc2`` / ``mvc4`` / ``mvc10`` -- MVC at the paper size (``conf/mvc_base.yaml``):
  reference style encoder over a 3 s reference mel (voice cloning: it runs on every
  call), conditioning stacks, CFM decoder with 2 / 4 / 10 Euler steps, then ESPnet's
  ``HiFiGANGenerator`` at its LJSpeech V1 size (upsample [8, 8, 2, 2], 512 channels,
  resblocks 3 / 7 / 11 x dilations 1 / 3 / 5).
* ``vits`` -- ESPnet ``VITS`` with its default generator (= the LJSpeech recipe: hidden 192,
  6 conformer text-encoder blocks, 4 flows, HiFi-GAN decoder 512 channels [8, 8, 2, 2]).
* ``jets`` -- ESPnet ``JETS`` with its default generator (= the LJSpeech recipe: transformer
  adim 256, 4 + 4 layers, Gaussian upsampling, HiFi-GAN V1 generator).
* ``mvc4_vocos`` -- ``mvc4`` with the project's own vocoder instead of HiFi-GAN: the
  Vocos-style generator shipped with ``kokoro_en_mvc`` (its ``vocoder.yaml``: ConvNeXt
  256 x 6 + iSTFT head), at this benchmark's hop (256, n_fft 4 x hop as shipped).
* ``fastspeech2_vocos`` -- ESPnet ``FastSpeech2`` at its LJSpeech recipe size (transformer
  adim 384, 4 + 4 layers, 1536 units, 5-layer postnet) with the same Vocos vocoder: a
  FastSpeech2/JETS-style text2mel model against MVC with one vocoder for both.
* ``vocos`` -- that vocoder alone.

Same output length for all: every token gets ``--frames-per-phoneme`` frames (default 6,
about LJSpeech's average at hop 256), so every system makes ``T x 6 x 256`` samples.
How the durations are forced: MVC through ``inference(durations=..., use_teacher_forcing=
True)`` (pitch / energy stay predicted); VITS through ``inference(durations=...)``; JETS has
no such argument, so its ``duration_predictor.inference`` is replaced by a function that
returns the fixed durations. In all three the duration predictor is therefore skipped (its
cost is small and at token rate). Output lengths are checked.

Timing: one warm-up call per (system, T), then ``--repeats`` rounds in which the systems
run one after another (interleaved, so a change of machine load hits all of them alike);
the median wall time is kept. RTF = synthesis wall time / audio duration (samples / 22050).
The aggregate RTF of a system is sum(median times) / sum(audio durations) over all T.
Last lines: ``rtf_ratio_mvc4_vocos_vs_vits`` (MVC with the shipped vocoder against VITS),
``rtf_ratio_mvc4_vocos_vs_fastspeech2_vocos`` and ``rtf_ratio_mvc4_vs_vits`` (both with
HiFi-GAN V1), each an aggregate RTF over the aggregate RTF of the baseline.

The measurement runs in a fresh interpreter with OpenMP's default wait policy
(``--omp-wait``; ``python -m espnet_mvc.bin.benchmark`` exports ``OMP_WAIT_POLICY=PASSIVE``,
which changes how each system pays for thread wake-ups). Process CPU time is reported
beside wall time: on a loaded machine read it (with ``--threads 1`` it is the compute
cost), and the load average is printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from espnet_mvc.benchmarks.machine import cpu_capability, machine_note

FS = 22050
HOP = 256
FULL_LENGTHS = [32, 64, 128, 256]
QUICK_LENGTHS = [32, 96]
TINY_LENGTHS = [8]
MVC_STEPS = (2, 4, 10)
REF_SECONDS = 3.0


def _frames_ok(wav, expect: int, name: str) -> int:
    n = int(wav.numel())
    if n != expect:
        raise RuntimeError(f"{name}: expected {expect} samples (forced durations), got {n}")
    return n


class Systems:
    """Builds the systems and returns, per text length, one synthesis closure per system."""

    def __init__(self, tiny: bool, vocab: int = 100, steps=MVC_STEPS):
        import torch

        from espnet_mvc.benchmarks import baselines as B

        torch.manual_seed(0)
        self.tiny, self.vocab, self.steps = tiny, vocab, tuple(steps)
        self.mvc = B.build_mvc(idim=vocab, tiny=tiny)
        self.vocoder = B.build_hifigan(tiny=tiny, in_channels=self.mvc.odim)
        self.vits = B.build_vits(idim=vocab, tiny=tiny)
        self.jets = B.build_jets(idim=vocab, tiny=tiny)
        self.vocos = build_shipped_vocos(tiny=tiny, n_mels=self.mvc.odim)
        self.fastspeech2 = build_fastspeech2(idim=vocab, odim=self.mvc.odim, tiny=tiny)
        ref_frames = 64 if tiny else int(REF_SECONDS * FS / HOP)
        self.ref = torch.randn(ref_frames, self.mvc.odim)
        self.params = {
            "mvc_text2mel": B.count_params(self.mvc) - B.count_params(self.mvc.aligner),
            "hifigan": B.count_params(self.vocoder),
            "vits_generator": B.count_params(self.vits.generator),
            "jets_generator": B.count_params(self.jets.generator),
            "vocos": B.count_params(self.vocos),
            "fastspeech2": B.count_params(self.fastspeech2),
        }
        self._jets_dur = None
        dp = self.jets.generator.duration_predictor
        # JETS has no durations argument: force them by replacing the predictor's output.
        dp.inference = lambda hs, masks=None: self._jets_dur.to(hs.device)
        # FastSpeech2 the same way (its durations include the appended <eos>, given 0)
        self._fs2_dur = None
        self.fastspeech2.duration_predictor.inference = (
            lambda hs, masks=None: self._fs2_dur.to(hs.device))

    def closures(self, t_text: int, fpp: int) -> Dict[str, Callable[[], int]]:
        import torch

        from espnet_mvc.benchmarks import baselines as B

        text = B.random_text(t_text, self.vocab)[0]
        dur = torch.full((t_text,), fpp, dtype=torch.long)
        samples = t_text * fpp * HOP
        out: Dict[str, Callable[[], int]] = {}

        def mvc(k):
            def run():
                o = self.mvc.inference(text, feats=self.ref, durations=dur,
                                       use_teacher_forcing=True, n_timesteps=k, seed=0)
                wav = self.vocoder(o["feat_gen"].transpose(0, 1).unsqueeze(0))
                return _frames_ok(wav, samples, f"mvc{k}")
            return run

        for k in self.steps:
            out[f"mvc{k}"] = mvc(k)

        def mvc4_vocos():
            o = self.mvc.inference(text, feats=self.ref, durations=dur,
                                   use_teacher_forcing=True, n_timesteps=4, seed=0)
            wav = self.vocos(o["feat_gen"].transpose(0, 1).unsqueeze(0))
            return _frames_ok(wav, samples, "mvc4_vocos")

        out["mvc4_vocos"] = mvc4_vocos

        def fastspeech2_vocos():
            self._fs2_dur = torch.cat([dur, dur.new_zeros(1)]).view(1, -1)
            o = self.fastspeech2.inference(text)
            wav = self.vocos(o["feat_gen"].transpose(0, 1).unsqueeze(0))
            return _frames_ok(wav, samples, "fastspeech2_vocos")

        out["fastspeech2_vocos"] = fastspeech2_vocos

        def vocoder_only():
            mel = torch.randn(1, self.mvc.odim, t_text * fpp)
            return _frames_ok(self.vocoder(mel), samples, "hifigan")

        out["hifigan"] = vocoder_only

        def vocos_only():
            mel = torch.randn(1, self.mvc.odim, t_text * fpp)
            return _frames_ok(self.vocos(mel), samples, "vocos")

        out["vocos"] = vocos_only

        def vits():
            o = self.vits.inference(text, durations=dur.float())
            return _frames_ok(o["wav"], samples, "vits")

        out["vits"] = vits

        def jets():
            self._jets_dur = dur.view(1, -1)
            o = self.jets.inference(text)
            return _frames_ok(o["wav"], samples, "jets")

        out["jets"] = jets
        return out


def build_shipped_vocos(tiny: bool = False, n_mels: int = 80):
    """The shipped model's vocoder architecture (``kokoro_en_mvc/vocoder.yaml``) at this
    benchmark's hop; random weights (timing does not depend on them)."""
    from espnet_mvc import pretrained
    from espnet_mvc.vocoder import build_generator, read_config

    conf = read_config(pretrained.path("kokoro_en_mvc") / "vocoder.pth")
    params = dict(conf["vocoder_params"], n_mels=n_mels, hop_length=HOP, n_fft=4 * HOP)
    if tiny:
        params.update(dim=32, intermediate_dim=64, num_layers=1)
    return build_generator(dict(conf, vocoder_params=params)).eval()


def build_fastspeech2(idim: int = 100, odim: int = 80, tiny: bool = False):
    """ESPnet ``FastSpeech2`` at the size of its LJSpeech recipe (``train_fastspeech2.yaml``)."""
    from espnet2.tts.fastspeech2 import FastSpeech2

    size = dict(adim=384, aheads=2, elayers=4, eunits=1536, dlayers=4, dunits=1536,
                positionwise_layer_type="conv1d", positionwise_conv_kernel_size=3,
                postnet_layers=5)
    if tiny:
        size = dict(adim=32, aheads=2, elayers=1, eunits=64, dlayers=1, dunits=64,
                    postnet_layers=1, postnet_chans=32)
    return FastSpeech2(idim=idim, odim=odim, **size).eval()


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m espnet_mvc.bin.benchmark rtf",
        description="End-to-end CPU RTF: MVC (2/4/10 steps + HiFi-GAN; 4 steps + the shipped "
                    "Vocos vocoder) vs ESPnet VITS, JETS and FastSpeech2 + Vocos, same process, "
                    "same forced output length.",
    )
    p.add_argument("--quick", action="store_true", help=f"T = {QUICK_LENGTHS}, 2 repeats")
    p.add_argument("--out-dir", default="bench_out", type=Path)
    p.add_argument("--lengths", type=int, nargs="+", default=None,
                   help=f"phonemes per utterance (default {FULL_LENGTHS})")
    p.add_argument("--frames-per-phoneme", type=int, default=6)
    p.add_argument("--repeats", type=int, default=None, help="default 3 (quick 2)")
    p.add_argument("--threads", type=int, default=None, help="default min(2, cpus)")
    p.add_argument("--omp-wait", choices=("default", "passive", "active", "inherit"),
                   default="default",
                   help="OMP_WAIT_POLICY of the measuring process (default: OpenMP's own, "
                        "the variable removed; see the encoder benchmark for why PASSIVE is "
                        "not a fair default)")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process, whatever OpenMP policy it already has")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests
    return p.parse_args(argv)


def _relay_to_child(argv: List[str], omp_wait: str) -> int:
    """Re-run this benchmark in a fresh interpreter whose OMP_WAIT_POLICY is set as asked
    (libgomp reads it once, when torch loads), relaying its stdout."""
    import subprocess

    env = dict(os.environ)
    if omp_wait == "default":
        env.pop("OMP_WAIT_POLICY", None)
    elif omp_wait in ("passive", "active"):
        env["OMP_WAIT_POLICY"] = omp_wait.upper()
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "espnet_mvc.benchmarks.synthesis_rtf", *argv, "--in-process"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()  # only this child
            proc.wait()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not args.in_process:
        return _relay_to_child(argv, args.omp_wait)
    import torch

    from espnet_mvc.benchmarks import baselines as B

    if args.tiny:
        lengths, repeats = args.lengths or TINY_LENGTHS, args.repeats or 1
    elif args.quick:
        lengths, repeats = args.lengths or QUICK_LENGTHS, args.repeats or 2
    else:
        lengths, repeats = args.lengths or FULL_LENGTHS, args.repeats or 3
    lengths = sorted(set(lengths))
    threads = B.set_threads(args.threads)
    fpp = args.frames_per_phoneme
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    systems = Systems(tiny=args.tiny)
    build_s = time.time() - t0
    print(f"# rtf benchmark: T={lengths} phonemes x {fpp} frames (forced) x {HOP} hop @ {FS} Hz"
          f", batch 1, threads={threads}, repeats={repeats}{' tiny' if args.tiny else ''}")
    print(f"# {machine_note()}  (build {build_s:.1f}s)")
    print(f"# cpu_capability: {cpu_capability()}")
    print("# params: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in systems.params.items()))
    names: List[str] = []
    rows: List[Dict[str, Any]] = []
    with torch.inference_mode():
        for t in lengths:
            fns = systems.closures(t, fpp)
            names = list(fns)
            samples = {n: fn() for n, fn in fns.items()}  # warm-up + length check
            times: Dict[str, List[float]] = {n: [] for n in fns}
            cpus: Dict[str, List[float]] = {n: [] for n in fns}
            for _ in range(repeats):
                for n, fn in fns.items():  # interleaved
                    w, c = B.time_call(fn)
                    times[n].append(w)
                    cpus[n].append(c)
            audio_s = samples[names[0]] / FS
            for n in names:
                wall, cpu = B.median(times[n]), B.median(cpus[n])
                rows.append(dict(system=n, T=t, frames=t * fpp, samples=samples[n],
                                 audio_s=audio_s, wall_s=wall, rtf=wall / audio_s,
                                 cpu_s=cpu, rtf_cpu=cpu / audio_s, walls=times[n]))
            line = "  ".join(f"{n} {B.median(times[n]) / audio_s:.3f}" for n in names)
            print(f"T={t:<5} audio {audio_s:6.2f}s  RTF: {line}", flush=True)
            line = "  ".join(f"{n} {B.median(cpus[n]) / audio_s:.3f}" for n in names)
            print(f"{'':<7} {'':<13}  CPU-time RTF: {line}", flush=True)

    def agg(n):
        rs = [r for r in rows if r["system"] == n]
        return sum(r["wall_s"] for r in rs) / sum(r["audio_s"] for r in rs)

    rtf = {n: agg(n) for n in names}

    def agg_cpu(n):
        rs = [r for r in rows if r["system"] == n]
        return sum(r["cpu_s"] for r in rs) / sum(r["audio_s"] for r in rs)

    rtf_cpu = {n: agg_cpu(n) for n in names}
    ratios = {}
    for k in systems.steps:
        for base in ("vits", "jets"):
            ratios[f"mvc{k}_vs_{base}"] = rtf[f"mvc{k}"] / rtf[base]
    per_t = {
        t: {f"mvc{k}_vs_vits": next(r["rtf"] for r in rows if r["system"] == f"mvc{k}"
                                     and r["T"] == t)
            / next(r["rtf"] for r in rows if r["system"] == "vits" and r["T"] == t)
            for k in systems.steps}
        for t in lengths
    }
    ratios_cpu = {f"mvc{k}_vs_{b}": rtf_cpu[f"mvc{k}"] / rtf_cpu[b]
                  for k in systems.steps for b in ("vits", "jets")}
    summary = dict(aggregate_rtf=rtf, aggregate_rtf_cpu_time=rtf_cpu, ratios=ratios,
                   ratios_cpu_time=ratios_cpu, per_T_ratio_vs_vits=per_t,
                   threads=threads, frames_per_phoneme=fpp, lengths=lengths, tiny=args.tiny,
                   params=systems.params, machine=machine_note(), cpu_capability=cpu_capability(),
                   elapsed_s=time.time() - t0)
    (out_dir / "rtf_results.json").write_text(
        json.dumps(dict(summary=summary, results=rows), indent=1, default=str))
    with open(out_dir / "rtf_results.csv", "w", newline="") as f:
        w = csv.writer(f)
        cols = ["system", "T", "frames", "samples", "audio_s", "wall_s", "rtf", "cpu_s",
                "rtf_cpu"]
        w.writerow(cols)
        for r in rows:
            w.writerow([r[k] for k in cols])
    print("# aggregate RTF (sum time / sum audio): "
          + "  ".join(f"{n} {v:.4f}" for n, v in rtf.items()))
    mvc_share = {k: rtf["hifigan"] / rtf[f"mvc{k}"] for k in systems.steps}
    print("# HiFi-GAN share of MVC time: "
          + "  ".join(f"mvc{k} {v:.0%}" for k, v in mvc_share.items()))
    print("# aggregate CPU-time RTF (process CPU / audio; meaningful with 1 thread): "
          + "  ".join(f"{n} {v:.4f}" for n, v in rtf_cpu.items()))
    print("# ratios, CPU time: " + "  ".join(f"{k} {v:.3f}" for k, v in ratios_cpu.items()))
    print("# ratios (wall; <1: MVC faster): "
          + "  ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    print(f"# wrote {out_dir / 'rtf_results.json'}, {out_dir / 'rtf_results.csv'}; "
          f"{machine_note()}")
    for name, num, den in (("mvc4_vocos_vs_vits", "mvc4_vocos", "vits"),
                           ("mvc4_vocos_vs_fastspeech2_vocos", "mvc4_vocos", "fastspeech2_vocos"),
                           ("mvc4_vs_vits", "mvc4", "vits")):
        val = rtf[num] / rtf[den]
        print(f"rtf_ratio_{name}: {val:.3f}" if math.isfinite(val)
              else f"rtf_ratio_{name}: nan", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ONNX runtime against PyTorch on the same model, in the same run.

    python -m espnet_mvc.bin.benchmark onnx [--quick] [--model kokoro_en_mvc] [--threads 2]

1. exports the model (``espnet-mvc export --onnx``; ``--onnx DIR`` reuses an export);
2. synthesizes the held-out sentences shipped beside the model with each item's reference,
   by both backends at the model's decode defaults (the shipped model: temperature 0), and
   compares their mels; both are transcribed by the same ASR (WER, %);
3. times both on the same items, each backend in processes of its own as it is deployed
   (:data:`TIMING_SETUPS`: ONNX without torch; PyTorch with ``OMP_WAIT_POLICY=PASSIVE`` as
   the ``espnet-mvc`` command line sets it, with OpenMP's default waits, and on its chunked
   scan in standard ops, as where the C scan cannot be built), the setups alternating round
   by round: RTF = synthesis time / audio time, end to end (reference
   features to waveform), with ``--threads`` threads each;
4. cold start: ``espnet-mvc synth`` of one short sentence (the default voice) in a fresh
   process per run, each backend, after one warm-up round;
5. install size: the installed distributions the runtime needs (onnxruntime, numpy,
   soundfile, scipy, phonemizer, espeakng-loader and theirs) against those of the full
   package (espnet-mvc's own dependencies: torch, ESPnet, ...), in MB on disk.

Prints ``key: value`` lines: ``onnx_mel_max_abs_diff``, ``onnx_wer``, ``torch_wer``,
``onnx_wer_minus_torch``, ``onnx_rtf``, ``torch_rtf``, ``onnx_vs_torch_rtf``,
``torch_rtf_omp_default``, ``onnx_vs_torch_rtf_omp_default``, ``torch_rtf_chunked_scan``,
``onnx_vs_torch_rtf_chunked_scan``,
``onnx_cold_start_s``, ``torch_cold_start_s``, ``onnx_install_mb``, ``full_install_mb`` and
``onnx_export_s``. Bars (issue 26): mel difference <= 1e-3, WER within 1 point, ONNX RTF <=
PyTorch's, ONNX cold start <= 1.0 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from espnet_mvc.benchmarks.machine import cpu_capability, load_average
from espnet_mvc.benchmarks.quality import pick, read_heldout, wer_of

# What espnet_mvc.onnx_runtime imports (scipy: only to resample a reference clip)
RUNTIME_REQUIREMENTS = ("onnxruntime", "numpy", "soundfile", "scipy", "phonemizer",
                        "espeakng-loader")
COLD_TEXT = "Hello there."


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def distribution_closure(names: Iterable[str]) -> Dict[str, object]:
    """The installed distributions ``names`` need, theirs included (extras left out)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: Dict[str, object] = {}
    stack = [_canonical(n) for n in names]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            seen[name] = None
            continue
        seen[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            stack.append(_canonical(req.name))
    return seen


def installed_mb(dists: Dict[str, object]) -> float:
    """Size on disk of the files the distributions installed, in MB."""
    total = 0
    for dist in dists.values():
        for f in (getattr(dist, "files", None) or []):
            p = Path(dist.locate_file(f))
            if p.is_file():
                total += p.stat().st_size
    return total / 1e6


def package_code_mb() -> float:
    """espnet_mvc's own Python files (the runtime ships the code, not the models)."""
    root = Path(__file__).resolve().parents[1]
    return sum(p.stat().st_size for p in root.rglob("*.py")) / 1e6


def cold_start(cmds: Dict[str, List[str]], rounds: int) -> Dict[str, float]:
    """Median wall seconds of each command, fresh processes, after one warm-up round."""
    times: Dict[str, List[float]] = {}
    for cmd in cmds.values():
        subprocess.run(cmd, capture_output=True, check=True)
    for _ in range(rounds):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            times.setdefault(name, []).append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise RuntimeError(f"{name} failed: {proc.stderr[-2000:]}")
    return {name: statistics.median(ts) for name, ts in times.items()}


# Each backend is timed in a process of its own, as it is deployed: ONNX without torch in the
# process; PyTorch with OMP_WAIT_POLICY=PASSIVE, as `espnet-mvc synth` and `serve` run it;
# once more with OpenMP's default waits, as a library user's process may run it; and once
# on PyTorch's chunked scan in standard ops (ESPNET_MVC_SCAN=chunked), which is what PyTorch
# runs where the compiled C scan cannot be built (no C compiler) and the same kind of scan
# as the ONNX graphs. Values: (backend, environment variables set; the others are removed).
TIMING_SETUPS = {
    "onnx": ("onnx", {}),
    "torch": ("torch", {"OMP_WAIT_POLICY": "PASSIVE"}),
    "torch_omp_default": ("torch", {}),
    "torch_chunked_scan": ("torch", {"OMP_WAIT_POLICY": "PASSIVE", "ESPNET_MVC_SCAN": "chunked"}),
}
# the variables any setup sets: each worker gets the caller's environment without them
_SETUP_ENV = frozenset(k for _, env in TIMING_SETUPS.values() for k in env)


def time_backends(model: str, onnx_dir: Path, ids, items, threads: int, rounds: int,
                  workdir: Path) -> Dict[str, float]:
    """RTF (synthesis seconds / audio seconds) of every :data:`TIMING_SETUPS` entry, each in
    fresh processes (:mod:`espnet_mvc.benchmarks.synthesis_timing_worker`), one process per
    setup and round, the setups alternating round by round so that drift hits them alike."""
    jobs = {}
    for backend in ("torch", "onnx"):
        job = dict(model=model if backend == "torch" else str(onnx_dir), threads=threads,
                   rounds=1, items=[dict(ids=[int(x) for x in k], ref=str(i.ref))
                                    for k, i in zip(ids, items)])
        jobs[backend] = workdir / f"timing_{backend}.json"
        jobs[backend].write_text(json.dumps(job))
    totals = {name: [0.0, 0.0] for name in TIMING_SETUPS}
    for _ in range(rounds):
        for name, (backend, setup_env) in TIMING_SETUPS.items():
            env = {k: v for k, v in os.environ.items() if k not in _SETUP_ENV}
            env.update(setup_env)
            proc = subprocess.run(
                [sys.executable, "-m", "espnet_mvc.benchmarks.synthesis_timing_worker",
                 backend, str(jobs[backend])], capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise RuntimeError(f"timing {name} failed: {proc.stderr[-2000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            totals[name][0] += result["elapsed"]
            totals[name][1] += result["seconds"]
    return {name: e / s for name, (e, s) in totals.items()}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m espnet_mvc.bin.benchmark onnx",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="kokoro_en_mvc",
                    help="shipped model name (its held-out set is used)")
    ap.add_argument("--onnx", type=Path, default=None,
                    help="an export of --model to reuse (default: exported into a temp dir)")
    ap.add_argument("--quick", action="store_true",
                    help="4 seen + 4 zero-shot items, 2 timing rounds, 3 cold starts")
    ap.add_argument("--per-set", type=int, default=None, help="items per set (default 8)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                    help="threads of each backend (default 2)")
    ap.add_argument("--rounds", type=int, default=None, help="timing rounds (default 3)")
    ap.add_argument("--cold-rounds", type=int, default=None,
                    help="cold starts per backend (default 5)")
    ap.add_argument("--no-asr", action="store_true", help="skip the WER lines")
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    from espnet_mvc import pretrained
    from espnet_mvc.export.onnx import export_onnx
    from espnet_mvc.inference.synthesizer import MVCSynthesizer
    from espnet_mvc.onnx_runtime import OnnxSynthesizer

    torch.set_num_threads(a.threads)
    per_set = a.per_set or (4 if a.quick else 8)
    rounds = a.rounds or (2 if a.quick else 3)
    cold_rounds = a.cold_rounds or (3 if a.quick else 5)
    print(f"# onnx benchmark: model {a.model}; threads {a.threads} each; "
          f"cpu_capability: {cpu_capability()}; cpus={os.cpu_count()} "
          f"loadavg(start)={load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="espnet_mvc_onnx_") as tmp:
        out = a.onnx or Path(tmp) / "onnx"
        export_s = float("nan")
        if not (out / "model.json").is_file():
            t0 = time.perf_counter()
            export_onnx(a.model, out)
            export_s = time.perf_counter() - t0
        onnx_tts = OnnxSynthesizer(out, threads=a.threads)
        torch_tts = MVCSynthesizer.from_pretrained(a.model)
        items = pick(read_heldout(pretrained.path(a.model)), per_set)
        ids = [torch_tts.text_to_ids(i.text) for i in items]
        print(f"# {len(items)} held-out items ({sum(i.set == 'seen' for i in items)} seen); "
              f"export {export_s:.1f} s", flush=True)

        # the outputs compared here; the timing runs in processes of its own (time_backends)
        torch_res = [torch_tts.synthesize(k, ref=str(i.ref)) for k, i in zip(ids, items)]
        onnx_res = [onnx_tts.synthesize(k.numpy(), ref=str(i.ref)) for k, i in zip(ids, items)]
        diffs = [float(np.abs(o.mel - t.mel).max()) for o, t in zip(onnx_res, torch_res)]
        same_durations = sum(np.array_equal(o.durations, t.durations)
                             for o, t in zip(onnx_res, torch_res))
        rtf = time_backends(a.model, out, ids, items, a.threads, rounds, Path(tmp))
        print(f"# {same_durations}/{len(items)} items with identical durations; "
              f"audio per round {sum(r.seconds for r in onnx_res):.1f} s", flush=True)

        wer = {}
        if not a.no_asr:
            from espnet_mvc.metrics.asr import WhisperASR

            asr = WhisperASR()
            for name, res in (("torch", torch_res), ("onnx", onnx_res)):
                scores, _ = wer_of(asr, [r.wav for r in res], torch_tts.fs, items)
                wer[name] = scores["wer"]
            print(f"# ASR: {asr.name}", flush=True)

        cli = [sys.executable, "-m", "espnet_mvc.bin.cli", "synth", "--text", COLD_TEXT, "--quiet"]
        cold = cold_start({
            "torch": cli + ["--model", a.model, "--out", str(Path(tmp) / "t.wav")],
            "onnx": cli + ["--backend", "onnx", "--model", str(out),
                           "--out", str(Path(tmp) / "o.wav")],
        }, cold_rounds)

    runtime = distribution_closure(RUNTIME_REQUIREMENTS)
    full = distribution_closure(["espnet-mvc", *RUNTIME_REQUIREMENTS])
    heavy = sorted(n for n in runtime if n in ("torch", "espnet", "torchaudio"))
    print(f"# runtime distributions ({len(runtime)}): {', '.join(sorted(runtime))}")
    print(f"# torch or espnet among them: {heavy or 'none'}")
    print(f"# loadavg(end)={load_average()}")
    print(f"onnx_mel_max_abs_diff: {max(diffs):.2e}")
    if wer:
        print(f"onnx_wer: {wer['onnx']:.2f}")
        print(f"torch_wer: {wer['torch']:.2f}")
        print(f"onnx_wer_minus_torch: {wer['onnx'] - wer['torch']:.2f}")
    print(f"onnx_rtf: {rtf['onnx']:.4f}")
    print(f"torch_rtf: {rtf['torch']:.4f}")
    print(f"onnx_vs_torch_rtf: {rtf['onnx'] / rtf['torch']:.2f}")
    print(f"torch_rtf_omp_default: {rtf['torch_omp_default']:.4f}")
    print(f"onnx_vs_torch_rtf_omp_default: {rtf['onnx'] / rtf['torch_omp_default']:.2f}")
    print(f"torch_rtf_chunked_scan: {rtf['torch_chunked_scan']:.4f}")
    print(f"onnx_vs_torch_rtf_chunked_scan: {rtf['onnx'] / rtf['torch_chunked_scan']:.2f}")
    print(f"onnx_cold_start_s: {cold['onnx']:.2f}")
    print(f"torch_cold_start_s: {cold['torch']:.2f}")
    print(f"onnx_install_mb: {installed_mb(runtime) + package_code_mb():.0f}")
    print(f"full_install_mb: {installed_mb(full) + package_code_mb():.0f}")
    print(f"onnx_export_s: {export_s:.1f}", flush=True)
    return 0

"""Selective-scan benchmark: the project's CPU scan vs a plain sequential loop.

    python -m espnet_mvc.bin.benchmark scan [--quick]

For L = 128, 256, ..., 8192 (``--quick``: up to 2048), batch 1, d_inner 512, d_state 16,
this times, in one run and on the same inputs:

* the project's ``selective_scan`` with its default backend (``ESPNET_MVC_SCAN``, normally
  ``auto`` = the compiled C kernel), and with the chunked PyTorch backend;
* the plain loop reference ``selective_scan_ref`` (one Python iteration per time step);

forward only (under ``no_grad``, as at inference) and forward + backward (gradients w.r.t.
every input, as in training). Each figure is the median of a few repeats after a warm-up.
Inputs follow a freshly initialised ``Mamba`` (mamba_ssm's init): A = -(1..16) for every
channel, D = 1, dt_bias = softplus^-1(dt) with dt log-uniform in [1e-3, 1e-1], the pre-bias
delta ~ N(0, 0.2^2) (the spread of dt_proj(x_proj(x)) at init), u = silu(N(0, 1)),
z, B, C ~ N(0, 1); softplus on delta, D skip and silu(z) gate are applied, as in ``Mamba``.

The table shows milliseconds, the loop/scan ratios, the time per step in microseconds
(constant per-step time = linear growth in L) and the largest relative difference between
the default backend's output and the loop's. The last line is machine-readable::

    scan_speedup_vs_loop_L2048: <forward time of the loop / default backend at L=2048>
"""

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F

from espnet_mvc.benchmarks.machine import cpu_capability, load_average

FULL_LENGTHS = [128, 256, 512, 1024, 2048, 4096, 8192]
QUICK_LENGTHS = [128, 256, 512, 1024, 2048]
SPEEDUP_LENGTH = 2048
FINAL_KEY = f"scan_speedup_vs_loop_L{SPEEDUP_LENGTH}"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m espnet_mvc.bin.benchmark scan",
        description="Selective scan (default and chunked backends) vs a sequential loop.",
    )
    p.add_argument("--quick", action="store_true", help=f"L up to {SPEEDUP_LENGTH} only")
    p.add_argument("--lengths", type=int, nargs="+", default=None,
                   help=f"sequence lengths (L={SPEEDUP_LENGTH} is always added)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--d-inner", type=int, default=512)
    p.add_argument("--d-state", type=int, default=16)
    p.add_argument("--repeats", type=int, default=None, help="timed runs per cell "
                   "(median; default 5, quick 3; the loop at most 3)")
    p.add_argument("--threads", type=int, default=None, help="default min(2, cpu count)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time (default); cpu: CPU time of this process, "
                   "robust when other jobs share the cores (use with --threads 1)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def make_inputs(length: int, batch: int, d_inner: int, d_state: int, seed: int = 0,
                dt_min: float = 1e-3, dt_max: float = 1e-1) -> Dict[str, torch.Tensor]:
    """Scan inputs as a freshly initialised Mamba layer produces them (see module doc)."""
    g = torch.Generator().manual_seed(seed)
    dt = torch.exp(torch.rand(d_inner, generator=g) * (math.log(dt_max) - math.log(dt_min))
                   + math.log(dt_min))
    return dict(
        u=F.silu(torch.randn(batch, d_inner, length, generator=g)),
        delta=0.2 * torch.randn(batch, d_inner, length, generator=g),
        A=-torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1),
        B=torch.randn(batch, d_state, length, generator=g),
        C=torch.randn(batch, d_state, length, generator=g),
        D=torch.ones(d_inner),
        z=torch.randn(batch, d_inner, length, generator=g),
        delta_bias=dt + torch.log(-torch.expm1(-dt)),  # inverse softplus, as mamba_ssm
    )


@contextmanager
def scan_env(value: Optional[str]):
    """Temporarily set ESPNET_MVC_SCAN (None: leave as is)."""
    if value is None:
        yield
        return
    old = os.environ.get("ESPNET_MVC_SCAN")
    os.environ["ESPNET_MVC_SCAN"] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ["ESPNET_MVC_SCAN"]
        else:
            os.environ["ESPNET_MVC_SCAN"] = old


def time_call(fn: Callable[[], None], repeats: int, clock: str = "wall") -> float:
    """Median time of ``fn`` over ``repeats`` runs, in milliseconds (wall or CPU clock)."""
    now = time.perf_counter if clock == "wall" else time.process_time
    times = []
    for _ in range(repeats):
        gc.collect()
        start = now()
        fn()
        times.append(now() - start)
    return 1e3 * statistics.median(times)


def forward_fn(scan, inputs, env):
    def run():
        with scan_env(env), torch.no_grad():
            return scan(**inputs, delta_softplus=True)
    return run


def forward_backward_fn(scan, inputs, env):
    grad_out = torch.randn_like(inputs["u"])

    def run():
        leaves = {k: v.detach().requires_grad_() for k, v in inputs.items()}
        with scan_env(env):
            y = scan(**leaves, delta_softplus=True)
            y.backward(grad_out)
    return run


def machine_line(threads: int) -> str:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = os.cpu_count()
    return (f"# machine: cpu count {os.cpu_count()} (usable {affinity}); torch "
            f"{torch.__version__}, threads {threads}; python {platform.python_version()}; "
            f"loadavg {load_average()}\n# cpu_capability: {cpu_capability()}")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    threads = args.threads or min(2, os.cpu_count() or 1)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(args, threads)
    finally:  # main() may be called in-process (tests)
        torch.set_num_threads(previous_threads)


def _run(args, threads: int) -> int:
    # imported here so that --help stays fast
    from espnet_mvc.nets.ssm import cpu_kernel
    from espnet_mvc.nets.ssm.selective_scan import scan_backend, selective_scan, selective_scan_ref

    lengths = args.lengths or (QUICK_LENGTHS if args.quick else FULL_LENGTHS)
    lengths = sorted(set(lengths) | {SPEEDUP_LENGTH})
    repeats = args.repeats or (3 if args.quick else 5)
    loop_repeats = min(repeats, 3)
    probe = torch.zeros(1, 1, 1)
    default = scan_backend(probe, args.d_state)  # builds the kernel on first use
    setting = os.environ.get("ESPNET_MVC_SCAN", "auto")

    print(machine_line(threads))
    print(f"# selective scan: batch {args.batch}, d_inner {args.d_inner}, d_state "
          f"{args.d_state}; Mamba init (A=-(1..{args.d_state}), D=1, dt in [1e-3, 1e-1]), "
          f"softplus + D skip + silu(z) gate")
    print(f"# default backend: {default} (ESPNET_MVC_SCAN={setting}"
          + (f"; kernel unavailable: {cpu_kernel._load_failed}" if default != "kernel"
             and cpu_kernel._load_failed else "")
          + f"); loop = selective_scan_ref (one Python step per frame); {args.clock} "
          f"clock, median of {repeats} runs ({loop_repeats} for the loop) after a warm-up")
    print("#")
    header = (f"{'L':>6} | {'fwd ms: default':>15} {'chunked':>9} {'loop':>9} "
              f"{'loop/def':>8} {'loop/chk':>8} | {'fwd+bwd ms: default':>19} "
              f"{'chunked':>9} {'loop':>9} {'loop/def':>8} {'loop/chk':>8} | "
              f"{'us/step fwd':>11} {'fwd+bwd':>8} | {'max rel diff':>12}")
    print(header)
    print("-" * len(header))

    # warm-up (kernel build, allocator, first-call costs) on the smallest size
    warm = make_inputs(lengths[0], args.batch, args.d_inner, args.d_state, args.seed)
    for scan, env in ((selective_scan, None), (selective_scan, "chunked"),
                      (selective_scan_ref, None)):
        forward_fn(scan, warm, env)()
        forward_backward_fn(scan, warm, env)()

    results = {}
    for length in lengths:
        inputs = make_inputs(length, args.batch, args.d_inner, args.d_state, args.seed)
        row, outputs = {}, {}
        cells = (("default", selective_scan, None, repeats),
                 ("chunked", selective_scan, "chunked", repeats),
                 ("loop", selective_scan_ref, None, loop_repeats))
        for key, scan, env, reps in cells:
            fwd = forward_fn(scan, inputs, env)
            outputs[key] = fwd()  # warm-up at this size
            row[f"fwd_{key}"] = time_call(fwd, reps, args.clock)
        for key, scan, env, reps in cells:
            row[f"fb_{key}"] = time_call(forward_backward_fn(scan, inputs, env), reps,
                                         args.clock)
        y_def, y_loop = outputs["default"], outputs["loop"]
        diff = ((y_def - y_loop).abs().max() / y_loop.abs().max()).item()
        results[length] = row
        print(f"{length:>6} | {row['fwd_default']:>15.2f} {row['fwd_chunked']:>9.2f} "
              f"{row['fwd_loop']:>9.2f} {row['fwd_loop'] / row['fwd_default']:>7.1f}x "
              f"{row['fwd_loop'] / row['fwd_chunked']:>7.1f}x | {row['fb_default']:>19.2f} "
              f"{row['fb_chunked']:>9.2f} {row['fb_loop']:>9.2f} "
              f"{row['fb_loop'] / row['fb_default']:>7.1f}x "
              f"{row['fb_loop'] / row['fb_chunked']:>7.1f}x | "
              f"{1e3 * row['fwd_default'] / length:>11.2f} "
              f"{1e3 * row['fb_default'] / length:>8.2f} | {diff:>12.1e}", flush=True)
        del inputs, outputs, y_def, y_loop
        gc.collect()

    first, last = lengths[0], lengths[-1]
    if last > first:
        per_step = {k: (results[last][k] / last) / (results[first][k] / first)
                    for k in ("fwd_default", "fb_default", "fwd_loop")}
        print(f"# per-step time at L={last} / at L={first} (1.0 = linear growth; short "
              f"sequences carry fixed per-call costs): default fwd "
              f"{per_step['fwd_default']:.2f}, default fwd+bwd {per_step['fb_default']:.2f}, "
              f"loop fwd {per_step['fwd_loop']:.2f}")
    at = results[SPEEDUP_LENGTH]
    print(f"# at L={SPEEDUP_LENGTH}: forward {at['fwd_loop'] / at['fwd_default']:.1f}x "
          f"(chunked {at['fwd_loop'] / at['fwd_chunked']:.1f}x), forward+backward "
          f"{at['fb_loop'] / at['fb_default']:.1f}x (chunked "
          f"{at['fb_loop'] / at['fb_chunked']:.1f}x) faster than the loop")
    print(f"{FINAL_KEY}: {at['fwd_loop'] / at['fwd_default']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

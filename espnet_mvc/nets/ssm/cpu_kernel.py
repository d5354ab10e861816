"""Compiled CPU selective scan (forward and backward), loaded through ctypes.

``csrc/selective_scan_cpu.c`` is plain C with no PyTorch headers, so it compiles in about
a second with the system C compiler on first use and is cached under
``$ESPNET_MVC_CACHE`` (default ``~/.cache/espnet_mvc``), keyed by the source, the flags and
the CPU. ctypes releases the GIL during the call, so rows of the (batch, channel) grid are
split over ``torch.get_num_threads()`` Python threads. If no compiler is available the
callers fall back to the chunked PyTorch scan (see ``selective_scan.py``).
"""

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Tuple

import torch

_SOURCE = Path(__file__).with_name("csrc") / "selective_scan_cpu.c"
_FLAGS = ["-O3", "-march=native", "-ffast-math", "-fPIC", "-shared"]
# States are checkpointed every this many steps; backward recomputes inside a chunk.
CKPT_EVERY = 64

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_load_failed: Optional[str] = None
_pool: Optional[ThreadPoolExecutor] = None


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return platform.machine() + flags


def _cache_dir() -> Path:
    root = os.environ.get("ESPNET_MVC_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "espnet_mvc"
    )
    return Path(root)


def _compile() -> Path:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc/gcc) on PATH")
    source = _SOURCE.read_bytes()
    key = hashlib.sha1(source + " ".join(_FLAGS).encode() + _cpu_signature().encode())
    target = _cache_dir() / f"selective_scan_cpu_{key.hexdigest()[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target, then rename: concurrent processes never see a partial file.
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        cmd = [compiler, *_FLAGS, "-o", tmp, str(_SOURCE), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load() -> Optional[ctypes.CDLL]:
    """Return the compiled library, building it on first use; None if that is impossible."""
    global _lib, _load_failed, _pool
    if _lib is not None or _load_failed is not None:
        return _lib
    with _lock:
        if _lib is None and _load_failed is None:
            try:
                lib = ctypes.CDLL(str(_compile()))
                i64, ptr = ctypes.c_int64, ctypes.c_void_p
                lib.mvc_scan_fwd.argtypes = [ptr] * 9 + [i64] * 6
                lib.mvc_scan_bwd.argtypes = [ptr] * 15 + [i64] * 6
                lib.mvc_scan_fwd.restype = lib.mvc_scan_bwd.restype = None
                _lib = lib
                _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
            except Exception as e:  # compiler missing, sandbox without exec, ...
                _load_failed = str(e)
                logging.warning("compiled CPU scan unavailable (%s); using the chunked scan", e)
    return _lib


def max_state() -> int:
    lib = load()
    return lib.mvc_scan_max_state() if lib is not None else 0


def _ptr(t: Optional[torch.Tensor]) -> Optional[int]:
    return None if t is None else t.data_ptr()


def _row_splits(rows: int) -> List[Tuple[int, int]]:
    n = max(1, min(torch.get_num_threads(), rows))
    bounds = [rows * i // n for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n) if bounds[i] < bounds[i + 1]]


def _run_parallel(fn, splits):
    if len(splits) == 1:
        fn(0, *splits[0])
        return
    futures = [_pool.submit(fn, i, lo, hi) for i, (lo, hi) in enumerate(splits)]
    for f in futures:
        f.result()


class CompiledSelectiveScan(torch.autograd.Function):
    """Autograd function over the compiled kernel.

    Inputs are float32 CPU tensors: u, dt (B, D, L); A (D, N); Bt, Ct (B, L, N);
    h0 (B, D, N). Returns y = sum_n C h (B, D, L) and the last state (B, D, N).
    """

    @staticmethod
    def forward(ctx, u, dt, A, Bt, Ct, h0):
        lib = load()
        u, dt, A, Bt, Ct, h0 = (t.contiguous() for t in (u, dt, A, Bt, Ct, h0))
        bsz, dim, length = u.shape
        d_state = A.shape[1]
        y = u.new_empty(bsz, dim, length)
        h_last = u.new_empty(bsz, dim, d_state)
        needs_grad = any(ctx.needs_input_grad)
        n_ckpt = (length + CKPT_EVERY - 1) // CKPT_EVERY
        ckpt = u.new_empty(bsz, dim, n_ckpt, d_state) if needs_grad else None
        args = [_ptr(t) for t in (u, dt, A, Bt, Ct, h0, y, h_last, ckpt)]

        def work(_, lo, hi):
            lib.mvc_scan_fwd(*args, dim, length, d_state, CKPT_EVERY, lo, hi)

        _run_parallel(work, _row_splits(bsz * dim))
        if needs_grad:
            ctx.save_for_backward(u, dt, A, Bt, Ct, ckpt)
        return y, h_last

    @staticmethod
    def backward(ctx, gy, g_hlast):
        lib = load()
        u, dt, A, Bt, Ct, ckpt = ctx.saved_tensors
        bsz, dim, length = u.shape
        d_state = A.shape[1]
        gy = (gy if gy is not None else torch.zeros_like(u)).float().contiguous()
        g_hlast = (
            g_hlast if g_hlast is not None else u.new_zeros(bsz, dim, d_state)
        ).float().contiguous()
        gu, gdt = torch.empty_like(u), torch.empty_like(dt)
        gh0 = u.new_empty(bsz, dim, d_state)
        splits = _row_splits(bsz * dim)
        # Channels and time steps are shared between rows: each thread accumulates into
        # its own buffers, summed afterwards.
        gA_parts = u.new_zeros(len(splits), dim, d_state)
        gB_parts = u.new_zeros(len(splits), bsz, length, d_state)
        gC_parts = u.new_zeros(len(splits), bsz, length, d_state)
        scratch = u.new_empty(len(splits), CKPT_EVERY + 1, d_state)
        shared = [_ptr(t) for t in (u, dt, A, Bt, Ct, ckpt, gy, g_hlast, gu, gdt)]

        def work(i, lo, hi):
            lib.mvc_scan_bwd(
                *shared,
                _ptr(gA_parts[i]), _ptr(gB_parts[i]), _ptr(gC_parts[i]),
                _ptr(gh0), _ptr(scratch[i]),
                dim, length, d_state, CKPT_EVERY, lo, hi,
            )

        _run_parallel(work, splits)
        return gu, gdt, gA_parts.sum(0), gB_parts.sum(0), gC_parts.sum(0), gh0

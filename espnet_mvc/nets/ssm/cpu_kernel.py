"""Compiled CPU selective scan (forward and backward), loaded through ctypes.

``csrc/selective_scan_cpu.c`` is plain C with no PyTorch headers, so it compiles in about
a second with the system C compiler on first use and is cached under
``$ESPNET_MVC_CACHE`` (default ``~/.cache/espnet_mvc``), keyed by the source, the flags and
the CPU. It is built with OpenMP where the compiler has it, and then runs on PyTorch's own
libgomp thread team (``torch.get_num_threads()`` threads; no second pool competing with
PyTorch's ops for the cores). If no compiler is available the callers fall back to the
chunked PyTorch scan (see ``selective_scan.py``).
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
from pathlib import Path
from typing import Optional

import torch

_SOURCE = Path(__file__).with_name("csrc") / "selective_scan_cpu.c"
_FLAGS = ["-O3", "-ffast-math", "-fPIC", "-shared"]
# Target ISA of the build (ESPNET_MVC_KERNEL_ISA). "native" uses every vector extension of
# this CPU; "avx2" builds what an AVX2 + FMA machine (most laptops, many servers) runs, so a
# wider CPU can measure users' CPUs, together with ATEN_CPU_CAPABILITY=avx2 and
# MKL_ENABLE_INSTRUCTIONS=AVX2 for PyTorch's own kernels.
ISA_FLAGS = {"native": ["-march=native"], "avx2": ["-march=haswell", "-mtune=generic"]}
# OpenMP for every entry point's threads; dropped if the compiler lacks it.
_OPENMP_FLAGS = ["-fopenmp"]
# States are checkpointed every this many steps; backward recomputes inside a chunk.
CKPT_EVERY = 64

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_load_failed: Optional[str] = None


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return platform.machine() + flags


def target_isa() -> str:
    """The build target named by ``ESPNET_MVC_KERNEL_ISA`` (default ``native``)."""
    isa = os.environ.get("ESPNET_MVC_KERNEL_ISA", "native")
    if isa not in ISA_FLAGS:
        raise ValueError(f"ESPNET_MVC_KERNEL_ISA={isa!r}: choose one of {sorted(ISA_FLAGS)}")
    return isa


def _compiler() -> Optional[str]:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


_isa_summary: Optional[str] = None


def isa_summary() -> str:
    """The vector extensions the kernel is compiled with, as the compiler defines them for
    the target flags, and the code path it chose at run time (``avx2+fma`` or ``generic``,
    see ``ESPNET_MVC_SIMD``), e.g. ``avx2 fma (ESPNET_MVC_KERNEL_ISA=native); runs its
    avx2+fma path``."""
    global _isa_summary
    if _isa_summary is None:
        target = target_isa()
        compiler = _compiler()
        found = "no C compiler"
        if compiler is not None:
            proc = subprocess.run([compiler, *ISA_FLAGS[target], "-dM", "-E", "-x", "c",
                                   os.devnull], capture_output=True, text=True)
            macros = set(proc.stdout.split())
            names = [("__AVX512F__", "avx512f"), ("__AVX2__", "avx2"), ("__FMA__", "fma"),
                     ("__AVX__", "avx"), ("__SSE4_2__", "sse4.2"), ("__ARM_NEON", "neon")]
            found = " ".join(n for m, n in names if m in macros) or "baseline"
        lib = load()
        path = "unavailable" if lib is None else lib.mvc_kernel_isa().decode()
        _isa_summary = f"{found} (ESPNET_MVC_KERNEL_ISA={target}); runs its {path} path"
    return _isa_summary


def _cache_dir() -> Path:
    root = os.environ.get("ESPNET_MVC_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "espnet_mvc"
    )
    return Path(root)


def _compile() -> Path:
    """Build (or find in the cache) the library; with OpenMP where the compiler has it."""
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler (cc/gcc) on PATH")
    source = _SOURCE.read_bytes()
    errors = []
    base = [*_FLAGS, *ISA_FLAGS[target_isa()]]
    for flags in ([*base, *_OPENMP_FLAGS], base):
        key = hashlib.sha1(source + " ".join(flags).encode() + _cpu_signature().encode())
        target = _cache_dir() / f"selective_scan_cpu_{key.hexdigest()[:16]}.so"
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Build beside the target, then rename: concurrent processes never see a partial file.
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            cmd = [compiler, *flags, "-o", tmp, str(_SOURCE), "-lm"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode == 0:
                os.replace(tmp, target)
                return target
            errors.append(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise RuntimeError("\n".join(errors))


def load() -> Optional[ctypes.CDLL]:
    """Return the compiled library, building it on first use; None if that is impossible."""
    global _lib, _load_failed
    if _lib is not None or _load_failed is not None:
        return _lib
    target_isa()  # a mistyped ESPNET_MVC_KERNEL_ISA is an error, not a silent fallback
    with _lock:
        if _lib is None and _load_failed is None:
            try:
                lib = ctypes.CDLL(str(_compile()))
                i64, ptr = ctypes.c_int64, ctypes.c_void_p
                lib.mvc_conv_silu.argtypes = [ptr, i64, ptr, ptr, ptr, ptr] + [i64] * 5
                lib.mvc_scan_fused.argtypes = (
                    [ptr, ptr, i64, i64] + [ptr] * 5 + [i64, ptr, ptr] + [i64] * 5
                )
                lib.mvc_conv_silu.restype = lib.mvc_scan_fused.restype = None
                lib.mvc_kernel_isa.restype = ctypes.c_char_p
                lib.mvc_scan_fwd_mt.argtypes = [ptr] * 9 + [i64] * 6
                lib.mvc_scan_bwd_mt.argtypes = [ptr] * 15 + [i64] * 6
                lib.mvc_scan_fwd_mt.restype = lib.mvc_scan_bwd_mt.restype = None
                lib.mvc_scan_bwd_scratch_floats.argtypes = [i64, i64]
                lib.mvc_scan_bwd_scratch_floats.restype = i64
                _lib = lib
            except Exception as e:  # compiler missing, sandbox without exec, ...
                _load_failed = str(e)
                logging.warning("compiled CPU scan unavailable (%s); using the chunked scan", e)
    return _lib


def max_state() -> int:
    lib = load()
    return lib.mvc_scan_max_state() if lib is not None else 0


def max_fused_inner() -> int:
    """Largest d_inner the fused inference functions accept (0 without the library)."""
    lib = load()
    return lib.mvc_fused_max_inner() if lib is not None else 0


def _ptr(t: Optional[torch.Tensor]) -> Optional[int]:
    return None if t is None else t.data_ptr()


def _threads() -> int:
    """Threads for a kernel call: PyTorch's intra-op count. The kernels run on OpenMP, which
    in a process that imported torch is torch's own libgomp (one pool, no contention with
    PyTorch's ops); a build without OpenMP runs them on the calling thread."""
    return torch.get_num_threads() if load().mvc_fused_has_openmp() else 1


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
        lib.mvc_scan_fwd_mt(*[_ptr(t) for t in (u, dt, A, Bt, Ct, h0, y, h_last, ckpt)],
                            bsz, dim, length, d_state, CKPT_EVERY, _threads())
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
        n = _threads()
        # Channels and time steps are shared between rows: each thread accumulates into
        # its own buffers, summed afterwards.
        gA_parts = u.new_zeros(n, dim, d_state)
        gB_parts = u.new_zeros(n, bsz, length, d_state)
        gC_parts = u.new_zeros(n, bsz, length, d_state)
        scratch = u.new_empty(n, lib.mvc_scan_bwd_scratch_floats(d_state, CKPT_EVERY))
        lib.mvc_scan_bwd_mt(
            *[_ptr(t) for t in (u, dt, A, Bt, Ct, ckpt, gy, g_hlast, gu, gdt, gA_parts,
                                gB_parts, gC_parts, gh0, scratch)],
            bsz, dim, length, d_state, CKPT_EVERY, n,
        )
        return gu, gdt, gA_parts.sum(0), gB_parts.sum(0), gC_parts.sum(0), gh0


# ------------------------------------------------------------------- fused inference
def _check_rows(name: str, t: torch.Tensor, rows: int, min_cols: int) -> None:
    if t.dtype != torch.float32 or t.device.type != "cpu":
        raise ValueError(f"{name} must be a float32 CPU tensor, got {t.dtype} on {t.device}")
    if t.dim() != 2 or t.shape[0] != rows or t.shape[1] < min_cols or t.stride(1) != 1:
        raise ValueError(
            f"{name} must be ({rows}, >={min_cols}) with unit column stride, "
            f"got shape {tuple(t.shape)} strides {t.stride()}"
        )


def _output(out: Optional[torch.Tensor], like: torch.Tensor, rows: int, cols: int):
    if out is None:
        return like.new_empty(rows, cols)
    if out.shape != (rows, cols) or not out.is_contiguous() or out.dtype != torch.float32:
        raise ValueError(f"out must be a contiguous float32 ({rows}, {cols}) tensor, got "
                         f"{tuple(out.shape)} {out.dtype}")
    return out


def conv_silu(x: torch.Tensor, prefix: Optional[torch.Tensor], weight_t: torch.Tensor,
              bias: Optional[torch.Tensor], reverse: bool,
              out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Causal depthwise conv + bias + SiLU over one sequence chunk (no autograd).

    Args:
        x (Tensor): Inputs (L, Di); rows may be strided (a column slice of in_proj's
            output), columns contiguous.
        prefix (Optional[Tensor]): (K-1, Di) inputs before the chunk in scan order, oldest
            first; None for the start of a sequence.
        weight_t (Tensor): Conv taps (K, Di), contiguous.
        bias (Optional[Tensor]): (Di,).
        reverse (bool): Scan order is frame L-1 first (a backward scan).
        out (Optional[Tensor]): Contiguous (L, Di) buffer for the result.

    Returns:
        Tensor: (L, Di), in memory (not scan) order.
    """
    lib = load()
    length, dim = x.shape
    k = weight_t.shape[0]
    if weight_t.shape != (k, dim) or not weight_t.is_contiguous():
        raise ValueError(f"weight_t must be contiguous (K, {dim}), got {tuple(weight_t.shape)}")
    _check_rows("x", x, length, dim)
    if prefix is not None:
        prefix = prefix.contiguous()
        _check_rows("prefix", prefix, k - 1, dim)
    out = _output(out, x, length, dim)
    lib.mvc_conv_silu(_ptr(x), x.stride(0), _ptr(prefix), _ptr(weight_t), _ptr(bias),
                      _ptr(out), length, dim, k, int(reverse), _threads())
    return out


def scan_fused(u: torch.Tensor, x_dbl: torch.Tensor, dt_weight_t: torch.Tensor,
               dt_bias: torch.Tensor, A_t: torch.Tensor, D: torch.Tensor, z: torch.Tensor,
               h: torch.Tensor, reverse: bool,
               out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """dt_proj + softplus + selective scan + D skip + SiLU gate over one chunk (no autograd).

    Args:
        u (Tensor): Conv output (L, Di), contiguous.
        x_dbl (Tensor): ``x_proj`` output (L, R + 2N): [dt_low | B | C]; rows may be
            strided, columns contiguous.
        dt_weight_t (Tensor): ``dt_proj.weight`` transposed, (R, Di), contiguous.
        dt_bias (Tensor): (Di,). A_t (Tensor): A transposed, (N, Di), contiguous.
        D (Tensor): (Di,).
        z (Tensor): Gate (L, Di), rows may be strided.
        h (Tensor): State, state-major (N, Di), float32, updated in place.
        reverse (bool): Scan from frame L-1 down to 0.
        out (Optional[Tensor]): Contiguous (L, Di) buffer for y.

    Returns:
        Tensor: y (L, Di).
    """
    lib = load()
    length, dim = u.shape
    d_state = A_t.shape[0]
    rank = dt_weight_t.shape[0]
    if A_t.shape != (d_state, dim) or h.shape != (d_state, dim):
        raise ValueError(f"A_t and h must be (d_state, {dim}), got {tuple(A_t.shape)}, "
                         f"{tuple(h.shape)}")
    if dt_weight_t.shape != (rank, dim) or not dt_weight_t.is_contiguous():
        raise ValueError(f"dt_weight_t must be contiguous (dt_rank, {dim}), got "
                         f"{tuple(dt_weight_t.shape)}")
    for name, t, cols in (("u", u, dim), ("x_dbl", x_dbl, rank + 2 * d_state),
                          ("z", z, dim)):
        _check_rows(name, t, length, cols)
    if not (u.is_contiguous() and h.is_contiguous()):
        raise ValueError("u and h must be contiguous")
    y = _output(out, u, length, dim)
    lib.mvc_scan_fused(_ptr(u), _ptr(x_dbl), x_dbl.stride(0), rank, _ptr(dt_weight_t),
                       _ptr(dt_bias), _ptr(A_t), _ptr(D), _ptr(z), z.stride(0), _ptr(y),
                       _ptr(h), length, dim, d_state, int(reverse), _threads())
    return y

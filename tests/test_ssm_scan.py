"""Selective scan: both backends against an independent float64 sequential reference.

Every check runs for the compiled C kernel (``ESPNET_MVC_SCAN=kernel``) and for the chunked
PyTorch scan (``ESPNET_MVC_SCAN=chunked``), forward and gradients w.r.t. every input. The
ground truth is ``_truth`` below: a float64 loop over time written from the recurrence in
``selective_scan.py``'s docstring, sharing no code with the project (the project's own
``selective_scan_ref`` is float32 and shares ``_prepare`` / ``_finish`` with the fast
paths, so it is checked against the truth too rather than trusted).

Tolerance: ``max|x - truth| / max|truth| <= 1e-5`` (fp32, "relative on max-abs"), for the
outputs, the last state and every gradient. One documented exception: see
``test_steep_decays`` / ``test_chunked_grad_A_uniformly_steep_decay`` for the chunked
scan's gradient w.r.t. ``A`` when every decay is steep.

Dtypes (documented behaviour, asserted below): the scan always computes in float32. bf16 /
fp16 inputs give an output in the input dtype that equals the float32 scan of the same
(upcast) values rounded once; float64 inputs give a float64 output that is only float32
accurate (about 1e-7 relative), not float64 accurate. The last state is always float32.
"""

import importlib
import math

import pytest
import torch
import torch.nn.functional as F

from espnet_mvc.nets.ssm import cpu_kernel
from espnet_mvc.nets.ssm.selective_scan import scan_backend, selective_scan, selective_scan_ref
from ssm_testing import rel_err

# the package re-exports the function under the module's name: get the module itself
ss_module = importlib.import_module("espnet_mvc.nets.ssm.selective_scan")

TOL = 1e-5
BACKENDS = ["kernel", "chunked"]
KERNEL_OK = cpu_kernel.load() is not None


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    if request.param == "kernel" and not KERNEL_OK:
        pytest.skip(f"compiled CPU scan unavailable: {cpu_kernel._load_failed}")
    monkeypatch.setenv("ESPNET_MVC_SCAN", request.param)
    return request.param


# ----------------------------------------------------------------------------- truth
def _truth(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
           initial_state=None):
    """float64 sequential scan; returns (y, last_state). Differentiable by autograd."""
    u, delta, A, B, C = (t.double() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.double()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    bsz, dim, length = u.shape
    h = (torch.zeros(bsz, dim, A.shape[1], dtype=torch.float64)
         if initial_state is None else initial_state.double())
    ys = []
    for t in range(length):
        dt = delta[:, :, t]  # (b, d)
        h = torch.exp(dt[..., None] * A) * h + (dt * u[:, :, t])[..., None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D.double()[:, None] * u
    if z is not None:
        y = y * F.silu(z.double())
    return y, h


# ----------------------------------------------------------------------------- cases
ALL = ("D", "z", "bias", "softplus", "h0", "last")
# (batch, dim, d_state, length, options). Lengths: 1, odd, not a multiple of the chunk
# (32), exactly 32/64, > 64 and > 128 (the kernel checkpoints its state every 64 steps).
CASES = [
    (1, 1, 1, 1, ()),
    (1, 4, 16, 1, ALL),
    (2, 3, 4, 7, ("D", "z")),
    (3, 5, 16, 31, ("softplus", "bias")),
    (2, 4, 8, 32, ("h0", "last")),
    (1, 6, 16, 33, ALL),
    (2, 3, 2, 64, ALL),
    (3, 2, 16, 65, ALL),
    (1, 5, 17, 129, ALL),
    (2, 3, 16, 200, ALL),
    (1, 2, 32, 97, ("softplus", "last")),
    (2, 8, 1, 150, ("D", "z", "h0")),
]


def make_inputs(bsz, dim, n, length, opts, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    if "softplus" in opts:
        delta = r(bsz, dim, length) * 0.7
    else:  # without softplus dt is used as is: keep it positive
        delta = torch.rand(bsz, dim, length, generator=g, dtype=torch.float64) * 0.5 + 0.01
    kw = dict(
        u=r(bsz, dim, length),
        delta=delta,
        A=-torch.exp(r(dim, n)),  # decay rates spread over ~0.05 .. 20
        B=r(bsz, n, length),
        C=r(bsz, n, length),
        D=r(dim) if "D" in opts else None,
        z=r(bsz, dim, length) if "z" in opts else None,
        delta_bias=r(dim) * 0.5 if "bias" in opts else None,
        initial_state=r(bsz, dim, n) if "h0" in opts else None,
    )
    kw = {k: (None if v is None else v.to(dtype)) for k, v in kw.items()}
    return kw, {"delta_softplus": "softplus" in opts, "return_last_state": "last" in opts}


def run_with_grads(fn, tensors, flags, seed=1, **extra):
    """fn(**tensors, **flags) with every tensor requiring grad; returns (y, h, grads)."""
    leaves = {k: None if v is None else v.clone().requires_grad_() for k, v in tensors.items()}
    out = fn(**leaves, **flags, **extra)
    y, h = out if isinstance(out, tuple) else (out, None)
    g = torch.Generator().manual_seed(seed)
    loss = (y.double() * torch.randn(y.shape, generator=g, dtype=torch.float64)).sum()
    if h is not None:
        loss = loss + (h.double() * torch.randn(h.shape, generator=g, dtype=torch.float64)).sum()
    loss.backward()
    return y, h, {k: v.grad for k, v in leaves.items() if v is not None}


_truth_cache = {}


def truth_for(case_idx):
    if case_idx not in _truth_cache:
        tensors, flags = make_inputs(*CASES[case_idx])
        def fn(return_last_state, **kw):
            y, h = _truth(**kw)
            return (y, h) if return_last_state else y
        _truth_cache[case_idx] = run_with_grads(fn, tensors, flags)
    return _truth_cache[case_idx]


def assert_close_to_truth(got, want, tol=TOL, what=""):
    y, h, grads = got
    ty, th, tgrads = want
    assert y.dtype == torch.float32
    assert rel_err(y, ty) <= tol, f"{what} y: {rel_err(y, ty):.2e}"
    assert (h is None) == (th is None)
    if h is not None:
        assert h.dtype == torch.float32
        assert rel_err(h, th) <= tol, f"{what} last state: {rel_err(h, th):.2e}"
    assert grads.keys() == tgrads.keys()
    for k in grads:
        assert grads[k].dtype == torch.float32
        e = rel_err(grads[k], tgrads[k])
        assert e <= tol, f"{what} grad {k}: {e:.2e}"


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case_idx", range(len(CASES)), ids=[str(c[:4]) for c in CASES])
def test_scan_matches_truth_forward_and_grads(backend, case_idx):
    tensors, flags = make_inputs(*CASES[case_idx])
    assert scan_backend(tensors["u"], tensors["A"].shape[1]) == backend
    got = run_with_grads(selective_scan, tensors, flags)
    assert_close_to_truth(got, truth_for(case_idx), what=backend)


@pytest.mark.parametrize("case_idx", [1, 5, 8, 9])
def test_reference_itself_matches_truth(case_idx):
    """The project's float32 loop reference (used by the benchmark) is right too."""
    tensors, flags = make_inputs(*CASES[case_idx])
    got = run_with_grads(selective_scan_ref, tensors, flags)
    assert_close_to_truth(got, truth_for(case_idx), what="selective_scan_ref")


@pytest.mark.parametrize("case_idx", [5, 9])
def test_scan_matches_project_reference(backend, case_idx):
    """Backend vs the project's own ``selective_scan_ref`` (forward and autograd grads)."""
    tensors, flags = make_inputs(*CASES[case_idx])
    got = run_with_grads(selective_scan, tensors, flags)
    want = run_with_grads(selective_scan_ref, tensors, flags)
    assert_close_to_truth(got, want, what=f"{backend} vs selective_scan_ref")


@pytest.mark.parametrize("chunk_size", [1, 2, 8, 64, 256])
def test_chunked_chunk_sizes(monkeypatch, chunk_size):
    monkeypatch.setenv("ESPNET_MVC_SCAN", "chunked")
    tensors, flags = make_inputs(*CASES[9])
    got = run_with_grads(selective_scan, tensors, flags, chunk_size=chunk_size)
    assert_close_to_truth(got, truth_for(9), what=f"chunk_size={chunk_size}")


def test_chunked_segments(monkeypatch):
    """Long input split into several memory-bounded segments, state carried between them."""
    monkeypatch.setenv("ESPNET_MVC_SCAN", "chunked")
    monkeypatch.setattr(ss_module, "_SEGMENT_ELEMENTS", 3 * 16 * 64)  # 64-step segments
    tensors, flags = make_inputs(*CASES[9])
    got = run_with_grads(selective_scan, tensors, flags)
    assert_close_to_truth(got, truth_for(9), what="segmented")


def _chunk_sizes_used(monkeypatch):
    seen = []
    original = ss_module._scan_segment

    def spy(dt, dtu, A, B, C, h0, chunk, return_states=False):
        seen.append(chunk)
        return original(dt, dtu, A, B, C, h0, chunk, return_states)

    monkeypatch.setattr(ss_module, "_scan_segment", spy)  # also catches the recursion
    return seen


def _steep_inputs(step_decay, n=8, bsz=2, dim=3, length=100, seed=0):
    """dt*|A| per step in [0.9, 1.1] * step_decay for every channel and state."""
    g = torch.Generator().manual_seed(seed)
    tensors, flags = make_inputs(bsz, dim, n, length, ("D", "z", "h0", "last"), seed=seed)
    tensors["delta"] = 0.9 + 0.2 * torch.rand(bsz, dim, length, generator=g)
    tensors["A"] = -step_decay * (1 + 0.01 * torch.rand(dim, n, generator=g))
    return tensors, flags


@pytest.mark.parametrize("step_decay", [5.0, 60.0])
def test_steep_decays(backend, monkeypatch, step_decay):
    """Large dt*|A|: the chunked scan re-solves with halved chunks, still exact.

    step 5: chunks of 32 would span exp(+-80): halved to 8; step 60: down to single steps.
    Gradients come from the adjoint backward (not autograd through the closed form), so
    the gradient w.r.t. A meets the same 1e-5 as everything else.
    """
    seen = _chunk_sizes_used(monkeypatch)
    tensors, flags = _steep_inputs(step_decay)

    def fn(return_last_state, **kw):
        y, h = _truth(**kw)
        return (y, h) if return_last_state else y

    want = run_with_grads(fn, tensors, flags)
    y, h, grads = run_with_grads(selective_scan, tensors, flags)
    if backend == "chunked":
        assert seen and min(seen) < 32, f"chunk halving did not run: {seen}"
        if step_decay == 60.0:
            assert min(seen) == 1
    gA, tgA = grads.pop("A"), want[2].pop("A")
    assert_close_to_truth((y, h, grads), want, what=backend)
    assert rel_err(gA, tgA) <= TOL, f"grad A: {rel_err(gA, tgA):.2e}"


def test_chunked_grad_A_uniformly_steep_decay(monkeypatch):
    """Every dt*|A| ~ 20: the true dL/dA is ~exp(-20) small. Autograd through the closed
    form returned rounding noise orders of magnitude larger; the adjoint backward is exact."""
    monkeypatch.setenv("ESPNET_MVC_SCAN", "chunked")
    tensors, flags = _steep_inputs(20.0)

    def fn(return_last_state, **kw):
        y, h = _truth(**kw)
        return (y, h) if return_last_state else y

    want = run_with_grads(fn, tensors, flags)
    got = run_with_grads(selective_scan, tensors, flags)
    assert rel_err(got[2]["A"], want[2]["A"]) <= 1e-5


def test_mixed_steepness_realistic(backend):
    """Mamba-like A = -(1..16) with dt over [1e-3, 3] plus one very steep channel."""
    tensors, flags = make_inputs(2, 6, 16, 150, ALL, seed=3)
    tensors["A"] = -torch.arange(1, 17.0).repeat(6, 1)
    tensors["A"][0] *= 50.0
    dt = torch.exp(torch.linspace(math.log(1e-3), math.log(3.0), 6))
    tensors["delta_bias"] = dt + torch.log(-torch.expm1(-dt))  # softplus^-1
    tensors["delta"] = tensors["delta"] * 0.1

    def fn(return_last_state, **kw):
        y, h = _truth(**kw)
        return (y, h) if return_last_state else y

    want = run_with_grads(fn, tensors, flags)
    assert_close_to_truth(run_with_grads(selective_scan, tensors, flags), want, what=backend)


def test_gradient_from_one_output_only(backend):
    """Backward where only y, or only the last state, receives a gradient."""
    tensors, _ = make_inputs(2, 3, 4, 70, ALL)
    for use in ("y", "state"):
        leaves = {k: v.clone().requires_grad_() for k, v in tensors.items()}
        tl = {k: v.clone().requires_grad_() for k, v in tensors.items()}
        y, h = selective_scan(**leaves, delta_softplus=True, return_last_state=True)
        ty, th = _truth(**tl, delta_softplus=True)
        (y.sum() if use == "y" else h.sum()).backward()
        (ty.sum() if use == "y" else th.sum()).backward()
        for k in leaves:
            # no gradient path (C, D, z for the state): None or zeros on either side
            got = leaves[k].grad if leaves[k].grad is not None else torch.zeros_like(leaves[k])
            want = tl[k].grad if tl[k].grad is not None else torch.zeros_like(tl[k])
            assert rel_err(got, want) <= TOL, (use, k)


def test_non_contiguous_inputs(backend):
    tensors, flags = make_inputs(2, 3, 5, 40, ALL)
    want = selective_scan(**tensors, **flags)
    # same values, transposed / strided storage
    nc = {k: (v.transpose(-1, -2).contiguous().transpose(-1, -2) if v.dim() >= 2 else
              torch.stack([v, v], -1)[..., 0]) for k, v in tensors.items()}
    assert not nc["u"].is_contiguous()
    got = selective_scan(**nc, **flags)
    for a, b in zip(got, want):  # same maths, PyTorch may reorder a few float ops
        assert rel_err(a, b) <= 1e-6


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs(backend, dtype):
    """bf16/fp16 in: computed in float32, output in the input dtype (rounded once)."""
    tensors, flags = make_inputs(2, 3, 8, 50, ALL, dtype=dtype)
    y, h = selective_scan(**tensors, **flags)
    assert y.dtype == dtype and h.dtype == torch.float32
    y32, h32 = selective_scan(**{k: v.float() for k, v in tensors.items()}, **flags)
    assert torch.equal(y, y32.to(dtype))
    assert torch.equal(h, h32)
    leaves = {k: v.clone().requires_grad_() for k, v in tensors.items()}
    y, h = selective_scan(**leaves, **flags)
    (y.float().sum() + h.sum()).backward()
    for k, v in leaves.items():
        assert v.grad.dtype == dtype and torch.isfinite(v.grad.float()).all(), k


def test_float64_inputs(backend):
    """fp64 in: float64 out, but computed in float32 (error ~1e-7, not ~1e-15)."""
    tensors, flags = make_inputs(2, 3, 8, 50, ALL, dtype=torch.float64)
    leaves = {k: v.clone().requires_grad_() for k, v in tensors.items()}
    y, h = selective_scan(**leaves, **flags)
    assert y.dtype == torch.float64 and h.dtype == torch.float32
    ty, th = _truth(**tensors, delta_softplus=True)
    assert rel_err(y, ty) <= TOL and rel_err(h, th) <= TOL
    (y.sum() + h.sum()).backward()
    assert all(v.grad.dtype == torch.float64 for v in leaves.values())



@pytest.mark.skipif(not KERNEL_OK, reason="compiled CPU scan unavailable")
@pytest.mark.parametrize("torch_threads", [2, 3], indirect=True)
def test_kernel_rows_split_over_threads(monkeypatch, torch_threads):
    """The kernel splits (batch, channel) rows over torch.get_num_threads() OpenMP threads,
    each accumulating its own dA/dB/dC: same results as the truth with 2 and 3 threads."""
    threads = torch_threads
    monkeypatch.setenv("ESPNET_MVC_SCAN", "kernel")
    if cpu_kernel.load().mvc_fused_has_openmp():
        assert cpu_kernel._threads() == threads
    tensors, flags = make_inputs(*CASES[9])
    got = run_with_grads(selective_scan, tensors, flags)
    assert_close_to_truth(got, truth_for(9), what=f"{threads} threads")

def test_backend_selection(monkeypatch):
    u = torch.zeros(1, 2, 3)
    monkeypatch.delenv("ESPNET_MVC_SCAN", raising=False)
    assert scan_backend(u, 16) == ("kernel" if KERNEL_OK else "chunked")
    monkeypatch.setenv("ESPNET_MVC_SCAN", "AUTO")
    assert scan_backend(u, 16) == ("kernel" if KERNEL_OK else "chunked")
    # beyond the kernel's MAX_N: auto falls back, an explicit "kernel" refuses
    big = cpu_kernel.max_state() + 1
    assert scan_backend(u, big) == "chunked"
    monkeypatch.setenv("ESPNET_MVC_SCAN", "chunked")
    assert scan_backend(u, 16) == "chunked"
    monkeypatch.setenv("ESPNET_MVC_SCAN", "kernel")
    with pytest.raises(RuntimeError, match="ESPNET_MVC_SCAN=kernel"):
        scan_backend(u, big)
    monkeypatch.setenv("ESPNET_MVC_SCAN", "fast")
    with pytest.raises(ValueError, match="ESPNET_MVC_SCAN"):
        scan_backend(u, 16)


def test_large_state_auto_falls_back(monkeypatch):
    monkeypatch.setenv("ESPNET_MVC_SCAN", "auto")
    n = (cpu_kernel.max_state() or 256) + 1
    tensors, flags = make_inputs(1, 2, n, 9, ("softplus", "last"))
    y, h = selective_scan(**tensors, **flags)
    ty, th = _truth(**tensors, delta_softplus=True)
    assert rel_err(y, ty) <= TOL and rel_err(h, th) <= TOL


# ----------------------------------------------------------------------------- bad input
def _ok(bsz=2, dim=3, n=4, length=5):
    tensors, _ = make_inputs(bsz, dim, n, length, ("D", "z", "bias", "h0"))
    return tensors


@pytest.mark.parametrize("fn", [selective_scan, selective_scan_ref])
@pytest.mark.parametrize("change, pattern", [
    (lambda t: t.update(u=t["u"][0]), r"u must be \(batch, dim, length\)"),
    (lambda t: t.update(u=t["u"].long()), r"u must be a floating point"),
    (lambda t: t.update(u=t["u"].to(torch.complex64)), r"u must be a floating point"),
    (lambda t: t.update(**{k: t[k][..., :0] for k in ("u", "delta", "B", "C", "z")}),
     r"zero-length"),
    (lambda t: t.update(delta=t["delta"][..., :4]), r"delta shape"),
    (lambda t: t.update(A=t["A"][None]), r"A must be \(dim=3, d_state\)"),
    (lambda t: t.update(A=t["A"][:2]), r"A must be \(dim=3, d_state\)"),
    (lambda t: t.update(B=t["B"][0]), r"B must be \(batch, d_state, length\)"),
    (lambda t: t.update(C=t["C"][:, :3]), r"C must be \(batch, d_state, length\)"),
    (lambda t: t.update(D=t["D"][:2]), r"D must be \(3,\)"),
    (lambda t: t.update(z=t["z"][:1]), r"z shape"),
    (lambda t: t.update(initial_state=t["initial_state"][:, :, :3]), r"initial_state must be"),
    (lambda t: t.update(delta_bias=t["delta_bias"][:2]), r"delta_bias must be \(3,\)"),
], ids=["u-2d", "u-int", "u-complex", "L0", "delta", "A-3d", "A-dim", "B-2d", "C-state",
        "D", "z", "h0", "delta_bias"])
def test_bad_scan_input(backend, fn, change, pattern):
    tensors = _ok()
    change(tensors)
    with pytest.raises(ValueError, match=pattern):
        fn(**tensors, delta_softplus=True)


def test_bad_chunk_size(monkeypatch):
    monkeypatch.setenv("ESPNET_MVC_SCAN", "chunked")
    for bad in (0, 3, 48):
        with pytest.raises(ValueError, match="chunk_size must be a power of two"):
            selective_scan(**_ok(), chunk_size=bad)


def _set_isa(level):
    import ctypes

    lib = cpu_kernel.load()
    lib.mvc_set_isa.argtypes = [ctypes.c_int]
    lib.mvc_set_isa.restype = ctypes.c_int
    return lib.mvc_set_isa(level)


# (batch, dim, d_state, length): dims with a full group of 8 channels and a remainder run by
# the generic functions (13, 37), exactly 8 / 16, odd d_state, lengths around the 64-step
# checkpoint and the 64-step time tile.
SIMD_CASES = [(2, 8, 16, 64), (3, 13, 16, 65), (1, 37, 5, 130), (2, 16, 1, 1), (2, 24, 17, 200),
              (1, 9, 16, 63)]


@pytest.mark.skipif(not KERNEL_OK, reason="compiled CPU scan unavailable")
@pytest.mark.parametrize("case", SIMD_CASES, ids=[str(c) for c in SIMD_CASES])
@pytest.mark.parametrize("torch_threads", [1, 2], ids=["1thread", "2threads"], indirect=True)
def test_training_simd_path_equals_generic(monkeypatch, case, torch_threads):
    """The training scan's explicit SIMD path (AVX2 + FMA, 8 channels per vector, chosen at
    run time) gives the generic C path's outputs, last state and every gradient, with
    Mamba-like decays (one channel steep enough to underflow) and a carried state; and the
    truth within the suite's tolerance."""
    monkeypatch.setenv("ESPNET_MVC_SCAN", "kernel")
    best = _set_isa(-1)
    levels = [0] + ([best] if best > 0 else [])
    bsz, dim, n, length = case
    tensors, flags = make_inputs(bsz, dim, n, length, ALL, seed=dim + n)
    tensors["A"] = -torch.arange(1, n + 1.0).repeat(dim, 1) * (0.5 + torch.rand(dim, 1))
    tensors["A"][0] *= 100.0
    outs = []
    try:
        for level in levels:
            _set_isa(level)
            outs.append(run_with_grads(selective_scan, tensors, flags))
    finally:
        _set_isa(-1)

    def fn(return_last_state, **kw):
        y, h = _truth(**kw)
        return (y, h) if return_last_state else y

    assert_close_to_truth(outs[-1], run_with_grads(fn, tensors, flags), what=f"level {levels[-1]}")
    y0, h0, g0 = outs[0]
    for y, h, g in outs[1:]:
        assert rel_err(y, y0) < 2e-6 and rel_err(h, h0) < 2e-6
        for k in g0:
            assert rel_err(g[k], g0[k]) < 2e-6, (k, rel_err(g[k], g0[k]))

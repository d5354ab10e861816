"""Fused CPU inference path of ``Mamba`` (``cpu_kernel.conv_silu`` / ``scan_fused``).

It must give the batched path's output (which the other SSM tests tie to the sequential
reference scan) for every way the model calls it: whole sequences, padded batches with
lengths, backward scans within each length, chunks with a carried state, sequences longer
than the fused chunk, odd widths, biases, and one or two threads. It must run only where
it is meant to (no autograd), and never for training.
"""

import pytest
import torch

from espnet_mvc.nets.ssm import (
    BiMambaStack, GatedBiMambaBlock, Mamba, cpu_kernel, reverse_within_length,
)
from espnet_mvc.nets.ssm import mamba as mamba_mod
from ssm_testing import rel_err, trained_like

pytestmark = pytest.mark.skipif(cpu_kernel.load() is None, reason="no compiled CPU kernel")

TOL = 2e-5


def run(m, monkeypatch, backend, *args, **kwargs):
    monkeypatch.setenv("ESPNET_MVC_SCAN", backend)
    with torch.no_grad():
        return m(*args, **kwargs)


one_or_two_threads = pytest.mark.parametrize(
    "torch_threads", [1, 2], ids=["1thread", "2threads"], indirect=True
)


@pytest.fixture(params=[512, 7, 2], ids=["chunk512", "chunk7", "chunk2"])
def fused_chunk(request, monkeypatch):
    """Small chunks put chunk boundaries (state and conv hand-over) inside the sequence;
    2 < d_conv - 1 checks a conv history spanning more than one chunk."""
    monkeypatch.setattr(mamba_mod, "FUSED_CHUNK", request.param)
    return request.param


@pytest.mark.parametrize("kwargs", [
    dict(d_model=32),
    dict(d_model=20, d_state=5, d_conv=3, expand=3, conv_bias=False, bias=True),  # Di=60
])
@pytest.mark.parametrize("mode", ["plain", "lengths", "reverse", "reverse_lengths"])
@one_or_two_threads
def test_fused_equals_batched(kwargs, mode, torch_threads, fused_chunk, monkeypatch):
    torch.manual_seed(0)
    m = trained_like(Mamba(**kwargs))
    x = torch.randn(3, 45, kwargs["d_model"])
    lengths = torch.tensor([45, 30, 1])
    call = dict(
        plain={}, lengths=dict(lengths=lengths), reverse=dict(reverse=True),
        reverse_lengths=dict(lengths=lengths, reverse=True),
    )[mode]
    calls = []
    real = cpu_kernel.scan_fused
    monkeypatch.setattr(cpu_kernel, "scan_fused",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    fused = run(m, monkeypatch, "fused", x, **call)
    assert calls, "the fused path did not run"
    n_fused = len(calls)
    batched = run(m, monkeypatch, "kernel", x, **call)
    assert len(calls) == n_fused, "ESPNET_MVC_SCAN=kernel must not use the fused path"
    assert fused.shape == batched.shape == x.shape
    assert rel_err(fused, batched) < TOL
    if "lengths" in call:  # padding frames are zero on both paths
        for b, n in enumerate(lengths.tolist()):
            assert fused[b, n:].abs().max().item() == 0.0 if n < 45 else True
    if mode == "reverse":  # = rev(Mamba(rev(x))) spelled out
        full = torch.full((3,), 45)
        spelled = reverse_within_length(
            run(m, monkeypatch, "fused", reverse_within_length(x, full)), full
        )
        assert rel_err(fused, spelled) < TOL


@one_or_two_threads
def test_fused_state_chunks_equal_whole(torch_threads, fused_chunk, monkeypatch):
    torch.manual_seed(1)
    m = trained_like(Mamba(24, d_state=8))
    x = torch.randn(2, 40, 24)
    whole = run(m, monkeypatch, "kernel", x)
    state = m.allocate_state(2)
    pieces = []
    for lo, hi in ((0, 1), (1, 3), (3, 17), (17, 40)):
        y, state = run(m, monkeypatch, "fused", x[:, lo:hi], state)
        pieces.append(y)
    assert rel_err(torch.cat(pieces, 1), whole) < TOL
    # the state handed back equals the batched path's, so the two paths can be mixed
    _, st_batched = run(m, monkeypatch, "kernel", x, m.allocate_state(2))
    assert rel_err(state.ssm_state, st_batched.ssm_state) < TOL
    assert rel_err(state.conv_state, st_batched.conv_state) < TOL  # GEMM rounding differs by size


def test_fused_only_without_autograd(monkeypatch):
    m = Mamba(16)
    x = torch.randn(1, 9, 16)
    calls = []
    real = cpu_kernel.scan_fused
    monkeypatch.setattr(cpu_kernel, "scan_fused",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setenv("ESPNET_MVC_SCAN", "auto")
    y = m(x)  # training: grad enabled, parameters require grad
    y.sum().backward()
    assert not calls and m.in_proj.weight.grad is not None
    with torch.inference_mode():
        m(x)
    assert len(calls) == 1
    monkeypatch.setenv("ESPNET_MVC_SCAN", "chunked")
    with torch.no_grad():
        m(x)
    assert len(calls) == 1
    with torch.no_grad():  # float64 is never fused
        monkeypatch.setenv("ESPNET_MVC_SCAN", "auto")
        m.double()(x.double())
    assert len(calls) == 1


@one_or_two_threads
@pytest.mark.parametrize("fusion", ["gated", "concat"])
def test_stack_fused_equals_batched(monkeypatch, torch_threads, fusion):
    """Two blocks in a row: reused buffers (h_b, the gate) never leak into a block's output,
    which the next block reads."""
    torch.manual_seed(2)
    stack = trained_like(BiMambaStack(32, 2, style_dim=8, fusion=fusion))
    x, s = torch.randn(3, 50, 32), torch.randn(3, 8)
    lengths = torch.tensor([50, 21, 4])
    fused = run(stack, monkeypatch, "fused", x, lengths, s)
    batched = run(stack, monkeypatch, "kernel", x, lengths, s)
    assert rel_err(fused, batched) < TOL
    assert fused[1, 21:].abs().max().item() == 0.0


def test_state_with_reverse_or_lengths_is_refused():
    m = Mamba(8)
    st = m.allocate_state(1)
    with pytest.raises(ValueError, match="carried state"):
        m(torch.randn(1, 4, 8), st, reverse=True)
    with pytest.raises(ValueError, match="carried state"):
        m(torch.randn(1, 4, 8), st, lengths=torch.tensor([4]))


def test_workspace_is_per_thread(monkeypatch):
    """The fused path reuses one scratch buffer per thread: two threads running different
    models at once must each get their own results."""
    import threading

    monkeypatch.setenv("ESPNET_MVC_SCAN", "fused")
    torch.manual_seed(3)
    models = [trained_like(Mamba(32), seed=i) for i in range(2)]
    xs = [torch.randn(1, 700, 32) for _ in range(2)]
    with torch.no_grad():
        want = [m(x) for m, x in zip(models, xs)]
    got = [None, None]

    def work(i):
        with torch.no_grad():
            for _ in range(5):
                got[i] = models[i](xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        assert torch.equal(g, w)


def test_scratch_buffers_work_across_inference_mode_and_no_grad(monkeypatch):
    """Reused buffers first made under inference_mode must still be writable under no_grad
    (and the other way round); results stay equal to the batched path."""
    from espnet_mvc.nets.ssm import mamba as mamba_mod

    monkeypatch.setattr(mamba_mod, "_workspaces", __import__("threading").local())
    torch.manual_seed(4)
    block = trained_like(GatedBiMambaBlock(16, style_dim=4))
    x, s = torch.randn(2, 30, 16), torch.randn(2, 4)
    lengths = torch.tensor([30, 12])
    monkeypatch.setenv("ESPNET_MVC_SCAN", "kernel")
    with torch.no_grad():
        want = block(x, lengths, s)
    monkeypatch.setenv("ESPNET_MVC_SCAN", "fused")
    with torch.inference_mode():
        a = block(x, lengths, s).clone()
    with torch.no_grad():
        b = block(x, lengths, s)
    with torch.inference_mode():
        c = block(x, lengths, s).clone()
    for got in (a, b, c):
        assert rel_err(got, want) < TOL


def test_release_scratch():
    from espnet_mvc.nets.ssm import mamba as mamba_mod

    with torch.no_grad():
        GatedBiMambaBlock(16)(torch.randn(1, 40, 16))
    assert mamba_mod._workspaces.buffers  # kept for the next call
    mamba_mod.release_scratch()
    assert mamba_mod._workspaces.buffers == {}
    with torch.no_grad():  # and made again on demand
        assert GatedBiMambaBlock(16)(torch.randn(1, 40, 16)).shape == (1, 40, 16)


def test_kernel_argument_checks():
    u = torch.randn(5, 32)
    with pytest.raises(ValueError, match="weight_t"):
        cpu_kernel.conv_silu(u, None, torch.randn(32, 4), None, False)
    x_dbl, w_dt = torch.randn(5, 2 + 8), torch.randn(2, 32)  # dt_rank 2, d_state 4
    with pytest.raises(ValueError, match="A_t and h"):
        cpu_kernel.scan_fused(u, x_dbl, w_dt, torch.zeros(32), torch.randn(32, 4),
                              torch.ones(32), u, torch.zeros(4, 32), False)
    with pytest.raises(ValueError, match="dt_weight_t"):
        cpu_kernel.scan_fused(u, x_dbl, w_dt.t(), torch.zeros(32), torch.randn(4, 32),
                              torch.ones(32), u, torch.zeros(4, 32), False)
    with pytest.raises(ValueError, match="x_dbl"):
        cpu_kernel.scan_fused(u, x_dbl[:, :9], w_dt, torch.zeros(32), torch.randn(4, 32),
                              torch.ones(32), u, torch.zeros(4, 32), False)
    with pytest.raises(ValueError, match="float32"):
        cpu_kernel.conv_silu(u.double(), None, torch.randn(4, 32), None, False)
    with pytest.raises(ValueError, match="out must be"):
        cpu_kernel.conv_silu(u, None, torch.randn(4, 32), None, False, out=torch.empty(5, 31))


def _set_isa(level):
    import ctypes

    lib = cpu_kernel.load()
    lib.mvc_set_isa.argtypes = [ctypes.c_int]
    lib.mvc_set_isa.restype = ctypes.c_int
    return lib.mvc_set_isa(level)


@pytest.fixture
def generic_and_simd():
    """Yields the levels to compare (generic C, and the explicit SIMD path where the CPU has
    one); restores the automatic choice afterwards."""
    import ctypes

    lib = cpu_kernel.load()
    lib.mvc_kernel_isa.restype = ctypes.c_char_p
    best = _set_isa(-1)
    try:
        yield [0] + ([best] if best > 0 else []), lib.mvc_kernel_isa().decode()
    finally:
        _set_isa(-1)


@pytest.mark.parametrize("d_inner,d_state,dt_rank", [(512, 16, 16), (60, 5, 2), (136, 16, 9)])
@pytest.mark.parametrize("reverse", [False, True])
@one_or_two_threads
def test_simd_path_equals_generic(generic_and_simd, d_inner, d_state, dt_rank, reverse,
                                  torch_threads):
    """The explicit SIMD path (AVX2 + FMA, chosen at run time) gives the generic C path's
    conv + SiLU and scan, with trained-like decays (some dt A below the float underflow),
    widths that are not multiples of the vector width and a carried state."""
    levels, name = generic_and_simd
    assert name in ("generic", "avx2+fma")
    g = torch.Generator().manual_seed(d_inner + d_state)
    L = 70
    xz = torch.randn(L, 2 * d_inner, generator=g)
    conv_w = 0.5 * torch.randn(4, d_inner, generator=g)
    conv_b = 0.1 * torch.randn(d_inner, generator=g)
    prefix = torch.randn(3, d_inner, generator=g)
    x_dbl = torch.randn(L, dt_rank + 2 * d_state, generator=g)
    dt_w = 0.5 * torch.randn(dt_rank, d_inner, generator=g)
    dt_b = 3 * torch.randn(d_inner, generator=g) - 2  # softplus over its whole range
    dt_b[:3] = torch.tensor([25.0, -30.0, 19.9])
    A_t = -torch.exp(2 * torch.randn(d_state, d_inner, generator=g)).contiguous()
    D = torch.randn(d_inner, generator=g)
    h0 = torch.randn(d_state, d_inner, generator=g)
    outs = []
    for level in levels:
        _set_isa(level)
        u = cpu_kernel.conv_silu(xz[:, :d_inner], prefix, conv_w, conv_b, reverse)
        h = h0.clone()
        y = cpu_kernel.scan_fused(u, x_dbl, dt_w, dt_b, A_t, D, xz[:, d_inner:], h, reverse)
        outs.append((u, y, h))
    for got in outs[1:]:
        for a, b in zip(got, outs[0]):
            assert rel_err(a, b) < TOL

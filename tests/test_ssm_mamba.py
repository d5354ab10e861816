"""Mamba: mamba_ssm-compatible parameters and initialisation, recurrent step / chunked state.

The parameter table below is written from ``mamba_ssm/modules/mamba_simple.py``
(state-spaces/mamba, commit 52f57d66f8d6d02a73b1e38f5f3708eb8ccfa39c), ``Mamba.__init__``:

    d_inner = int(expand * d_model); dt_rank = ceil(d_model / 16) if "auto"
    in_proj  = Linear(d_model, 2 * d_inner, bias=bias)
    conv1d   = Conv1d(d_inner, d_inner, kernel_size=d_conv, groups=d_inner,
                      padding=d_conv - 1, bias=conv_bias)
    x_proj   = Linear(d_inner, dt_rank + 2 * d_state, bias=False)
    dt_proj  = Linear(dt_rank, d_inner, bias=True)
               weight ~ U(-s, s) ("random") or = s ("constant"), s = dt_rank**-0.5 * dt_scale
               bias = dt + log(-expm1(-dt)) (inverse softplus),
                      dt = exp(U(log dt_min, log dt_max)).clamp(min=dt_init_floor)
    A_log    = log(arange(1, d_state + 1)) repeated over d_inner rows, float32
    D        = ones(d_inner), float32
    out_proj = Linear(d_inner, d_model, bias=bias)

mamba_ssm cannot be imported on a CPU machine, hence a table rather than a comparison.
"""

import io
import math

import pytest
import torch
import torch.nn.functional as F

from espnet_mvc.nets.ssm import Mamba, MambaState, cpu_kernel
from ssm_testing import rel_err, trained_like

TOL = 1e-5

# mamba_ssm.modules.mamba_simple.Mamba(d_model=64) with defaults
# (d_state=16, d_conv=4, expand=2 -> d_inner=128, dt_rank=ceil(64/16)=4, conv_bias=True,
# bias=False), keys in state_dict order (own parameters first, then submodules in
# registration order).
MAMBA_SSM_TABLE_D64 = [
    ("A_log", (128, 16)),
    ("D", (128,)),
    ("in_proj.weight", (256, 64)),
    ("conv1d.weight", (128, 1, 4)),
    ("conv1d.bias", (128,)),
    ("x_proj.weight", (4 + 2 * 16, 128)),
    ("dt_proj.weight", (128, 4)),
    ("dt_proj.bias", (128,)),
    ("out_proj.weight", (64, 128)),
]
# Mamba(d_model=33, d_state=5, d_conv=3, expand=3, conv_bias=False, bias=True):
# d_inner=99, dt_rank=ceil(33/16)=3, no conv1d.bias, in/out_proj biases.
MAMBA_SSM_TABLE_D33 = [
    ("A_log", (99, 5)),
    ("D", (99,)),
    ("in_proj.weight", (198, 33)),
    ("in_proj.bias", (198,)),
    ("conv1d.weight", (99, 1, 3)),
    ("x_proj.weight", (3 + 2 * 5, 99)),
    ("dt_proj.weight", (99, 3)),
    ("dt_proj.bias", (99,)),
    ("out_proj.weight", (33, 99)),
    ("out_proj.bias", (33,)),
]


@pytest.fixture(params=["fused", "kernel", "chunked"])
def backend(request, monkeypatch):
    """fused: the compiled, time-major inference path (used under no_grad); kernel: the
    batched path over the compiled scan; chunked: the batched path in plain PyTorch."""
    if request.param in ("fused", "kernel") and cpu_kernel.load() is None:
        pytest.skip("compiled CPU scan unavailable")
    monkeypatch.setenv("ESPNET_MVC_SCAN", request.param)
    return request.param


# ----------------------------------------------------------------------------- params
@pytest.mark.parametrize("kwargs, table", [
    (dict(d_model=64), MAMBA_SSM_TABLE_D64),
    (dict(d_model=33, d_state=5, d_conv=3, expand=3, conv_bias=False, bias=True),
     MAMBA_SSM_TABLE_D33),
])
def test_state_dict_matches_mamba_ssm_table(kwargs, table):
    sd = Mamba(**kwargs).state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == table
    assert all(v.dtype == torch.float32 for v in sd.values())


@pytest.mark.parametrize("d_model, rank", [(1, 1), (16, 1), (17, 2), (33, 3), (64, 4),
                                           (256, 16), (257, 17)])
def test_dt_rank_auto(d_model, rank):
    m = Mamba(d_model, expand=1)
    assert m.dt_rank == rank == math.ceil(d_model / 16)
    assert m.x_proj.out_features == rank + 2 * m.d_state
    assert m.dt_proj.in_features == rank


def test_explicit_dt_rank_and_hparams():
    m = Mamba(40, d_state=7, d_conv=2, expand=1.5, dt_rank=6)
    assert (m.d_inner, m.dt_rank) == (60, 6)
    assert m.x_proj.weight.shape == (6 + 14, 60)
    assert m.dt_proj.weight.shape == (60, 6)


def test_initialisation_follows_mamba_ssm():
    torch.manual_seed(0)
    d_model, d_state, d_conv = 512, 16, 4
    dt_min, dt_max = 1e-3, 1e-1
    m = Mamba(d_model, d_state=d_state, d_conv=d_conv)
    d_inner = 2 * d_model
    # S4D-real A and skip D, kept in fp32, excluded from weight decay
    expected_A_log = torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(
        d_inner, 1
    )
    assert torch.equal(m.A_log.data, expected_A_log)
    assert torch.equal(m.D.data, torch.ones(d_inner))
    assert m.A_log._no_weight_decay and m.D._no_weight_decay
    assert m.dt_proj.bias._no_reinit
    # dt = softplus(bias) log-uniform in [dt_min, dt_max]
    dt = F.softplus(m.dt_proj.bias.detach().double())
    assert dt.min() >= dt_min * (1 - 1e-4) and dt.max() <= dt_max * (1 + 1e-4)
    pos = (dt.log() - math.log(dt_min)) / (math.log(dt_max) - math.log(dt_min))
    for q in (0.25, 0.5, 0.75):  # uniform in log space
        assert abs((pos < q).double().mean().item() - q) < 0.06, q
    # dt_proj.weight ~ U(-s, s), s = dt_rank^-0.5
    s = m.dt_rank**-0.5
    w = m.dt_proj.weight.detach()
    assert w.abs().max() <= s and w.abs().max() > 0.9 * s
    assert abs(w.mean().item()) < 0.1 * s
    # causal depthwise conv
    assert m.conv1d.kernel_size == (d_conv,)
    assert m.conv1d.padding == (d_conv - 1,)
    assert m.conv1d.groups == d_inner
    assert m.in_proj.bias is None and m.out_proj.bias is None and m.x_proj.bias is None


def test_initialisation_options():
    m = Mamba(32, dt_init="constant", dt_scale=2.0)
    assert torch.allclose(m.dt_proj.weight, torch.full_like(m.dt_proj.weight, 2.0 * 2**-0.5))
    # dt_init_floor clamps dt from below
    m = Mamba(32, dt_min=1e-6, dt_max=1e-5, dt_init_floor=1e-4)
    dt = F.softplus(m.dt_proj.bias.detach().double())
    assert torch.allclose(dt, torch.full_like(dt, 1e-4), rtol=1e-4)
    with pytest.raises(ValueError, match="dt_init"):
        Mamba(32, dt_init="xavier")


def test_mamba_ssm_checkpoint_loads_strict():
    """A state_dict with exactly mamba_ssm's keys/shapes loads with strict=True."""
    g = torch.Generator().manual_seed(0)
    foreign = {k: torch.randn(shape, generator=g) for k, shape in MAMBA_SSM_TABLE_D64}
    m = Mamba(64)
    m.load_state_dict(foreign, strict=True)
    for k, v in m.state_dict().items():
        assert torch.equal(v, foreign[k])


def test_state_dict_roundtrip_identical_outputs(backend):
    torch.manual_seed(0)
    a = trained_like(Mamba(24, d_state=8), seed=1)
    torch.manual_seed(123)
    b = Mamba(24, d_state=8).eval()
    x = torch.randn(2, 37, 24)
    assert not torch.equal(a(x), b(x))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True), strict=True)
    assert torch.equal(a(x), b(x))


# ----------------------------------------------------------------------------- recurrence
def _model_and_input(seed=0, d_model=16, d_state=8, d_conv=4, bsz=2, length=29):
    torch.manual_seed(seed)
    m = trained_like(Mamba(d_model, d_state=d_state, d_conv=d_conv), seed=seed)
    x = torch.randn(bsz, length, d_model)
    return m, x


def _assert_state_close(a: MambaState, b: MambaState):
    assert a.conv_state.shape == b.conv_state.shape and a.ssm_state.shape == b.ssm_state.shape
    assert a.ssm_state.dtype == torch.float32
    assert rel_err(a.conv_state, b.conv_state) <= TOL
    assert rel_err(a.ssm_state, b.ssm_state) <= TOL


@pytest.mark.parametrize("d_conv", [1, 2, 4])
def test_step_by_step_equals_full_forward(backend, d_conv):
    m, x = _model_and_input(d_conv=d_conv)
    with torch.no_grad():
        full = m(x)
        state = m.allocate_state(x.shape[0])
        outs = []
        for t in range(x.shape[1]):
            y, state = m.step(x[:, t : t + 1], state)
            outs.append(y)
        stepped = torch.cat(outs, dim=1)
        _, chunk_state = m(x, m.allocate_state(x.shape[0]))
    assert stepped.shape == full.shape
    assert rel_err(stepped, full) <= TOL
    _assert_state_close(state, chunk_state)


@pytest.mark.parametrize("splits", [
    [29], [1] * 29, [2, 27], [3, 5, 1, 7, 13], [10, 19], [4, 4, 4, 4, 4, 4, 5], [28, 1],
])
def test_chunked_with_state_equals_full_forward(backend, splits):
    m, x = _model_and_input()
    assert sum(splits) == x.shape[1]
    with torch.no_grad():
        full = m(x)
        state = m.allocate_state(x.shape[0])
        outs, start = [], 0
        for n in splits:
            y, state = m(x[:, start : start + n], state)
            outs.append(y)
            start += n
    assert rel_err(torch.cat(outs, 1), full) <= TOL
    with torch.no_grad():
        _, one_call = m(x, m.allocate_state(x.shape[0]))
    _assert_state_close(state, one_call)


def test_forward_with_state_does_not_modify_it(backend):
    m, x = _model_and_input()
    with torch.no_grad():
        _, s1 = m(x[:, :9], m.allocate_state(2))
        keep = s1.clone()
        m(x[:, 9:], s1)
        m.step(x[:, 9:10], s1)
    assert torch.equal(s1.conv_state, keep.conv_state)
    assert torch.equal(s1.ssm_state, keep.ssm_state)


def test_step_and_chunks_mixed(backend):
    """Chunk, then single steps, then a chunk: one continuous stream."""
    m, x = _model_and_input(length=20)
    with torch.no_grad():
        full = m(x)
        y1, s = m(x[:, :7], m.allocate_state(2))
        ys = [y1]
        for t in range(7, 10):
            y, s = m.step(x[:, t : t + 1], s)
            ys.append(y)
        y3, s = m(x[:, 10:], s)
        ys.append(y3)
    assert rel_err(torch.cat(ys, 1), full) <= TOL


def test_gradients_flow_and_backends_agree(monkeypatch):
    m, x = _model_and_input(length=70)
    grads = {}
    for be in (["kernel", "chunked"] if cpu_kernel.load() else ["chunked"]):
        monkeypatch.setenv("ESPNET_MVC_SCAN", be)
        m.zero_grad()
        xx = x.clone().requires_grad_()
        (m(xx) ** 2).mean().backward()
        grads[be] = {n: p.grad.clone() for n, p in m.named_parameters()}
        grads[be]["input"] = xx.grad
        for n, g in grads[be].items():
            assert torch.isfinite(g).all() and g.abs().max() > 0, (be, n)
    if len(grads) == 2:
        for n in grads["kernel"]:
            assert rel_err(grads["kernel"][n], grads["chunked"][n]) <= TOL, n


# ----------------------------------------------------------------------------- bad input
def test_bad_input():
    m = Mamba(8)
    s1 = m.allocate_state(1)
    cases = [
        (lambda: m(torch.zeros(4, 8)), r"\(batch, length, 8\)"),
        (lambda: m(torch.zeros(1, 4, 7)), r"\(batch, length, 8\)"),
        (lambda: m(torch.zeros(1, 0, 8)), r"zero-length"),
        (lambda: m(torch.zeros(1, 4, 8, dtype=torch.long)), r"floating point"),
        (lambda: m(torch.zeros(2, 4, 8), s1), r"state"),
        (lambda: m.step(torch.zeros(1, 2, 8), s1), r"one frame"),
        (lambda: m.step(torch.zeros(1, 8), s1), r"one frame"),
        (lambda: m.step(torch.zeros(1, 1, 7), s1), r"d_model|8"),
        (lambda: m.step(torch.zeros(1, 1, 8, dtype=torch.long), s1), r"floating point"),
        (lambda: m.step(torch.zeros(2, 1, 8), s1), r"state"),
    ]
    for fn, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            fn()


def test_mamba_ssm_kernel_lookup():
    """The CUDA dispatch's lookup of mamba_ssm's kernel exists and, where mamba_ssm cannot be
    imported (every CPU-only machine), reports None so the project's own scan runs."""
    from espnet_mvc.nets.ssm import mamba as mamba_mod

    try:
        import mamba_ssm  # noqa: F401
    except Exception:
        assert mamba_mod._mamba_ssm_scan() is None
    else:  # pragma: no cover (CUDA machines with the extra installed)
        assert callable(mamba_mod._mamba_ssm_scan())

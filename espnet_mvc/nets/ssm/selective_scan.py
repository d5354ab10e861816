"""Selective scan (the Mamba S6 recurrence) in plain PyTorch.

Recurrence, per channel d and state index n (shapes follow ``mamba_ssm``)::

    dt_t   = softplus(delta_t + delta_bias)                 (if delta_softplus)
    h_t    = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t
    y_t    = <C_t, h_t> + D * u_t,     y_t *= silu(z_t)     (if z is given)

``selective_scan`` is the fast CPU path. A Python loop over time is dominated by per-op
overhead (thousands of tiny kernels), so the sequence is cut into chunks of ``chunk_size``
steps. Inside a chunk the recurrence is solved in closed form with cumulative sums::

    S_t = sum_{k<=t} dt_k A                         (log of the decay, <= 0)
    h_t = exp(S_t) h_0 + sum_{k<=t} exp(S_t - S_k) dt_k B_k u_k

which is evaluated for all chunks at once as ``exp(S_t - m) * cumsum_k(exp(m - S_k) x_k)``
with ``m`` the chunk's mid-point log-decay, so that no exponent exceeds half the chunk's
decay range (a naive whole-sequence log-space cumsum overflows). A chunk whose range is too
large for float32 is re-solved with half the chunk size, down to one step, so the result
is always exact up to rounding. Only the hand-over of the state between chunks is a loop
(``L / chunk_size`` iterations of one multiply-add on a ``(B, D, N)`` tensor). The whole
thing is differentiable by autograd. Work is done in segments of bounded size, so memory
is ``O(B * D * N * segment)`` beyond the inputs and outputs.

``selective_scan_ref`` is the plain sequential loop, kept as the reference for tests and
benchmarks.
"""

from typing import Optional, Tuple, Union

import os

import torch
import torch.nn.functional as F

from espnet_mvc.nets.ssm import cpu_kernel

# Largest |exponent| allowed inside a chunk: exp(40) ~ 2e17 keeps float32 far from overflow
# while the relative rounding of exp (about eps * |x|) stays ~2.4e-6.
_MAX_CHUNK_LOG_RANGE = 40.0
# Elements of one (B, D, segment, N) work tensor; bounds the memory of a call.
_SEGMENT_ELEMENTS = 1 << 22

_BACKENDS = ("auto", "fused", "kernel", "chunked")

ScanOutput = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]


def scan_backend(u: torch.Tensor, d_state: int) -> str:
    """Which implementation :func:`selective_scan` uses for this input.

    ``ESPNET_MVC_SCAN`` = ``auto`` (default: the compiled kernel for CPU tensors when it
    builds, else the chunked scan; ``Mamba`` also uses its fused inference path),
    ``fused`` (like ``auto``, but the kernel is required), ``kernel`` (the compiled scan
    only, required; ``Mamba`` runs unfused) or ``chunked``. CUDA tensors use
    ``mamba_ssm``'s kernel one level up, in ``Mamba``; the chunked scan is the
    device-agnostic fallback.
    """
    choice = os.environ.get("ESPNET_MVC_SCAN", "auto").lower()
    if choice not in _BACKENDS:
        raise ValueError(f"ESPNET_MVC_SCAN must be one of {_BACKENDS}, got {choice!r}")
    if choice == "chunked":
        return "chunked"
    usable = u.device.type == "cpu" and d_state <= cpu_kernel.max_state()
    if choice in ("kernel", "fused") and not usable:
        raise RuntimeError(
            f"ESPNET_MVC_SCAN={choice} but the compiled CPU scan cannot run here "
            f"(device={u.device.type}, d_state={d_state}, "
            f"build error: {cpu_kernel._load_failed})"
        )
    return "kernel" if usable else "chunked"


def _check_scan_inputs(u, delta, A, B, C, D, z, initial_state, delta_bias=None):
    if u.dim() != 3:
        raise ValueError(f"u must be (batch, dim, length), got shape {tuple(u.shape)}")
    if not torch.is_floating_point(u):
        raise ValueError(f"u must be a floating point tensor, got {u.dtype}")
    bsz, dim, length = u.shape
    if length == 0:
        raise ValueError("selective scan over a zero-length sequence")
    if delta.shape != u.shape:
        raise ValueError(f"delta shape {tuple(delta.shape)} != u shape {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (dim={dim}, d_state), got {tuple(A.shape)}")
    d_state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.shape != (bsz, d_state, length):
            raise ValueError(
                f"{name} must be (batch, d_state, length) = {(bsz, d_state, length)}, "
                f"got {tuple(t.shape)} (input-independent B/C are not supported)"
            )
    if D is not None and D.shape != (dim,):
        raise ValueError(f"D must be ({dim},), got {tuple(D.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"z shape {tuple(z.shape)} != u shape {tuple(u.shape)}")
    if delta_bias is not None and delta_bias.shape != (dim,):
        raise ValueError(f"delta_bias must be ({dim},), got {tuple(delta_bias.shape)}")
    if initial_state is not None and initial_state.shape != (bsz, dim, d_state):
        raise ValueError(
            f"initial_state must be {(bsz, dim, d_state)}, got {tuple(initial_state.shape)}"
        )


def _prepare(u, delta, A, B, C, delta_bias, delta_softplus, initial_state):
    """Promote to float32, compute the discretisation step and the starting state."""
    dtype_in = u.dtype
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].float()
    if delta_softplus:
        delta = F.softplus(delta)
    if initial_state is None:
        h0 = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    else:
        h0 = initial_state.float()
    return dtype_in, u, delta, A, B, C, h0


def _finish(y, u, D, z, dtype_in, last_state, return_last_state) -> ScanOutput:
    if D is not None:
        y = y + u * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    y = y.to(dtype_in)
    return (y, last_state) if return_last_state else y


def selective_scan_ref(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: Optional[torch.Tensor] = None,
    z: Optional[torch.Tensor] = None,
    delta_bias: Optional[torch.Tensor] = None,
    delta_softplus: bool = False,
    initial_state: Optional[torch.Tensor] = None,
    return_last_state: bool = False,
) -> ScanOutput:
    """Sequential reference scan (one Python iteration per time step).

    Args are as in :func:`selective_scan`.
    """
    _check_scan_inputs(u, delta, A, B, C, D, z, initial_state, delta_bias)
    dtype_in, u, delta, A, B, C, h = _prepare(
        u, delta, A, B, C, delta_bias, delta_softplus, initial_state
    )
    bsz, dim, length = u.shape
    d_a = torch.exp(delta.unsqueeze(-1) * A[:, None])  # (B, D, L, N)
    d_bu = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # (B, D, L, N)
    ys = []
    # unbind, not d_a[:, :, t]: the backward of one index materialises a zero gradient of
    # the whole (B, D, L, N) tensor per step (O(L^2) backward); unbind's is one stack.
    for d_a_t, d_bu_t, c_t in zip(d_a.unbind(2), d_bu.unbind(2), C.unbind(2)):
        h = d_a_t * h + d_bu_t
        ys.append(torch.einsum("bdn,bn->bd", h, c_t))
    y = torch.stack(ys, dim=2) if ys else u.new_zeros(bsz, dim, 0)
    return _finish(y, u, D, z, dtype_in, h, return_last_state)


def _scan_segment(
    dt: torch.Tensor,
    dtu: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    h0: torch.Tensor,
    chunk: int,
    return_states: bool = False,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Scan one segment whose length is a multiple of ``chunk``.

    The log-decay within a chunk is ``A * (cumsum(dt)_t - cumsum(dt)_mid)``: the cumulative
    sum runs over ``(B, D, T)`` only and one broadcast multiply makes the ``(B, D, N, T)``
    exponent. Time is the last (contiguous) axis. Without autograd the large buffers are
    updated in place, which halves the memory traffic.

    Args:
        dt (Tensor): Step sizes (B, D, T).
        dtu (Tensor): dt * u (B, D, T).
        A (Tensor): State matrix (D, N).
        B (Tensor): Input matrix (B, N, T).
        C (Tensor): Output matrix (B, N, T).
        h0 (Tensor): State before the segment (B, D, N).
        chunk (int): Chunk size.
        return_states (bool): Return every state (B, D, N, T) instead of y.

    Returns:
        Tensor: y without the D skip (B, D, T) (or the states).
        Tensor: State after the segment (B, D, N).
    """
    bsz, dim, length = dt.shape
    d_state = A.shape[1]
    n_chunks = length // chunk
    cum_dt = dt.reshape(bsz, dim, n_chunks, chunk).cumsum(dim=-1)  # (B, D, nc, T)
    cum_mid = cum_dt[..., chunk // 2 : chunk // 2 + 1]
    rel = cum_dt - cum_mid  # monotone in t, so its extremes are at the chunk ends
    if chunk > 1:
        steepest = A.detach().abs().amax() * torch.maximum(
            rel[..., 0].detach().abs().amax(), rel[..., -1].detach().abs().amax()
        )
        if steepest > _MAX_CHUNK_LOG_RANGE:
            # Decay too steep for this chunk size in float32: solve with smaller chunks.
            return _scan_segment(dt, dtu, A, B, C, h0, chunk // 2, return_states)
    in_place = not (torch.is_grad_enabled() and any(
        t.requires_grad for t in (dt, dtu, A, B, C, h0)
    ))
    a5 = A[None, :, :, None, None]  # (1, D, N, 1, 1)
    shape5 = (bsz, dim, d_state, n_chunks, chunk)
    # exp(S_t - m), S the log-decay and m its value at the chunk's mid-point
    decay = a5 * rel.unsqueeze(2)
    decay = decay.exp_() if in_place else decay.exp()
    x = (dtu.unsqueeze(2) * B.unsqueeze(1)).reshape(shape5)  # dt * B * u
    if in_place:
        h_local = x.div_(decay).cumsum_(dim=-1).mul_(decay)
    else:
        h_local = (x / decay).cumsum(dim=-1) * decay
    # Hand the state over from chunk to chunk (the only sequential part).
    chunk_decay = torch.exp(A[None, :, :, None] * cum_dt[..., -1].unsqueeze(2))  # (B,D,N,nc)
    starts = []
    h = h0
    for c in range(n_chunks):
        starts.append(h)
        h = chunk_decay[..., c] * h + h_local[..., c, -1]
    h_start = torch.stack(starts, dim=-1).unsqueeze(-1)  # (B, D, N, nc, 1)
    # exp(S_t) h_start = exp(S_t - m) * (exp(m) h_start)
    carry = torch.exp(a5 * cum_mid.unsqueeze(2)) * h_start
    if in_place:
        states = h_local.addcmul_(decay, carry)
    else:
        states = torch.addcmul(h_local, decay, carry)
    if return_states:
        return states.reshape(bsz, dim, d_state, length), h
    y = torch.einsum("bdnct,bnct->bdct", states, C.reshape(bsz, d_state, n_chunks, chunk))
    return y.reshape(bsz, dim, length), h


def _chunked_forward(u, dt, A, B, C, h0, chunk):
    """y without the D skip (B, D, L) and the last state, in segments of bounded memory."""
    bsz, dim, length = u.shape
    per_step = max(1, bsz * dim * A.shape[1])
    segment = max(chunk, (_SEGMENT_ELEMENTS // per_step) // chunk * chunk)
    outputs = []
    h = h0
    for start in range(0, length, segment):
        part = slice(start, min(length, start + segment))
        dt_seg = dt[:, :, part]
        y_seg, h = _scan_padded(dt_seg, dt_seg * u[:, :, part], A, B[:, :, part],
                                C[:, :, part], h, chunk, False)
        outputs.append(y_seg)
    return torch.cat(outputs, dim=2), h


def _scan_padded(dt, dtu, A, B, C, h0, chunk, return_states):
    """:func:`_scan_segment` for any length: pads to a multiple of ``chunk`` with dt = 0
    (decay 1 and no input, so the state passes unchanged) and crops the result."""
    length = dt.shape[-1]
    pad = (-length) % chunk
    if pad:
        dt, dtu, B, C = (F.pad(t, (0, pad)) for t in (dt, dtu, B, C))
    out, h = _scan_segment(dt, dtu, A, B, C, h0, chunk, return_states)
    return out[..., :length], h


class _ChunkedScan(torch.autograd.Function):
    """The chunked scan with an adjoint backward.

    Autograd through the closed form would differentiate ``exp(A S_t) * cumsum(exp(-A S_k)
    x_k)``, whose two factors cancel: for steep decays its dL/dA is rounding noise. The
    backward here runs the adjoint recurrence instead -- itself a linear scan, backwards in
    time, solved by the same chunked closed form::

        lam_t = exp(dt_{t+1} A) lam_{t+1} + C_t gy_t,     lam_{L-1} = C gy + g(h_last)
        dL/d(dt_t A) = lam_t h_{t-1} exp(dt_t A),   dL/d(dt_t u_t B_t) = lam_t

    so every gradient is a product of values, never a difference of large exponentials.
    Memory: the states and adjoint states (B, D, N, L) of the whole sequence.
    """

    @staticmethod
    def forward(ctx, u, dt, A, B, C, h0, chunk):
        with torch.no_grad():
            y, h_last = _chunked_forward(u, dt, A, B, C, h0, chunk)
        ctx.save_for_backward(u, dt, A, B, C, h0)
        ctx.chunk = chunk
        return y, h_last

    @staticmethod
    def backward(ctx, gy, g_hlast):
        u, dt, A, B, C, h0 = ctx.saved_tensors
        if gy is None:
            gy = torch.zeros_like(u)
        if g_hlast is None:
            g_hlast = torch.zeros_like(h0)
        dtu = dt * u
        with torch.no_grad():
            states, _ = _scan_padded(dt, dtu, A, B, C, h0, ctx.chunk, True)  # h_t
            # adjoint, reversed in time: decay from t to t+1 uses dt_{t+1} (none after L-1)
            dt_next = F.pad(dt[:, :, 1:], (0, 1))
            lam, _ = _scan_padded(dt_next.flip(-1), gy.flip(-1), A, C.flip(-1), C,
                                  g_hlast, ctx.chunk, True)
            lam = lam.flip(-1)  # (B, D, N, L)
            decay = torch.exp(dt.unsqueeze(2) * A[None, :, :, None])  # (B, D, N, L)
            h_prev = torch.cat([h0.unsqueeze(-1), states[..., :-1]], dim=-1)
            g_logdecay = lam * h_prev * decay  # dL/d(dt_t A_n)
            lam_b = torch.einsum("bdnl,bnl->bdl", lam, B)
            g_dt = torch.einsum("bdnl,dn->bdl", g_logdecay, A) + lam_b * u
            g_u = lam_b * dt
            g_A = torch.einsum("bdnl,bdl->dn", g_logdecay, dt)
            g_B = torch.einsum("bdnl,bdl->bnl", lam, dtu)
            g_C = torch.einsum("bdnl,bdl->bnl", states, gy)
            g_h0 = lam[..., 0] * decay[..., 0]
        return g_u, g_dt, g_A, g_B, g_C, g_h0, None


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: Optional[torch.Tensor] = None,
    z: Optional[torch.Tensor] = None,
    delta_bias: Optional[torch.Tensor] = None,
    delta_softplus: bool = False,
    initial_state: Optional[torch.Tensor] = None,
    return_last_state: bool = False,
    chunk_size: int = 32,
) -> ScanOutput:
    """Chunked selective scan (fast on CPU, differentiable, exact up to rounding).

    Args:
        u (Tensor): Input (B, D, L).
        delta (Tensor): Step sizes before bias/softplus (B, D, L).
        A (Tensor): State matrix, diagonal per channel (D, N); negative real.
        B (Tensor): Input-dependent input matrix (B, N, L).
        C (Tensor): Input-dependent output matrix (B, N, L).
        D (Optional[Tensor]): Skip connection (D,).
        z (Optional[Tensor]): Gate (B, D, L); output is multiplied by silu(z).
        delta_bias (Optional[Tensor]): Bias added to delta (D,).
        delta_softplus (bool): Apply softplus to delta.
        initial_state (Optional[Tensor]): State before the first step (B, D, N).
        return_last_state (bool): Also return the state after the last step.
        chunk_size (int): Steps solved in closed form at once (power of two).

    Returns:
        Tensor: Output (B, D, L), in the dtype of ``u``.
        Tensor: Last state (B, D, N), float32, if ``return_last_state``.
    """
    _check_scan_inputs(u, delta, A, B, C, D, z, initial_state, delta_bias)
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError(f"chunk_size must be a power of two, got {chunk_size}")
    dtype_in, u, delta, A, B, C, h = _prepare(
        u, delta, A, B, C, delta_bias, delta_softplus, initial_state
    )
    bsz, dim, length = u.shape
    d_state = A.shape[1]
    if scan_backend(u, d_state) == "kernel":
        y, h = cpu_kernel.CompiledSelectiveScan.apply(
            u, delta, A, B.transpose(1, 2), C.transpose(1, 2), h
        )
        return _finish(y, u, D, z, dtype_in, h, return_last_state)
    y, h = _ChunkedScan.apply(u, delta, A, B, C, h, chunk_size)
    return _finish(y, u, D, z, dtype_in, h, return_last_state)

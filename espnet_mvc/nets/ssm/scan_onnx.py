"""The selective scan in standard ONNX ops, for export (``espnet-mvc export --onnx``).

The CPU path of :func:`~espnet_mvc.nets.ssm.selective_scan.selective_scan` is a C kernel and
the CUDA path is mamba_ssm's; neither exports. Here the recurrence (shapes as there)::

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t,     y_t = <C_t, h_t>

is cut into chunks of ``chunk`` steps, every chunk solved at once, in three parts; the
graph has a fixed size whatever the length:

1. each chunk's last state from a zero start: the recurrence itself, unrolled over the
   ``chunk`` steps and run for all chunks at once on ``(1, n_chunks, B, N, D)`` tensors.
   It is the sequential recurrence, so it is exact and never overflows (every decay is
   <= 1), unlike a closed form in ``exp(-S)``;
2. the state entering each chunk (:func:`_hand_over_blocked`): the same recurrence one
   level up, over blocks of ``block`` chunks, and an ONNX ``Loop`` over the blocks
   (:func:`_hand_over`, TorchScript, so that the loop stays a loop and the graph takes any
   length; each Loop iteration costs onnxruntime tens of microseconds, hence the blocks);
3. the recurrence again from those states, now with the outputs ``<C_t, h_t>`` (a MatMul).

The decays ``exp(dt * A)`` are recomputed in part 3 rather than kept from part 1: on one
core the graph is bound by memory traffic, and keeping them was slower. The layout is
time-major with the channels innermost (the layout of Mamba's projections), so no
transpose moves the innermost axis: onnxruntime's did cost as much as a Mul each.

Measured on the shipped model (``python -m espnet_mvc.bin.benchmark onnx``, AMD EPYC Zen
4): onnxruntime's common-subexpression pass shares the decays and the inputs ``dt * B * u``
of parts 1 and 3, which leaves eight operators a step, each a pass over the state in memory,
against one pass in the fused C kernel (the state in registers). The whole model runs at
1.48x PyTorch's RTF on one thread and 1.11x on two, and at 0.30x PyTorch's own chunked scan
(``ESPNET_MVC_SCAN=chunked``). Chunk 16 was the fastest of 8, 16 and 32 (estimator at 2
threads: 41.0 ms against 41.1 and 44.2 ms for 681 frames).
"""

import contextlib
from typing import Iterator, Optional, Tuple

import torch
import torch.nn.functional as F

CHUNK = 16  # steps unrolled per chunk
BLOCK = 16  # chunks unrolled per block of the hand-over
_sizes = {"chunk": CHUNK, "block": BLOCK}


@contextlib.contextmanager
def unrolled(chunk: int = CHUNK, block: int = BLOCK) -> Iterator[None]:
    """Export the scans traced inside with these unroll sizes. The graph grows with them
    (and onnxruntime's load time with the graph): short sequences, such as tokens, export
    with small ones."""
    old = dict(_sizes)
    _sizes.update(chunk=int(chunk), block=int(block))
    try:
        yield
    finally:
        _sizes.update(old)


@torch.jit.script
def _hand_over(
    decay: torch.Tensor, h_end: torch.Tensor, h0: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """State entering each chunk, and after the last one.

    Args:
        decay (Tensor): Each chunk's whole decay (n_chunks, B, N, D).
        h_end (Tensor): Each chunk's last state from a zero start (n_chunks, B, N, D).
        h0 (Tensor): State before the first chunk (B, N, D).

    Returns:
        Tensor: (n_chunks, B, N, D). Tensor: (B, N, D).
    """
    starts = []
    h = h0
    for c in range(decay.shape[0]):
        starts.append(h)
        h = decay[c] * h + h_end[c]
    return torch.stack(starts), h


def _hand_over_blocked(
    decay: torch.Tensor, h_end: torch.Tensor, h0: torch.Tensor, block: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`_hand_over` with the loop over blocks of ``block`` chunks: the same
    recurrence one level up (unrolled inside each block, all blocks at once; the loop hands
    the state from block to block), since each ONNX ``Loop`` iteration costs tens of
    microseconds of onnxruntime overhead whatever it computes."""
    n_chunks = decay.shape[0]
    pad = (block - n_chunks % block) % block
    # padding chunks: decay 1 and no input
    decay = torch.cat([decay, torch.ones_like(decay[:1]).expand(pad, -1, -1, -1)], 0)
    h_end = torch.cat([h_end, torch.zeros_like(h_end[:1]).expand(pad, -1, -1, -1)], 0)
    n_blocks = (n_chunks + pad) // block
    shape = (n_blocks, block) + tuple(decay.shape[1:])
    d_k = decay.reshape(shape).split(1, 1)  # block x (nb, 1, B, N, D)
    x_k = h_end.reshape(shape).split(1, 1)
    h, p = x_k[0], d_k[0]
    for k in range(1, block):  # each block's end state from zero, and its whole decay
        h = d_k[k] * h + x_k[k]
        p = d_k[k] * p
    starts_b, h_last = _hand_over(p[:, 0], h[:, 0], h0)  # (nb, B, N, D)
    starts, h = [], starts_b.unsqueeze(1)
    for k in range(block):
        starts.append(h)
        h = d_k[k] * h + x_k[k]
    starts = torch.cat(starts, 1).reshape((n_blocks * block,) + tuple(decay.shape[1:]))
    return starts[:n_chunks], h_last


def softplus_onnx(x: torch.Tensor) -> torch.Tensor:
    """``F.softplus`` (threshold 20) in elementary ops: onnxruntime's Softplus kernel took
    ten times as long as this on the shipped model's step sizes."""
    return torch.where(x > 20.0, x, torch.log(1.0 + torch.exp(x.clamp(max=20.0))))


def selective_scan_onnx(
    u: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk: Optional[int] = None,
) -> torch.Tensor:
    """Selective scan from a zero state, without the D skip and the gate, in exportable
    ops, time-major (the layout of Mamba's projections, so that no transpose moves the
    channel axis).

    Args:
        u (Tensor): Input (B, L, D), float32.
        dt (Tensor): Step sizes after bias and softplus (B, L, D).
        A (Tensor): (D, N), negative; or one per batch row (B, D, N).
        B (Tensor): (B, L, N). C (Tensor): (B, L, N).
        chunk (Optional[int]): Steps unrolled per chunk (default: :func:`unrolled`'s).

    Returns:
        Tensor: y (B, L, D).
    """
    chunk = _sizes["chunk"] if chunk is None else int(chunk)
    bsz, length, dim = u.shape[0], u.shape[1], u.shape[2]
    d_state = A.shape[-1]
    # pad to whole chunks with dt = 0: decay 1 and no input, so the state passes unchanged
    pad = (chunk - length % chunk) % chunk
    dt, dtu, B, C = (F.pad(t, (0, 0, 0, pad)) for t in (dt, dt * u, B, C))
    n_chunks = (length + pad) // chunk
    # layout (step in chunk, chunk, batch, state, channel): each unrolled step reads one
    # contiguous slice, every broadcast runs along the innermost channels, and the
    # hand-over takes the chunks on the leading axis as they are
    dt = dt.reshape(bsz, n_chunks, chunk, dim).permute(2, 1, 0, 3).unsqueeze(3)  # (K,nc,B,1,D)
    dtu = dtu.reshape(bsz, n_chunks, chunk, dim).permute(2, 1, 0, 3).unsqueeze(3)
    B = B.reshape(bsz, n_chunks, chunk, d_state).permute(2, 1, 0, 3).unsqueeze(-1)  # (K,nc,B,N,1)
    C = C.reshape(bsz, n_chunks, chunk, d_state).permute(2, 1, 0, 3).unsqueeze(3)  # (K,nc,B,1,N)
    a = A.transpose(-1, -2)  # (N, D), or (B, N, D): broadcast against (1, nc, B, 1, D)
    # 1. each chunk's last state from a zero start; every step's decay and input are made
    # from (K, ...) tensors without N as they are needed (no (K, nc, B, N, D) tensor is ever
    # materialised: on one core the graph is bound by memory traffic). split(1), not
    # unbind: the slices keep a leading 1 (broadcast away) and export without a copy.
    dt_k, dtu_k, B_k, C_k = (t.split(1, 0) for t in (dt, dtu, B, C))
    h = dtu_k[0] * B_k[0]
    for k in range(1, chunk):
        h = torch.exp(dt_k[k] * a) * h + dtu_k[k] * B_k[k]
    # 2. the state entering each chunk
    chunk_decay = torch.exp(dt.sum(0) * a)  # (nc, B, N, D)
    h0 = u.new_zeros(bsz, d_state, dim)
    starts, _ = _hand_over_blocked(chunk_decay, h[0], h0, _sizes["block"])
    # 3. the recurrence again from those states, now with the outputs
    h = starts.unsqueeze(0)  # (1, nc, B, N, D)
    ys = []
    for k in range(chunk):
        h = torch.exp(dt_k[k] * a) * h + dtu_k[k] * B_k[k]
        ys.append(torch.matmul(C_k[k], h))  # (1, nc, B, 1, D): <C, h> as one pass over h
    y = torch.cat(ys).permute(2, 1, 0, 3, 4).reshape(bsz, n_chunks * chunk, dim)
    return y[:, :length]

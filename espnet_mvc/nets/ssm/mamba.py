"""Mamba (S6) block, parameter-compatible with ``mamba_ssm.modules.mamba_simple.Mamba``.

Same parameter names, shapes and initialisation (``in_proj``, ``conv1d``, ``x_proj``,
``dt_proj``, ``A_log``, ``D``, ``out_proj``), so a state_dict moves between this module and
``mamba_ssm`` unchanged. The scan runs on ``mamba_ssm``'s fused CUDA kernel when the input
is a CUDA tensor and ``mamba_ssm`` imports; otherwise on this project's scan (a compiled
CPU kernel, or the chunked PyTorch scan).

Recurrent inference: :meth:`Mamba.step` consumes one frame, :meth:`Mamba.forward` with a
:class:`MambaState` consumes a chunk and carries the state on (streaming).

Fused CPU inference: without autograd, a float32 CPU forward runs per sequence in chunks of
``FUSED_CHUNK`` frames, time-major, with the conv + SiLU and the softplus / scan / D skip /
SiLU gate each done in one compiled call (``cpu_kernel.conv_silu`` / ``scan_fused``) and the
state carried from chunk to chunk. Only the three large projections stay in PyTorch
(``dt_proj``, rank ``dt_rank``, is applied inside the scan kernel). Memory is then
bounded by the chunk, not by the length, and a backward scan (``reverse=True``) reads the
same buffers from the end instead of reversing copies. ``ESPNET_MVC_SCAN`` = ``kernel`` or
``chunked`` turns it off (see ``selective_scan.scan_backend``).
"""

import math
import os
import threading
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_mvc.nets.ssm import cpu_kernel
from espnet_mvc.nets.masks import valid_mask
from espnet_mvc.nets.ssm.bidirectional import check_lengths, reverse_within_length
from espnet_mvc.nets.ssm.selective_scan import scan_backend, selective_scan
from espnet_mvc.nets.ssm.scan_onnx import selective_scan_onnx, softplus_onnx

# Frames per chunk of the fused inference path: its working set (in_proj output, conv output,
# y) is ~4 x FUSED_CHUNK x d_inner floats, whatever the sequence length.
FUSED_CHUNK = 512

_workspaces = threading.local()


def scratch(name: str, shape, dtype=torch.float32) -> torch.Tensor:
    """This thread's reusable buffer ``name``, viewed as ``shape`` (grown on demand, kept).

    For inference temporaries that would otherwise be allocated and freed at every call:
    the C library returns such large blocks to the OS and faults them in again each time.
    A buffer's contents are valid until the next ``scratch`` call with the same name.
    """
    buffers = getattr(_workspaces, "buffers", None)
    if buffers is None:
        buffers = _workspaces.buffers = {}
    numel = math.prod(shape)
    buf = buffers.get(name)
    if buf is None or buf.numel() < numel or buf.dtype != dtype:
        # a normal tensor even when first made under inference_mode, so that later calls
        # under plain no_grad may write into it
        with torch.inference_mode(False):
            buf = buffers[name] = torch.empty(numel, dtype=dtype)
    return buf[:numel].view(shape)


def release_scratch() -> None:
    """Free this thread's reusable inference buffers (they are kept between calls, sized
    for the longest sequence seen: about 2 x length x d_model floats + one chunk)."""
    _workspaces.buffers = {}


_cuda_scan = None


def _mamba_ssm_scan():
    """``mamba_ssm``'s fused selective scan, or None where it cannot be imported."""
    global _cuda_scan
    if _cuda_scan is None:
        try:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

            _cuda_scan = selective_scan_fn
        except Exception:  # not installed, or no CUDA build (always so on CPU machines)
            _cuda_scan = False
    return _cuda_scan or None


@dataclass
class MambaState:
    """Recurrent state of one Mamba layer.

    Attributes:
        conv_state (Tensor): Last ``d_conv`` inputs of the causal conv (B, d_inner, d_conv).
        ssm_state (Tensor): SSM state (B, d_inner, d_state), float32.
    """

    conv_state: torch.Tensor
    ssm_state: torch.Tensor

    def clone(self) -> "MambaState":
        return MambaState(self.conv_state.clone(), self.ssm_state.clone())


class Mamba(nn.Module):
    """Selective state-space block (Gu & Dao, 2023).

    Args:
        d_model (int): Input/output width.
        d_state (int): SSM state size N.
        d_conv (int): Causal depthwise conv width.
        expand (int): Inner width is ``expand * d_model``.
        dt_rank (int or "auto"): Rank of the step-size projection (auto: ceil(d_model/16)).
        dt_min, dt_max, dt_init, dt_scale, dt_init_floor: Step-size initialisation, as in
            mamba_ssm.
        conv_bias (bool): Bias in the conv. bias (bool): Bias in in/out projections.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank="auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: str = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
    ):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)

        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner,
            padding=d_conv - 1, bias=conv_bias,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + d_state * 2, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)

        dt_init_std = self.dt_rank**-0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, dt_init_std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        else:
            raise ValueError(f"dt_init must be 'constant' or 'random', got {dt_init!r}")
        dt = torch.exp(
            torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))  # inverse of softplus
        with torch.no_grad():
            self.dt_proj.bias.copy_(inv_dt)
        self.dt_proj.bias._no_reinit = True

        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))  # (d_inner, d_state)
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.D._no_weight_decay = True
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)

    # ------------------------------------------------------------------ helpers
    def allocate_state(self, batch_size: int, device=None, dtype=None) -> MambaState:
        """Zero state, equal to the implicit state before the first frame."""
        device = device or self.out_proj.weight.device
        dtype = dtype or self.conv1d.weight.dtype
        return MambaState(
            torch.zeros(batch_size, self.d_inner, self.d_conv, device=device, dtype=dtype),
            torch.zeros(batch_size, self.d_inner, self.d_state, device=device,
                        dtype=torch.float32),
        )

    def _check_state(self, state: MambaState, batch_size: int) -> None:
        want = {
            "conv_state": (batch_size, self.d_inner, self.d_conv),
            "ssm_state": (batch_size, self.d_inner, self.d_state),
        }
        for name, shape in want.items():
            got = tuple(getattr(state, name).shape)
            if got != shape:
                raise ValueError(f"state.{name} must be {shape} for this input, got {got}")

    def _ssm_params(self, x: torch.Tensor):
        """x (B, d_inner, L) -> dt (B, d_inner, L), B, C (B, d_state, L)."""
        bsz, _, length = x.shape
        x_dbl = self.x_proj(x.transpose(1, 2).reshape(bsz * length, self.d_inner))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (self.dt_proj.weight @ dt.t()).reshape(self.d_inner, bsz, length).transpose(0, 1)
        B = B.reshape(bsz, length, self.d_state).transpose(1, 2).contiguous()
        C = C.reshape(bsz, length, self.d_state).transpose(1, 2).contiguous()
        return dt, B, C

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        hidden_states: torch.Tensor,
        state: Optional[MambaState] = None,
        lengths: Optional[torch.Tensor] = None,
        reverse: bool = False,
        out: Optional[torch.Tensor] = None,
    ) -> torch.Tensor | Tuple[torch.Tensor, MambaState]:
        """Process a sequence (or, with ``state``, the next chunk of one).

        Args:
            hidden_states (Tensor): Input (B, L, d_model).
            state (Optional[MambaState]): State after the previous chunk. When given, the
                call returns ``(output, new_state)`` and ``state`` is not modified.
            lengths (Optional[Tensor]): Valid lengths (B,) of a padded batch; the output is
                zero on padding frames.
            reverse (bool): Scan backwards in time within each sequence's own length:
                ``rev(Mamba(rev(x)))`` with ``rev`` = :func:`reverse_within_length`.
            out (Optional[Tensor]): Contiguous float32 (B, L, d_model) buffer the fused
                inference path writes the output into (other paths allocate their own).

        Returns:
            Tensor: Output (B, L, d_model) [, MambaState].
        """
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != self.d_model:
            raise ValueError(
                f"Mamba expects (batch, length, {self.d_model}), "
                f"got {tuple(hidden_states.shape)}"
            )
        if not torch.is_floating_point(hidden_states):
            raise ValueError(f"Mamba expects a floating point input, got {hidden_states.dtype}")
        bsz, length, _ = hidden_states.shape
        if length == 0:
            raise ValueError("Mamba got a zero-length sequence")
        if state is not None:
            if reverse or lengths is not None:
                raise ValueError("a carried state needs a forward scan over unpadded chunks "
                                 "(no reverse, no lengths)")
            self._check_state(state, bsz)
        if lengths is not None:
            lengths = check_lengths(hidden_states, lengths)
        if self.can_fuse(hidden_states):
            out, new_state = self._forward_fused(hidden_states, state, lengths, reverse, out)
        else:
            x = hidden_states
            if reverse:
                rev_lengths = check_lengths(x, lengths)
                x = reverse_within_length(x, rev_lengths)
            if torch.onnx.is_in_onnx_export():
                out, new_state = self._forward_export(x, state)
            else:
                out, new_state = self._forward_unfused(x, state)
            if reverse:
                out = reverse_within_length(out, rev_lengths)
            if lengths is not None:
                out = out * valid_mask(lengths, length).unsqueeze(-1).to(out.dtype)
        return out if state is None else (out, new_state)

    def can_fuse(self, x: torch.Tensor) -> bool:
        """Fused CPU inference applies: no autograd, float32 CPU, compiled kernel."""
        if x.device.type != "cpu" or x.dtype != torch.float32:
            return False
        if torch.onnx.is_in_onnx_export():  # the kernels do not export (scan_onnx does)
            return False
        if torch.is_grad_enabled() and (x.requires_grad or self.in_proj.weight.requires_grad):
            return False
        if os.environ.get("ESPNET_MVC_SCAN", "auto").lower() not in ("auto", "fused"):
            return False
        return (
            scan_backend(x, self.d_state) == "kernel"
            and self.d_inner <= cpu_kernel.max_fused_inner()
        )

    def _forward_unfused(self, hidden_states, state):
        """Batched forward through ``selective_scan`` (autograd, any device)."""
        length = hidden_states.shape[1]
        xz = self.in_proj(hidden_states).transpose(1, 2)  # (B, 2*d_inner, L)
        x, z = xz.chunk(2, dim=1)
        A = -torch.exp(self.A_log.float())  # (d_inner, d_state)
        if state is None:
            x_conv = self.conv1d(x)[..., :length]
            conv_state = None
        else:
            # Causal conv continued from the previous chunk's last d_conv inputs.
            window = torch.cat([state.conv_state.to(x.dtype), x], dim=2)
            x_conv = F.conv1d(
                window[:, :, 1:], self.conv1d.weight, self.conv1d.bias, groups=self.d_inner
            )
            conv_state = window[:, :, -self.d_conv:]
        x = F.silu(x_conv)
        dt, B, C = self._ssm_params(x)
        cuda_scan = _mamba_ssm_scan() if x.is_cuda and state is None else None
        if cuda_scan is not None:
            y = cuda_scan(
                x, dt, A, B, C, self.D.float(), z=z,
                delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
            )
            ssm_state = None
        else:
            y, ssm_state = selective_scan(
                x, dt, A, B, C, self.D.float(), z=z,
                delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
                initial_state=None if state is None else state.ssm_state,
                return_last_state=True,
            )
        out = self.out_proj(y.transpose(1, 2))
        return out, (None if state is None else MambaState(conv_state, ssm_state))

    def _forward_export(self, hidden_states, state):
        """:meth:`_forward_unfused` in ops that export to ONNX (``espnet-mvc export``), time
        before channels throughout: the scan works time-major, and onnxruntime's transposes
        that move the innermost axis cost as much as a Mul each. The causal conv is its
        ``d_conv`` shifted, weighted copies (no transposes either)."""
        if state is not None:
            raise ValueError("ONNX export traces whole sequences (no carried state)")
        x, z, dt, B, C = self.export_scan_inputs(hidden_states)
        y = selective_scan_onnx(x, dt, self.export_A(), B, C)
        return self.export_output(y, x, z, hidden_states.dtype), None

    def export_A(self) -> torch.Tensor:
        """The state matrix A (d_inner, d_state), as the export path uses it."""
        return -torch.exp(self.A_log.float())

    def export_scan_inputs(self, hidden_states: torch.Tensor):
        """The export path up to the scan (see :meth:`_forward_export`).

        Args:
            hidden_states (Tensor): (B, L, d_model).

        Returns:
            Tensor: x (B, L, d_inner). Tensor: the gate z (B, L, d_inner). Tensor: dt after
            bias and softplus (B, L, d_inner). Tensor: B (B, L, N). Tensor: C (B, L, N).
            All float32.
        """
        length = hidden_states.shape[1]
        x, z = self.in_proj(hidden_states).chunk(2, dim=-1)  # (B, L, d_inner) each
        padded = F.pad(x, (0, 0, self.d_conv - 1, 0))
        weight = self.conv1d.weight[:, 0, :]  # (d_inner, d_conv)
        x_conv = padded[:, 0:length] * weight[:, 0]
        for k in range(1, self.d_conv):
            x_conv = x_conv + padded[:, k:k + length] * weight[:, k]
        if self.conv1d.bias is not None:
            x_conv = x_conv + self.conv1d.bias
        x = F.silu(x_conv)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state],
                               dim=-1)
        dt = softplus_onnx(self.dt_proj(dt).float())  # bias included
        return x.float(), z.float(), dt, B.float(), C.float()

    def export_output(self, y: torch.Tensor, x: torch.Tensor, z: torch.Tensor, dtype):
        """The export path after the scan: D skip, gate and output projection."""
        y = (y + x * self.D.float()) * F.silu(z)
        return self.out_proj(y.to(dtype))

    def _forward_fused(self, hidden_states, state, lengths, reverse, out=None):
        """Per-sequence, chunked, time-major forward through the compiled kernels.

        Every per-chunk intermediate lives in a per-thread :func:`scratch` buffer, reused from
        chunk to chunk and call to call: allocating and freeing them per chunk made the C
        library hand the pages back to the OS and fault them in again (tens of thousands of
        page faults per encoder forward, a third of its time on this machine).
        """
        bsz, length, _ = hidden_states.shape
        d_inner, d_state, d_conv, dt_rank = self.d_inner, self.d_state, self.d_conv, self.dt_rank
        conv_w = self.conv1d.weight.reshape(d_inner, d_conv).t().contiguous()  # (K, Di)
        conv_b = None if self.conv1d.bias is None else self.conv1d.bias.contiguous()
        A_t = (-torch.exp(self.A_log.float())).t().contiguous()  # (N, Di)
        dt_bias = self.dt_proj.bias.float().contiguous()
        d_skip = self.D.float().contiguous()
        in_w_t, xp_w_t = self.in_proj.weight.t(), self.x_proj.weight.t()
        dt_w_t = self.dt_proj.weight.t().contiguous()  # (R, Di), applied inside the kernel
        out_w_t = self.out_proj.weight.t()
        if out is None:
            out = hidden_states.new_empty(bsz, length, self.d_model)
        elif out.shape != hidden_states.shape or not out.is_contiguous() or (
            out.dtype != torch.float32
        ):
            raise ValueError(f"out must be a contiguous float32 {tuple(hidden_states.shape)} "
                             f"tensor, got {tuple(out.shape)} {out.dtype}")
        n_dbl = dt_rank + 2 * d_state
        conv_states, ssm_states = [], []
        for b in range(bsz):
            n = length if lengths is None else int(lengths[b])
            if state is None:
                history = hidden_states.new_zeros(d_conv, d_inner)  # last K inputs, scan order
                h = hidden_states.new_zeros(d_state, d_inner)  # state-major for the kernel
            else:
                history = state.conv_state[b].t().to(hidden_states.dtype)
                h = state.ssm_state[b].t().contiguous()
            for c0 in range(0, n, FUSED_CHUNK):
                c1 = min(n, c0 + FUSED_CHUNK)
                rows = c1 - c0
                lo, hi = (n - c1, n - c0) if reverse else (c0, c1)
                xz = scratch("mamba_xz", (rows, 2 * d_inner))
                u = scratch("mamba_u", (rows, d_inner))
                x_dbl = scratch("mamba_x_dbl", (rows, n_dbl))
                y = scratch("mamba_y", (rows, d_inner))
                x_rows = hidden_states[b, lo:hi]
                if self.in_proj.bias is None:
                    torch.mm(x_rows, in_w_t, out=xz)
                else:
                    torch.addmm(self.in_proj.bias, x_rows, in_w_t, out=xz)
                x_in = xz[:, :d_inner]
                cpu_kernel.conv_silu(x_in, history[1:], conv_w, conv_b, reverse, out=u)
                torch.mm(u, xp_w_t, out=x_dbl)  # (C, R + 2N): [dt_low | B | C]
                cpu_kernel.scan_fused(u, x_dbl, dt_w_t, dt_bias, A_t, d_skip,
                                      xz[:, d_inner:], h, reverse, out=y)
                target = out[b, lo:hi]
                torch.mm(y, out_w_t, out=target)
                if self.out_proj.bias is not None:
                    target.add_(self.out_proj.bias)
                # the last d_conv inputs in scan order (the first rows, for a backward scan)
                tail = x_in[:d_conv].flip(0) if reverse else x_in[-d_conv:]
                history = torch.cat([history, tail])[-d_conv:]
            if n < length:
                out[b, n:] = 0  # padding frames
            conv_states.append(history.t())
            ssm_states.append(h.t())
        if state is None:
            return out, None
        return out, MambaState(torch.stack(conv_states).contiguous(),
                               torch.stack(ssm_states).contiguous())

    def step(
        self, hidden_states: torch.Tensor, state: MambaState
    ) -> Tuple[torch.Tensor, MambaState]:
        """One recurrent step.

        Args:
            hidden_states (Tensor): One frame (B, 1, d_model).
            state (MambaState): State after the previous frame (not modified).

        Returns:
            Tensor: Output frame (B, 1, d_model).
            MambaState: State after this frame.
        """
        if hidden_states.dim() != 3 or hidden_states.shape[1] != 1:
            raise ValueError(
                f"step expects one frame (batch, 1, d_model), got {tuple(hidden_states.shape)}"
            )
        if hidden_states.shape[2] != self.d_model:
            raise ValueError(
                f"step expects (batch, 1, d_model={self.d_model}), "
                f"got {tuple(hidden_states.shape)}"
            )
        if not torch.is_floating_point(hidden_states):
            raise ValueError(f"Mamba expects a floating point input, got {hidden_states.dtype}")
        self._check_state(state, hidden_states.shape[0])
        xz = self.in_proj(hidden_states.squeeze(1))  # (B, 2*d_inner)
        x, z = xz.chunk(2, dim=-1)
        conv_state = torch.cat([state.conv_state[:, :, 1:], x.unsqueeze(-1)], dim=-1)
        x = (conv_state * self.conv1d.weight.squeeze(1)).sum(-1)
        if self.conv1d.bias is not None:
            x = x + self.conv1d.bias
        x = F.silu(x)
        x_db = self.x_proj(x)
        dt, B, C = torch.split(x_db, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(F.linear(dt, self.dt_proj.weight) + self.dt_proj.bias).float()
        A = -torch.exp(self.A_log.float())
        d_a = torch.exp(dt.unsqueeze(-1) * A)  # (B, d_inner, d_state)
        d_bx = (dt * x.float()).unsqueeze(-1) * B.float().unsqueeze(1)
        ssm_state = state.ssm_state * d_a + d_bx
        y = torch.einsum("bdn,bn->bd", ssm_state, C.float()) + self.D.float() * x.float()
        y = (y * F.silu(z.float())).to(hidden_states.dtype)
        return self.out_proj(y).unsqueeze(1), MambaState(conv_state, ssm_state)


def export_both_directions(fwd: Mamba, bwd: Mamba, x: torch.Tensor):
    """``(fwd(x), bwd(x, reverse=True))`` of whole unpadded sequences as ONNX export traces
    them: both directions' scans as one scan over a doubled batch (each exported op then
    works on twice the data, and there are half as many), the state matrices per batch row.

    Args:
        x (Tensor): (B, L, d_model).

    Returns:
        Tensor: Forward output (B, L, d_model). Tensor: Backward output (B, L, d_model).
    """
    bsz = x.shape[0]
    xf, zf, dtf, Bf, Cf = fwd.export_scan_inputs(x)
    xb, zb, dtb, Bb, Cb = bwd.export_scan_inputs(x.flip(1))
    A = torch.cat([fwd.export_A().expand(bsz, -1, -1), bwd.export_A().expand(bsz, -1, -1)])
    y = selective_scan_onnx(*(torch.cat(p) for p in ((xf, xb), (dtf, dtb))), A,
                            *(torch.cat(p) for p in ((Bf, Bb), (Cf, Cb))))
    yf, yb = y[:bsz], y[bsz:]
    return (fwd.export_output(yf, xf, zf, x.dtype),
            bwd.export_output(yb, xb, zb, x.dtype).flip(1))

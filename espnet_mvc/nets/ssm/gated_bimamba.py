"""Gated Bi-Mamba block with AdaLN style conditioning: the unit every MVC stack is built of.

    u   = AdaLN(x, s)
    h_f = Mamba_f(u)                       forward in time
    h_b = rev(Mamba_b(rev(u)))             rev reverses each sequence within its own length
    g   = sigmoid(W [h_f; h_b])
    y   = x + g * h_f + (1 - g) * h_b      padding frames set to zero

``fusion="concat"`` replaces the gate by ``y = x + W [h_f; h_b]`` (the paper's concat-only
ablation); AdaLN is replaced by a plain LayerNorm when the block has no ``style_dim``.

Streaming (:meth:`GatedBiMambaBlock.forward_chunk`): the forward direction carries its
state across chunks; the backward direction is recomputed over ``chunk + look-ahead`` from a
zero state at the window's end.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from espnet_mvc.nets.ssm.adaln import AdaLN
from espnet_mvc.nets.masks import valid_mask
from espnet_mvc.nets.ssm.bidirectional import check_lengths
from espnet_mvc.nets.ssm.mamba import Mamba, MambaState, export_both_directions, scratch

FUSIONS = ("gated", "concat")


class GatedBiMambaBlock(nn.Module):
    """One bidirectional Mamba block.

    Args:
        d_model (int): Width D.
        style_dim (Optional[int]): Style size S for AdaLN (None: plain LayerNorm).
        fusion (str): "gated" (paper) or "concat" (ablation).
        d_state, d_conv, expand: Mamba sizes.
        dropout (float): Dropout on the fused update.
    """

    def __init__(
        self,
        d_model: int,
        style_dim: Optional[int] = None,
        fusion: str = "gated",
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.fusion = fusion
        self.d_model = d_model
        self.norm = AdaLN(d_model, style_dim)
        self.mamba_fwd = Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand)
        self.mamba_bwd = Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand)
        # "gated": W -> gate logits; "concat": W -> the update itself
        self.fuse = nn.Linear(2 * d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(
                f"expected (batch, time, dim={self.d_model}), got {tuple(x.shape)}"
            )
        if not torch.is_floating_point(x):
            raise ValueError(f"expected a floating point input, got {x.dtype}")

    def _merge(self, x, h_f, h_b):
        if not torch.is_grad_enabled():
            return self._merge_inplace(x, h_f, h_b)
        if self.fusion == "gated":
            g = torch.sigmoid(self.fuse(torch.cat([h_f, h_b], dim=-1)))
            update = g * h_f + (1 - g) * h_b
        else:
            update = self.fuse(torch.cat([h_f, h_b], dim=-1))
        return x + self.dropout(update)

    def _merge_inplace(self, x, h_f, h_b):
        """:meth:`_merge` without autograd, reusing ``h_f`` / ``h_b`` (which it consumes):
        no ``[h_f; h_b]`` concatenation and no temporaries beyond the gate, which keeps the
        frame-level stacks' peak memory down."""
        d = self.d_model
        w = self.fuse.weight
        flat_f, flat_b = h_f.reshape(-1, d), h_b.reshape(-1, d)
        # the gate's pre-activation is a temporary (reused buffer); concat returns it
        gate_buf = scratch("bimamba_gate", flat_f.shape) if self.fusion == "gated" else None
        pre = torch.addmm(self.fuse.bias, flat_f, w[:, :d].t(), out=gate_buf)
        pre.addmm_(flat_b, w[:, d:].t())  # = fuse([h_f; h_b])
        if self.fusion == "gated":
            update = flat_f.sub_(flat_b).mul_(pre.sigmoid_()).add_(flat_b)  # g h_f + (1-g) h_b
        else:
            update = pre
        return self.dropout(update.view_as(x)).add_(x)

    def forward(
        self,
        x: torch.Tensor,
        lengths: Optional[torch.Tensor] = None,
        style: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Offline (whole-sequence) forward.

        Args:
            x (Tensor): Padded input (B, T, D).
            lengths (Optional[Tensor]): Valid lengths (B,); None means all T.
            style (Optional[Tensor]): Style vectors (B, S).

        Returns:
            Tensor: (B, T, D), zero on padding.
        """
        self._check_input(x)
        lengths = check_lengths(x, lengths)
        mask = valid_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        inference = not torch.is_grad_enabled()  # then: fewer full-length temporaries
        u = self.norm(x, style)
        u = u.mul_(mask) if inference else u * mask
        if torch.onnx.is_in_onnx_export():  # whole sequences: both scans as one
            h_f, h_b = export_both_directions(self.mamba_fwd, self.mamba_bwd, u)
        else:
            h_f = self.mamba_fwd(u, lengths=lengths)
            # at inference h_b, consumed by the merge, goes to a reused buffer
            h_b_buf = (
                scratch("bimamba_h_b", u.shape)
                if inference and self.mamba_bwd.can_fuse(u) else None
            )
            h_b = self.mamba_bwd(u, lengths=lengths, reverse=True, out=h_b_buf)
        del u
        out = self._merge(x, h_f, h_b)
        return out.mul_(mask) if inference else out * mask

    def forward_chunk(
        self,
        x: torch.Tensor,
        commit: int,
        state: Optional[MambaState] = None,
        style: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, MambaState]:
        """Streaming forward over a window ``chunk + look-ahead`` of one stream.

        Args:
            x (Tensor): Window (B, W, D); its first ``commit`` frames are the new chunk.
            commit (int): Frames that are final after this call (1 <= commit <= W).
            state (Optional[MambaState]): Forward-direction state after the previous
                chunk (None at the start of the stream).
            style (Optional[Tensor]): Style vectors (B, S).

        Returns:
            Tensor: Output for the whole window (B, W, D) (look-ahead frames provisional).
            MambaState: Forward state after the committed frames.
        """
        self._check_input(x)
        width = x.shape[1]
        if not 1 <= commit <= width:
            raise ValueError(f"commit must be in [1, {width}], got {commit}")
        if state is None:
            state = self.mamba_fwd.allocate_state(x.shape[0], device=x.device, dtype=x.dtype)
        u = self.norm(x, style)
        h_committed, new_state = self.mamba_fwd(u[:, :commit], state)
        if commit < width:
            h_ahead, _ = self.mamba_fwd(u[:, commit:], new_state)
            h_f = torch.cat([h_committed, h_ahead], dim=1)
        else:
            h_f = h_committed
        h_b = self.mamba_bwd(u, reverse=True)
        return self._merge(x, h_f, h_b), new_state


class BiMambaStack(nn.Module):
    """A stack of gated Bi-Mamba blocks sharing a style vector.

    Args:
        d_model (int): Width D.
        num_blocks (int): Depth.
        style_dim (Optional[int]): Style size S (None: no AdaLN).
        fusion (str): "gated" or "concat".
        d_state, d_conv, expand, dropout: Block settings.
    """

    def __init__(
        self,
        d_model: int,
        num_blocks: int,
        style_dim: Optional[int] = None,
        fusion: str = "gated",
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.blocks = nn.ModuleList(
            GatedBiMambaBlock(d_model, style_dim, fusion, d_state, d_conv, expand, dropout)
            for _ in range(num_blocks)
        )

    def forward(self, x, lengths=None, style=None) -> torch.Tensor:
        """(B, T, D) -> (B, T, D); see :meth:`GatedBiMambaBlock.forward`."""
        for block in self.blocks:
            x = block(x, lengths, style)
        return x

    def forward_chunk(
        self,
        x: torch.Tensor,
        commit: int,
        states: Optional[Sequence[Optional[MambaState]]] = None,
        style: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, List[MambaState]]:
        """Streaming forward of a window through every block (see the block's method).

        Returns:
            Tensor: (B, W, D).
            List[MambaState]: One forward state per block.
        """
        states = list(states) if states is not None else [None] * len(self.blocks)
        new_states = []
        for block, st in zip(self.blocks, states):
            x, st = block.forward_chunk(x, commit, st, style)
            new_states.append(st)
        return x, new_states


@dataclass(frozen=True)
class BiMambaStackConfig:
    """Every setting of a :class:`BiMambaStack` but its width: the one Bi-Mamba stack config.

    MVC's text encoder, duration and prosody predictors and reference encoder each take one
    (``stack=``); configs keep their flat keys (``text_encoder_conf: {num_blocks: 4}``,
    top-level ``d_state``), which :meth:`split` sorts out of a component's keywords.

    Attributes:
        num_blocks (int): Depth.
        style_dim (Optional[int]): Style size S for AdaLN (None: plain LayerNorm).
        fusion (str): "gated" (paper) or "concat" (ablation).
        d_state, d_conv, expand (int): Mamba sizes.
        dropout (float): Dropout on every block's fused update.
    """

    num_blocks: int = 6
    style_dim: Optional[int] = None
    fusion: str = "gated"
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dropout: float = 0.1

    def build(self, d_model: int) -> BiMambaStack:
        """The stack of width ``d_model``."""
        return BiMambaStack(d_model, self.num_blocks, self.style_dim, self.fusion,
                            self.d_state, self.d_conv, self.expand, self.dropout)

    @classmethod
    def split(cls, conf: Mapping[str, Any], base: Optional["BiMambaStackConfig"] = None
              ) -> Tuple["BiMambaStackConfig", Dict[str, Any]]:
        """A component's flat keywords as (its stack config from ``base``, the rest)."""
        names = {f.name for f in dataclasses.fields(cls)}
        stack = {k: v for k, v in conf.items() if k in names}
        rest = {k: v for k, v in conf.items() if k not in names}
        return dataclasses.replace(cls() if base is None else base, **stack), rest

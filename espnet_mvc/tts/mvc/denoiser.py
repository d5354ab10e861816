"""Conv + Bi-Mamba 1-D U-Net: the flow-matching decoder's vector-field estimator.

Matcha-TTS's U-Net with its transformer blocks replaced by gated Bi-Mamba blocks (no
attention of any kind). One down/up level; Bi-Mamba blocks after every resnet block and in
the middle. The diffusion time and the style enter every resnet block (FiLM) and every
Bi-Mamba block (AdaLN). Padding is zeroed at every stage, so a padded batch gives each
item the output it would get alone.
"""

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_mvc.nets.ssm import GatedBiMambaBlock
from espnet_mvc.tts.mvc.streaming_cache import WHOLE_SEQUENCE, StreamingConvCache, WholeSequence


def sinusoidal_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """(B,) in [0, 1] -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = scale * t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class ChannelNorm(nn.Module):
    """LayerNorm over channels of (B, C, T): per frame, so padding never leaks in."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ResnetBlock1d(nn.Module):
    """conv-norm-SiLU x2 with FiLM from the conditioning vector, and a residual."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(in_ch, out_ch, kernel_size, padding=pad)
        self.norm1 = ChannelNorm(out_ch)
        self.film = nn.Linear(cond_dim, 2 * out_ch)
        self.conv2 = nn.Conv1d(out_ch, out_ch, kernel_size, padding=pad)
        self.norm2 = ChannelNorm(out_ch)
        self.skip = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        cond: torch.Tensor,
        runner: WholeSequence = WHOLE_SEQUENCE,
        key: str = "",
        commit: Optional[int] = None,
    ) -> torch.Tensor:
        """(B, in_ch, T) -> (B, out_ch, T); ``runner``, ``key`` and ``commit`` stream it
        (see :mod:`espnet_mvc.tts.mvc.streaming_cache`)."""
        h = F.silu(self.norm1(runner.conv1d(self.conv1, x * mask, key + ".conv1", commit)))
        scale, shift = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        h = h * (1 + scale) + shift
        h = F.silu(self.norm2(runner.conv1d(self.conv2, h * mask, key + ".conv2", commit)))
        return (h + self.skip(x)) * mask  # 1x1 skip: no context to carry


class BiMambaUNet1d(nn.Module):
    """Vector-field estimator v(x_t, t | mu, style).

    Args:
        n_feats (int): Mel bins.
        channels (int): U-Net width (the inner level has the same width).
        cond_dim (int): Size of the time(+style) conditioning vector.
        style_dim (Optional[int]): Style size S (None: unconditional on style).
        mid_blocks (int): Bi-Mamba blocks at the inner (half-rate) level.
        d_state, d_conv, expand: Mamba sizes.
    """

    def __init__(
        self,
        n_feats: int,
        channels: int = 256,
        cond_dim: int = 256,
        style_dim: Optional[int] = None,
        mid_blocks: int = 2,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
    ):
        super().__init__()
        self.cond_dim = cond_dim
        self.time_mlp = nn.Sequential(
            nn.Linear(cond_dim, cond_dim * 2), nn.SiLU(), nn.Linear(cond_dim * 2, cond_dim)
        )
        self.style_proj = nn.Linear(style_dim, cond_dim) if style_dim else None

        def bimamba():
            return GatedBiMambaBlock(channels, cond_dim, "gated", d_state, d_conv, expand)

        self.down_res = ResnetBlock1d(2 * n_feats, channels, cond_dim)
        self.down_ssm = bimamba()
        self.downsample = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.mid_res = ResnetBlock1d(channels, channels, cond_dim)
        self.mid_ssm = nn.ModuleList(bimamba() for _ in range(mid_blocks))
        self.upsample = nn.ConvTranspose1d(channels, channels, 4, stride=2, padding=1)
        self.up_res = ResnetBlock1d(2 * channels, channels, cond_dim)
        self.up_ssm = bimamba()
        self.final = nn.Sequential(
            nn.Conv1d(channels, channels, 3, padding=1), ChannelNorm(channels), nn.SiLU()
        )
        self.out = nn.Conv1d(channels, n_feats, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        style: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Estimate the flow.

        Args:
            x (Tensor): Noisy mel x_t (B, n_feats, T).
            mask (Tensor): (B, 1, T) float, 1 on valid frames.
            mu (Tensor): Prior mean / condition (B, n_feats, T).
            t (Tensor): Diffusion time (B,) in [0, 1].
            style (Optional[Tensor]): (B, S).

        Returns:
            Tensor: Vector field (B, n_feats, T).
        """
        lengths = mask.sum(dim=(1, 2)).long()
        return self._estimate(x, mask, mu, t, style, WHOLE_SEQUENCE, lengths, None)

    # ------------------------------------------------------------------ streaming
    def forward_chunk(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        commit: Optional[int] = None,
        cache: Optional[Dict[str, object]] = None,
    ) -> Tuple[torch.Tensor, Dict[str, object]]:
        """Streaming :meth:`forward` over a window ``[s, s + W)`` of one stream.

        The window's first ``commit`` frames become final; the next call's window starts
        at ``s + commit``. ``cache`` (None at the start of the stream) carries what the
        earlier frames leave behind (:class:`StreamingConvCache`): each Bi-Mamba block's
        forward :class:`MambaState` (after the committed frames) and the left-context input
        frames of every k=3 conv, of the stride-2 downsample and of the transposed-conv
        upsample. The backward scans are recomputed over the window from a zero state at
        its end, and every conv pads the window's right end with zeros, exactly as the
        offline :meth:`forward` does at the end of the sequence: a window that reaches the
        end of the utterance gives the offline result (up to float rounding) for all its
        frames.

        Args:
            x (Tensor): Noisy mel x_t over the window (B, n_feats, W).
            mask (Tensor): (B, 1, W), all ones (one unpadded stream per batch item).
            mu (Tensor): Condition over the window (B, n_feats, W).
            t (Tensor): Diffusion time (B,).
            style (Optional[Tensor]): (B, S).
            commit (Optional[int]): Frames made final by this call (default: W). Must be
                even, except in the stream's last call (window starts stay even so that
                the half-rate level stays aligned).
            cache (Optional[dict]): Returned by the previous call of this stream, or None.

        Returns:
            Tensor: Vector field over the window (B, n_feats, W); frames past ``commit``
                are provisional.
            dict: Cache for the next window.
        """
        width = x.shape[-1]
        commit = width if commit is None else int(commit)
        if not 1 <= commit <= width:
            raise ValueError(f"commit must be in [1, {width}], got {commit}")
        if cache is not None and cache.get("_closed"):
            raise ValueError(
                "this stream already committed an odd number of frames (its last chunk)"
            )
        runner = StreamingConvCache(cache)
        v = self._estimate(x, mask, mu, t, style, runner, None, commit)
        runner.next["_closed"] = commit % 2 == 1
        return v, runner.next

    def _estimate(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        style: Optional[torch.Tensor],
        runner: WholeSequence,
        lengths: Optional[torch.Tensor],
        commit: Optional[int],
    ) -> torch.Tensor:
        """The U-Net, offline (``lengths``) or over a streamed window (``commit``)."""
        width = x.shape[-1]
        cond = self.time_mlp(sinusoidal_embedding(t, self.cond_dim))
        if self.style_proj is not None and style is not None:
            cond = cond + self.style_proj(style)

        def ssm(block, h, key, lengths, commit):
            return runner.bimamba(block, h.transpose(1, 2), key, commit, lengths,
                                  cond).transpose(1, 2)

        h = self.down_res(torch.cat([x, mu], dim=1), mask, cond, runner, "down_res", commit)
        h = ssm(self.down_ssm, h, "down_ssm", lengths, commit)
        skip = h
        # inner level at half rate
        mask_half = mask[:, :, ::2]
        lengths_half = None if lengths is None else (lengths + 1) // 2
        commit_half = None if commit is None else (commit + 1) // 2
        h = runner.conv1d(self.downsample, h * mask, "downsample", commit) * mask_half
        h = self.mid_res(h, mask_half, cond, runner, "mid_res", commit_half)
        for i, block in enumerate(self.mid_ssm):
            h = ssm(block, h, f"mid_ssm.{i}", lengths_half, commit_half)
        h = runner.conv_transpose1d(self.upsample, h, "upsample", commit_half, width) * mask
        h = self.up_res(torch.cat([h, skip], dim=1), mask, cond, runner, "up_res", commit)
        h = ssm(self.up_ssm, h, "up_ssm", lengths, commit)
        conv, norm, act = self.final
        h = act(norm(runner.conv1d(conv, h * mask, "final", commit)))
        return self.out(h * mask) * mask

"""Expressive Mamba: frame-level F0 and energy prediction, embedded back into the condition.

    p = BiMambaStack(h_frames, style)                    (B, T_feats, D)
    f0_hat, energy_hat = heads(p)                        (B, T_feats, 1) each
    c = p + Embed_f0(f0) + Embed_energy(energy)          f0/energy: targets in training,
                                                         predictions at inference
Targets are ESPnet's ``dio`` / ``energy`` features at frame level
(``use_token_averaged_f0: false``), normalised by ``global_mvn``.
"""

from typing import Optional, Tuple

import torch
import torch.nn as nn

from espnet_mvc.nets.ssm import BiMambaStack


class ExpressiveMambaProsodyPredictor(nn.Module):
    """Frame-level prosody stack.

    Args:
        adim (int): Width D.
        style_dim (Optional[int]): Style size for AdaLN.
        num_blocks (int): Gated Bi-Mamba blocks.
        fusion, d_state, d_conv, expand, dropout: Block settings.
        embed_kernel_size (int): Kernel of the conv that embeds F0/energy back.
        detach_input (bool): Stop prosody-loss gradients into the upstream stacks through
            the predictor input (the condition path itself stays trainable end to end).
    """

    def __init__(
        self,
        adim: int,
        style_dim: Optional[int] = None,
        num_blocks: int = 6,
        fusion: str = "gated",
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dropout: float = 0.1,
        embed_kernel_size: int = 9,
    ):
        super().__init__()
        self.blocks = BiMambaStack(
            adim, num_blocks, style_dim, fusion, d_state, d_conv, expand, dropout
        )
        self.f0_head = nn.Linear(adim, 1)
        self.energy_head = nn.Linear(adim, 1)
        pad = (embed_kernel_size - 1) // 2
        self.f0_embed = nn.Conv1d(1, adim, embed_kernel_size, padding=pad)
        self.energy_embed = nn.Conv1d(1, adim, embed_kernel_size, padding=pad)

    def embed(self, f0: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """(B, T, 1) x 2 -> (B, T, D)."""
        return (
            self.f0_embed(f0.transpose(1, 2)) + self.energy_embed(energy.transpose(1, 2))
        ).transpose(1, 2)

    def forward(
        self,
        h: torch.Tensor,
        feats_lengths: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        f0: Optional[torch.Tensor] = None,
        energy: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predict prosody and build the fused condition.

        Args:
            h (Tensor): Frame-level encoding (B, T_feats, D).
            feats_lengths (LongTensor): (B,).
            style (Optional[Tensor]): (B, S).
            f0 (Optional[Tensor]): Target F0 (B, T_feats, 1) (teacher forcing).
            energy (Optional[Tensor]): Target energy (B, T_feats, 1) (teacher forcing).

        Returns:
            Tensor: Condition c (B, T_feats, D), zero on padding.
            Tensor: Predicted F0 (B, T_feats, 1).
            Tensor: Predicted energy (B, T_feats, 1).
        """
        mask = (
            torch.arange(h.shape[1], device=h.device)[None] < feats_lengths[:, None]
        ).unsqueeze(-1).to(h.dtype)
        p = self.blocks(h, feats_lengths, style)
        f0_hat = self.f0_head(p) * mask
        energy_hat = self.energy_head(p) * mask
        f0_in = f0_hat if f0 is None else f0
        energy_in = energy_hat if energy is None else energy
        c = (p + self.embed(f0_in * mask, energy_in * mask)) * mask
        return c, f0_hat, energy_hat

"""Adaptive LayerNorm: ``(1 + gamma(s)) * LayerNorm(x) + beta(s)``."""

from typing import Optional

import torch
import torch.nn as nn


class AdaLN(nn.Module):
    """LayerNorm whose scale and shift are predicted from a style vector.

    The projection starts at zero, so an untrained AdaLN is a plain LayerNorm and the style
    path is learned from there. Without ``style_dim`` it is a LayerNorm with its own affine
    parameters (the ablation's "no AdaLN").

    Args:
        d_model (int): Feature size D.
        style_dim (Optional[int]): Style size S, or None for a plain LayerNorm.
    """

    def __init__(self, d_model: int, style_dim: Optional[int] = None, eps: float = 1e-5):
        super().__init__()
        self.style_dim = style_dim
        self.norm = nn.LayerNorm(d_model, eps=eps, elementwise_affine=style_dim is None)
        if style_dim is not None:
            self.to_scale_shift = nn.Linear(style_dim, 2 * d_model)
            nn.init.zeros_(self.to_scale_shift.weight)
            nn.init.zeros_(self.to_scale_shift.bias)

    def forward(self, x: torch.Tensor, style: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Normalise.

        Args:
            x (Tensor): Input (B, T, D).
            style (Optional[Tensor]): Style (B, S); required when ``style_dim`` is set.

        Returns:
            Tensor: (B, T, D).
        """
        h = self.norm(x)
        if self.style_dim is None:
            return h
        if style is None:
            raise ValueError("AdaLN was built with style_dim but got no style vector")
        if style.dim() != 2 or style.shape != (x.shape[0], self.style_dim):
            raise ValueError(
                f"style must be (batch={x.shape[0]}, {self.style_dim}), got {tuple(style.shape)}"
            )
        scale, shift = self.to_scale_shift(style).unsqueeze(1).chunk(2, dim=-1)
        if not torch.is_grad_enabled():  # inference: no temporaries of the size of x
            return h.mul_(1 + scale).add_(shift)
        return h * (1 + scale) + shift

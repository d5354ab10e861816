"""Temporal Bi-Mamba duration predictor (log-domain, FastSpeech-style targets)."""

from typing import Optional

import torch
import torch.nn as nn

from espnet_mvc.nets.masks import valid_mask
from espnet_mvc.nets.ssm import BiMambaStackConfig


class TemporalBiMambaDurationPredictor(nn.Module):
    """Predicts ``log(d + offset)`` per token from the text encoding and the style.

    Args:
        adim (int): Input width D.
        stack (BiMambaStackConfig): The gated Bi-Mamba blocks (depth, AdaLN style size,
            fusion, Mamba sizes, dropout).
        offset (float): Offset in the log domain (avoids log(0)).
        detach_input (bool): Stop duration gradients into the text encoder (StyleTTS2 does
            this so that rhythm errors do not distort the phoneme representation).
    """

    def __init__(
        self,
        adim: int,
        stack: BiMambaStackConfig = BiMambaStackConfig(),
        offset: float = 1.0,
        detach_input: bool = True,
    ):
        super().__init__()
        self.offset = offset
        self.detach_input = detach_input
        self.blocks = stack.build(adim)
        self.proj = nn.Linear(adim, 1)

    def forward(
        self,
        hs: torch.Tensor,
        text_lengths: torch.Tensor,
        style: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Log-duration prediction.

        Args:
            hs (Tensor): Text encoding (B, T_text, D).
            text_lengths (LongTensor): (B,).
            style (Optional[Tensor]): (B, S).

        Returns:
            Tensor: Predicted log(d + offset) (B, T_text), zero on padding.
        """
        if self.detach_input:
            hs = hs.detach()
        mask = valid_mask(text_lengths, hs.shape[1])
        return self.proj(self.blocks(hs, text_lengths, style)).squeeze(-1) * mask

    def to_durations(self, log_d: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Integer frame counts (>= 1 per token) from log-durations.

        Args:
            log_d (Tensor): (B, T_text).
            alpha (float): Speaking-rate factor: > 1 slower, < 1 faster.

        Returns:
            LongTensor: (B, T_text).
        """
        d = (torch.exp(log_d) - self.offset).clamp(min=0.0) * alpha
        return torch.round(d).long().clamp(min=1)

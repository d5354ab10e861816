"""Bi-Mamba text encoder: phoneme embedding + gated Bi-Mamba blocks with AdaLN on style."""

from typing import Optional

import torch
import torch.nn as nn

from espnet_mvc.nets.ssm import BiMambaStackConfig


class BiMambaTextEncoder(nn.Module):
    """Phoneme ids -> hidden sequence, no attention.

    Args:
        idim (int): Vocabulary size.
        adim (int): Hidden width D.
        stack (BiMambaStackConfig): The gated Bi-Mamba blocks (depth, AdaLN style size,
            fusion, Mamba sizes); its dropout is also applied after the embedding.
        padding_idx (int): Embedding index of padding (ESPnet pads text with 0 = <blank>).
    """

    def __init__(
        self,
        idim: int,
        adim: int,
        stack: BiMambaStackConfig = BiMambaStackConfig(),
        padding_idx: int = 0,
    ):
        super().__init__()
        self.embed = nn.Embedding(idim, adim, padding_idx=padding_idx)
        nn.init.normal_(self.embed.weight, 0.0, adim**-0.5)
        with torch.no_grad():
            self.embed.weight[padding_idx].zero_()
        self.dropout = nn.Dropout(stack.dropout)
        self.blocks = stack.build(adim)

    def forward(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        style: Optional[torch.Tensor] = None,
        style_bias: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Encode.

        Args:
            text (LongTensor): Text index tensor (B, T_text).
            text_lengths (LongTensor): (B,).
            style (Optional[Tensor]): Style (B, S) for AdaLN.
            style_bias (Optional[Tensor]): (B, D) added to every frame (no-AdaLN ablation).

        Returns:
            Tensor: Hidden sequence (B, T_text, D), zero on padding.
        """
        x = self.embed(text)
        if style_bias is not None:
            x = x + style_bias.unsqueeze(1)
        return self.blocks(self.dropout(x), text_lengths, style)

"""Training-only aligner: ESPnet's JETS alignment module, Viterbi (MAS) and its losses.

Reused, not rewritten: ``espnet2.gan_tts.jets.alignments.AlignmentModule`` (convolutional,
no attention), ``viterbi_decode`` (monotonic alignment search, returns durations and the
binarisation loss) and ``ForwardSumLoss``. It is only called in training; inference uses
the duration predictor.
"""

from typing import Tuple

import torch
import torch.nn as nn
from espnet2.gan_tts.jets.alignments import AlignmentModule, viterbi_decode
from espnet2.gan_tts.jets.loss import ForwardSumLoss

from espnet_mvc.nets.masks import valid_mask


class JETSAligner(nn.Module):
    """Text-to-mel aligner.

    Args:
        adim (int): Text encoding width.
        odim (int): Mel bins.
    """

    def __init__(self, adim: int, odim: int):
        super().__init__()
        self.alignment_module = AlignmentModule(adim, odim)
        self.forwardsum_loss = ForwardSumLoss()

    def forward(
        self,
        hs: torch.Tensor,
        feats: torch.Tensor,
        text_lengths: torch.Tensor,
        feats_lengths: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Align.

        Args:
            hs (Tensor): Text encoding (B, T_text, adim).
            feats (Tensor): Target mel (B, T_feats, odim).
            text_lengths, feats_lengths (LongTensor): (B,).

        Returns:
            LongTensor: Durations (B, T_text), summing to feats_lengths.
            Tensor: Forward-sum loss (scalar).
            Tensor: Binarisation loss (scalar).
        """
        h_masks = ~valid_mask(text_lengths, hs.shape[1]).to(hs.device)  # ESPnet's: True on padding
        log_p_attn = self.alignment_module(hs, feats, text_lengths, feats_lengths, h_masks)
        ds, bin_loss = viterbi_decode(log_p_attn, text_lengths, feats_lengths)
        fs_loss = self.forwardsum_loss(log_p_attn, text_lengths, feats_lengths)
        return ds.long(), fs_loss, bin_loss

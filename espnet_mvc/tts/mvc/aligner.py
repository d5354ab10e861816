"""Training-only aligner: ESPnet's JETS alignment module, Viterbi (MAS) and its losses.

Reused, not rewritten: ``espnet2.gan_tts.jets.alignments.AlignmentModule`` (convolutional,
no attention), ``viterbi_decode`` (monotonic alignment search, returns durations and the
binarisation loss) and ``ForwardSumLoss``. It is only called in training; inference uses
the duration predictor.

The search itself is ESPnet's numba function, compiled here with ``cache=True``: ESPnet's
``@jit`` compiles it again in every process, 8.5 s on a busy Zen 3 core, before the first
step of every training job (the compiled search then takes about 2 ms per batch of 8). The
cache lives where numba puts it (``__pycache__`` beside ESPnet's module, else numba's
per-user directory; ``NUMBA_CACHE_DIR`` moves it).
"""

from typing import Tuple

import numpy as np
import torch
import torch.nn as nn
from espnet2.gan_tts.jets import alignments as _jets_alignments
from espnet2.gan_tts.jets.alignments import AlignmentModule
from espnet2.gan_tts.jets.loss import ForwardSumLoss

_mas = None


def _monotonic_alignment_search(log_p_attn: np.ndarray) -> np.ndarray:
    """ESPnet's ``_monotonic_alignment_search`` (same Python function), numba-compiled once
    per machine instead of once per process."""
    global _mas
    if _mas is None:
        import numba

        _mas = numba.njit(cache=True)(_jets_alignments._monotonic_alignment_search.py_func)
    return _mas(log_p_attn)


def viterbi_decode(log_p_attn: torch.Tensor, text_lengths: torch.Tensor,
                   feats_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``espnet2.gan_tts.jets.alignments.viterbi_decode`` with the cached search.

    Args:
        log_p_attn (Tensor): Log attention probabilities (B, T_feats, T_text).
        text_lengths, feats_lengths (Tensor): (B,).

    Returns:
        Tensor: Durations (B, T_text) (float, as ESPnet's).
        Tensor: Binarisation loss (scalar).
    """
    bsz, t_text = log_p_attn.size(0), log_p_attn.size(2)
    device = log_p_attn.device
    bin_loss = 0
    ds = torch.zeros((bsz, t_text), device=device)
    for b in range(bsz):
        cur = log_p_attn[b, : feats_lengths[b], : text_lengths[b]]
        path = _monotonic_alignment_search(cur.detach().cpu().numpy())
        counts = np.bincount(path)
        ds[b, : len(counts)] = torch.from_numpy(counts).to(device)
        bin_loss = bin_loss - cur[torch.arange(feats_lengths[b]), path].mean()
    return ds, bin_loss / bsz

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

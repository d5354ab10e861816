"""Length regulators: ESPnet's own, selected by name.

``repeat`` repeats each token ``d`` times (FastSpeech); ``gaussian`` is JETS's Gaussian
upsampling, smoother at token boundaries. Both are ESPnet code; this file only gives them
one calling convention. ``gaussian``'s module is imported only by a model that uses it:
importing ``espnet2.gan_tts.jets`` imports JETS's generator and aligner, and with them
scipy.stats and numba (seconds of a model load).
"""

import torch
import torch.nn as nn
from espnet.nets.pytorch_backend.fastspeech.length_regulator import LengthRegulator

from espnet_mvc.nets.masks import valid_mask


class TokenToFrame(nn.Module):
    """Expand token-level features to frames.

    Args:
        kind (str): "repeat" or "gaussian".
        delta (float): Gaussian upsampling temperature.
    """

    KINDS = ("repeat", "gaussian")

    def __init__(self, kind: str = "repeat", delta: float = 0.1):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"length_regulator must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        if kind == "repeat":
            self.impl = LengthRegulator()
        else:
            from espnet2.gan_tts.jets.length_regulator import GaussianUpsampling

            self.impl = GaussianUpsampling(delta)

    def forward(
        self, hs: torch.Tensor, ds: torch.Tensor, text_lengths: torch.Tensor
    ) -> torch.Tensor:
        """Upsample.

        Args:
            hs (Tensor): Token features (B, T_text, D).
            ds (LongTensor): Frames per token (B, T_text), zero on padding.
            text_lengths (LongTensor): (B,).

        Returns:
            Tensor: Frame features (B, sum(ds) max, D).
        """
        if self.kind == "repeat":
            return self.impl(hs, ds)
        feats_lengths = ds.sum(dim=1)
        h_masks = valid_mask(feats_lengths, int(feats_lengths.max())).to(hs.device)
        d_masks = valid_mask(text_lengths, hs.shape[1]).to(hs.device)
        return self.impl(hs, ds.float(), h_masks, d_masks)

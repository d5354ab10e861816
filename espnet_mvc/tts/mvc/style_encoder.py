"""Reference style encoder for zero-shot cloning: conv + Mamba + masked mean pooling."""

from typing import Optional

import torch
import torch.nn as nn

from espnet_mvc.nets.masks import valid_mask
from espnet_mvc.nets.ssm import BiMambaStackConfig


class MambaReferenceEncoder(nn.Module):
    """Reference mel -> style vector.

    Args:
        odim (int): Mel bins of the reference.
        style_dim (int): Output size S.
        channels (int): Conv / Mamba width.
        conv_layers (int): Conv layers (kernel 5, stride 1; receptive field 4*layers+1).
        stack (BiMambaStackConfig): The Bi-Mamba blocks after the convs (default
            :data:`DEFAULT_STACK`: two gated blocks without AdaLN, nothing to condition on).
        min_frames (int): Shortest reference accepted; at least the receptive field.
        band_bins (int, optional): Look only at the lowest ``band_bins`` mel bins; the
            others are set to 0 (their mean after ``global_mvn``), in training and at
            inference alike. Most recordings of people are 16 kHz, with nothing above
            8 kHz: a reference encoder that reads the top band takes that silence for a
            voice (measured on the first shipped model: 8 kHz-limited references of its
            own voices cut the clone's similarity from 0.81 to 0.64).
    """

    #: Two gated blocks, no AdaLN, no dropout (what a config's ``style_encoder_conf`` and the
    #: shared Mamba sizes are applied to).
    DEFAULT_STACK = BiMambaStackConfig(num_blocks=2, dropout=0.0)

    def __init__(
        self,
        odim: int,
        style_dim: int = 128,
        channels: int = 256,
        conv_layers: int = 3,
        stack: Optional[BiMambaStackConfig] = None,
        min_frames: int = 32,
        band_bins: Optional[int] = None,
    ):
        super().__init__()
        if band_bins is not None and not 0 < band_bins <= odim:
            raise ValueError(f"band_bins must be in 1..{odim}, got {band_bins}")
        self.band_bins = band_bins
        layers = []
        in_ch = odim
        for _ in range(conv_layers):
            layers += [nn.Conv1d(in_ch, channels, 5, padding=2), nn.SiLU()]
            in_ch = channels
        self.convs = nn.Sequential(*layers)
        self.receptive_field = 4 * conv_layers + 1
        self.min_frames = max(min_frames, self.receptive_field)
        self.blocks = (self.DEFAULT_STACK if stack is None else stack).build(channels)
        self.proj = nn.Linear(channels, style_dim)
        self.odim = odim

    def forward(
        self, feats: torch.Tensor, feats_lengths: torch.Tensor, validate: bool = True
    ) -> torch.Tensor:
        """Encode.

        Args:
            feats (Tensor): Reference mel (B, T_ref, odim) (normalised like the targets).
            feats_lengths (LongTensor): (B,).
            validate (bool): Reject too-short and silent references (inference); training
                crops are prepared by the model and skip these checks.

        Returns:
            Tensor: Style (B, S).

        Raises:
            ValueError: wrong feature size, non-finite values, a reference shorter than
                ``min_frames``, or a constant (silent) reference.
        """
        if feats.dim() != 3 or feats.shape[-1] != self.odim:
            raise ValueError(
                f"reference features must be (batch, frames, {self.odim}), "
                f"got {tuple(feats.shape)}"
            )
        if not torch.isfinite(feats).all():
            raise ValueError("reference features contain NaN or Inf (corrupt audio?)")
        mask = valid_mask(feats_lengths, feats.shape[1]).unsqueeze(-1).to(feats.dtype)  # (B, T, 1)
        if validate:
            self._validate(feats, feats_lengths, mask)
        # mask after every conv layer: otherwise the bias/activation values that the first
        # conv writes into padding frames leak into the next layer's boundary frames, and a
        # padded batch no longer gives each reference the style it gets alone
        if self.band_bins is not None and self.band_bins < self.odim:
            feats = torch.cat(
                [feats[..., : self.band_bins], feats.new_zeros(*feats.shape[:-1], self.odim - self.band_bins)], -1
            )
        h, mask_ct = (feats * mask).transpose(1, 2), mask.transpose(1, 2)
        for layer in self.convs:
            h = layer(h) * mask_ct
        h = h.transpose(1, 2)
        h = self.blocks(h, feats_lengths)
        pooled = (h * mask).sum(1) / feats_lengths[:, None].to(h.dtype)
        return self.proj(pooled)

    def _validate(self, feats, feats_lengths, mask):
        if bool((feats_lengths < self.min_frames).any()):
            raise ValueError(
                f"reference too short: {feats_lengths.min().item()} frames, the style "
                f"encoder needs at least {self.min_frames} frames"
            )
        # A silent reference has (near) constant frames: nothing to clone.
        mean = (feats * mask).sum(1, keepdim=True) / feats_lengths[:, None, None]
        spread = (((feats - mean) ** 2) * mask).sum((1, 2)) / (feats_lengths * self.odim)
        if bool((spread < 1e-6).any()):
            raise ValueError("reference is silent or constant: no voice to clone")

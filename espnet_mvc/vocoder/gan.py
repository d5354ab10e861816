"""Discriminators and adversarial losses for fine-tuning the vocoder with a GAN on a CPU.

:func:`build_discriminator` combines any of (``--disc`` of the trainer, comma-separated):

* ``msstft``: EnCodec's multi-scale STFT discriminator (complex STFT input, 2-D convs with
  time dilations 1, 2, 4), ESPnet's own ``espnet2.gan_codec.shared.discriminator.
  msstft_discriminator.DiscriminatorSTFT`` at 3 scales (n_fft 2048 / 1024 / 512, hop n_fft/4),
  ``channels`` filters. It sees the phase as well as the magnitude, the two halves where
  the regression-trained vocoder loses DNSMOS (model card), and it is the cheapest of the
  three per step on this machine (see the step-cost table of the model card).
* ``mrd``: UnivNet's / Vocos's multi-resolution discriminator
  (:class:`espnet_mvc.vocoder.train.MultiResolutionDiscriminator`, magnitude or complex).
* ``mpd``: HiFi-GAN's multi-period discriminator, ESPnet's
  ``espnet2.gan_tts.hifigan.HiFiGANMultiPeriodDiscriminator``, narrowed to ``channels``
  channels (up to 16 x ``channels``) with periods 2, 3, 5, 7, 11.

Every discriminator returns a list of ``(logits (B, N), feature maps)``, one per
sub-discriminator, so the losses below work on any combination.
"""

from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

DISCRIMINATORS = ("msstft", "mrd", "mpd")
GAN_LOSSES = ("hinge", "lsgan")
MSSTFT_SCALES: Tuple[int, ...] = (2048, 1024, 512)

Outputs = List[Tuple[torch.Tensor, List[torch.Tensor]]]


class CompressedSpectrogram(nn.Module):
    """A complex STFT whose magnitudes are raised to ``power`` (phases kept):
    ``|z| ** power * exp(i angle z)``. Replaces the plain STFT that ESPnet's
    ``DiscriminatorSTFT`` computes (its ``spec_transform``), with the same framing."""

    def __init__(self, spectrogram: nn.Module, power: float):
        super().__init__()
        self.spectrogram = spectrogram
        self.power = float(power)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.spectrogram(x)
        mag = torch.sqrt(z.real**2 + z.imag**2 + 1e-10)
        return z * (mag ** (self.power - 1.0))


class MultiScaleSTFTDiscriminator(nn.Module):
    """EnCodec's MS-STFT discriminator from ESPnet (``DiscriminatorSTFT`` per scale).

    Args:
        channels (int): Filters of every conv (EnCodec: 32).
        n_ffts: FFT size of each scale; hop n_fft / 4, window n_fft.
        compress (float): Power of the magnitudes it sees (1: EnCodec's plain complex STFT;
            0.3: compressed, as speech enhancement's complex losses use, so that the noise
            between harmonics and in quiet frames is not drowned by the harmonic peaks).
    """

    def __init__(self, channels: int = 32, n_ffts: Sequence[int] = MSSTFT_SCALES,
                 compress: float = 1.0):
        super().__init__()
        from espnet2.gan_codec.shared.discriminator.msstft_discriminator import (
            DiscriminatorSTFT,
        )

        self.discriminators = nn.ModuleList(
            DiscriminatorSTFT(filters=channels, n_fft=n, hop_length=n // 4, win_length=n)
            for n in n_ffts
        )
        if compress != 1.0:
            for d in self.discriminators:
                d.spec_transform = CompressedSpectrogram(d.spec_transform, compress)

    def forward(self, wav: torch.Tensor) -> Outputs:
        """(logits, feature maps) of each scale for a waveform (B, L)."""
        x = wav.unsqueeze(1)
        out = []
        for d in self.discriminators:
            logits, fmaps = d(x)
            out.append((logits.flatten(1), fmaps))
        return out


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN's MPD from ESPnet, ``channels`` wide (HiFi-GAN: 32, up to 1024).

    Args:
        channels (int): Channels of the first conv; they grow x4 per layer, capped at
            16 x ``channels``.
        periods: The periods.
    """

    def __init__(self, channels: int = 16, periods: Sequence[int] = (2, 3, 5, 7, 11)):
        super().__init__()
        from espnet2.gan_tts.hifigan import HiFiGANMultiPeriodDiscriminator

        params = dict(
            in_channels=1, out_channels=1, kernel_sizes=[5, 3], channels=channels,
            downsample_scales=[3, 3, 3, 3, 1], max_downsample_channels=16 * channels,
            bias=True, nonlinear_activation="LeakyReLU",
            nonlinear_activation_params={"negative_slope": 0.1},
            use_weight_norm=True, use_spectral_norm=False,
        )
        self.mpd = HiFiGANMultiPeriodDiscriminator(
            periods=list(periods), discriminator_params=params
        )

    def forward(self, wav: torch.Tensor) -> Outputs:
        """(logits, feature maps) of each period for a waveform (B, L)."""
        return [(outs[-1].flatten(1), list(outs[:-1])) for outs in self.mpd(wav.unsqueeze(1))]


class CombinedDiscriminator(nn.Module):
    """Several discriminators; their outputs concatenated."""

    def __init__(self, discriminators: Sequence[nn.Module]):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)

    def forward(self, wav: torch.Tensor) -> Outputs:
        """(logits, feature maps) of every sub-discriminator for a waveform (B, L)."""
        return [o for d in self.discriminators for o in d(wav)]


def build_discriminator(kinds: str, channels: int = 32, spectrum: str = "complex",
                        compress: float = 1.0) -> nn.Module:
    """The discriminators named in ``kinds`` (comma-separated :data:`DISCRIMINATORS`).

    Args:
        kinds (str): e.g. ``msstft`` or ``msstft,mpd``.
        channels (int): Width of each (``mpd``: of its first layer, half of this).
        spectrum (str): ``mrd``'s input, ``magnitude`` or ``complex``.
        compress (float): ``msstft``'s magnitude power (see
            :class:`MultiScaleSTFTDiscriminator`).
    """
    from espnet_mvc.vocoder.train import MultiResolutionDiscriminator

    names = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = [k for k in names if k not in DISCRIMINATORS]
    if not names or unknown:
        raise ValueError(f"--disc {kinds!r}: expected a comma-separated list of "
                         f"{', '.join(DISCRIMINATORS)}")
    built = []
    for k in names:
        if k == "msstft":
            built.append(MultiScaleSTFTDiscriminator(channels, compress=compress))
        elif k == "mrd":
            built.append(MultiResolutionDiscriminator(channels=channels, spectrum=spectrum))
        else:
            built.append(MultiPeriodDiscriminator(max(1, channels // 2)))
    return built[0] if len(built) == 1 else CombinedDiscriminator(built)


def discriminator_loss(real_out: Outputs, fake_out: Outputs, kind: str = "hinge") -> torch.Tensor:
    """Discriminator loss, summed over sub-discriminators (``hinge`` or ``lsgan``)."""
    if kind == "lsgan":
        return sum(((1 - r) ** 2).mean() + (f**2).mean()
                   for (r, _), (f, _) in zip(real_out, fake_out))
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean()
               for (r, _), (f, _) in zip(real_out, fake_out))


def generator_adv_loss(fake_out: Outputs, kind: str = "hinge") -> torch.Tensor:
    """Generator's adversarial loss, summed over sub-discriminators."""
    if kind == "lsgan":
        return sum(((1 - f) ** 2).mean() for f, _ in fake_out)
    return sum(F.relu(1 - f).mean() for f, _ in fake_out)


def feature_matching_loss(real_out: Outputs, fake_out: Outputs) -> torch.Tensor:
    """Mean over all layers of all sub-discriminators of the relative L1 between feature
    maps, ``mean |f - r| / mean |r|`` (EnCodec's normalised form: every layer counts alike,
    whatever the scale of its activations; the STFT discriminator's are ~1e-3)."""
    losses = [
        F.l1_loss(f, r.detach()) / (r.detach().abs().mean() + 1e-8)
        for (_, real_maps), (_, fake_maps) in zip(real_out, fake_out)
        for r, f in zip(real_maps, fake_maps)
    ]
    return sum(losses) / len(losses)

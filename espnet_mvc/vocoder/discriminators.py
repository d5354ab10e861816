"""Discriminators for fine-tuning the vocoder with a GAN on a CPU.

:func:`build_discriminator` combines any of (``--disc`` of the trainer, comma-separated):

* ``msstft``: EnCodec's multi-scale STFT discriminator (complex STFT input, 2-D convs with
  time dilations 1, 2, 4), ESPnet's own ``espnet2.gan_codec.shared.discriminator.
  msstft_discriminator.DiscriminatorSTFT`` at 3 scales (n_fft 2048 / 1024 / 512, hop n_fft/4),
  ``channels`` filters. It sees the phase as well as the magnitude, the two halves where
  the regression-trained vocoder loses DNSMOS (model card), and it is the cheapest of the
  three per step on this machine (see the step-cost table of the model card).
* ``mrd``: UnivNet's / Vocos's multi-resolution discriminator
  (:class:`MultiResolutionDiscriminator`, magnitude or complex spectrograms).
* ``mpd``: HiFi-GAN's multi-period discriminator, ESPnet's
  ``espnet2.gan_tts.hifigan.HiFiGANMultiPeriodDiscriminator``, narrowed to ``channels``
  channels (up to 16 x ``channels``) with periods 2, 3, 5, 7, 11.

Every discriminator returns a list of ``(logits (B, N), feature maps)``, one per
sub-discriminator, so the losses of :mod:`espnet_mvc.vocoder.losses` work on any combination.
"""

from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_mvc.vocoder.losses import (
    STFT_RESOLUTIONS,
    DiscriminatorOutputs,
    complex_stft,
    stft_magnitude,
)

DISCRIMINATORS = ("msstft", "mrd", "mpd")
DISCRIMINATOR_SPECTRA = ("magnitude", "complex")
MSSTFT_SCALES: Tuple[int, ...] = (2048, 1024, 512)


class SpectrogramDiscriminator(nn.Module):
    """UnivNet's resolution discriminator: 2-D convs over one spectrogram.

    Args:
        resolution: (n_fft, hop, win_length).
        channels (int): Conv channels.
        spectrum (str): What it sees: ``magnitude`` (UnivNet's MRD) or ``complex`` (the
            real and imaginary parts as two channels, as DAC's and Vocos's MRD): the phase
            too, where a vocoder trained on magnitude losses alone makes its artifacts.
    """

    def __init__(self, resolution: Tuple[int, int, int], channels: int = 32,
                 spectrum: str = "magnitude"):
        super().__init__()
        from torch.nn.utils.parametrizations import weight_norm

        if spectrum not in DISCRIMINATOR_SPECTRA:
            raise ValueError(f"spectrum must be one of {DISCRIMINATOR_SPECTRA}, got {spectrum!r}")
        self.spectrum = spectrum
        self.n_fft, self.hop, win = resolution
        self.register_buffer("window", torch.hann_window(win), persistent=False)
        # (B, 1 or 2, T, F): kernels 3 frames x 9 bins, strides halve the frequency axis
        in_channels = 2 if spectrum == "complex" else 1
        self.convs = nn.ModuleList(
            [weight_norm(nn.Conv2d(in_channels, channels, (3, 9), padding=(1, 4)))]
            + [
                weight_norm(nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(1, 4)))
                for _ in range(3)
            ]
            + [weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)))]
        )
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wav: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Score a waveform.

        Args:
            wav (Tensor): (B, L).

        Returns:
            Tensor: Logits (B, T' * F').
            list: Feature maps of every layer.
        """
        if self.spectrum == "complex":
            spec = complex_stft(wav, self.n_fft, self.hop, self.window)
            x = torch.view_as_real(spec).permute(0, 3, 2, 1)  # (B, 2, T, F)
        else:
            mag = stft_magnitude(wav, self.n_fft, self.hop, self.window)  # (B, F, T)
            x = mag.transpose(1, 2).unsqueeze(1)  # (B, 1, T, F)
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            fmaps.append(x)
        x = self.post(x)
        fmaps.append(x)
        return x.flatten(1), fmaps


class MultiResolutionDiscriminator(nn.Module):
    """One :class:`SpectrogramDiscriminator` per STFT resolution.

    Args:
        resolutions: (n_fft, hop, win_length) of each STFT.
        channels (int): Conv channels of each discriminator. Its cost grows with the square:
            on one CPU thread a step at batch 8 x 0.4 s takes 6.7 s at 32 and 2.5 s at 16.
        spectrum (str): ``magnitude`` or ``complex`` (see :class:`SpectrogramDiscriminator`).
    """

    def __init__(
        self, resolutions: Sequence[Tuple[int, int, int]] = STFT_RESOLUTIONS, channels: int = 32,
        spectrum: str = "magnitude",
    ):
        super().__init__()
        self.discriminators = nn.ModuleList(
            SpectrogramDiscriminator(r, channels, spectrum) for r in resolutions
        )

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutputs:
        """(logits, feature maps) of each resolution for a waveform (B, L)."""
        return [d(wav) for d in self.discriminators]


class CompressedSpectrogram(nn.Module):
    """A complex STFT whose magnitudes are raised to ``power`` (phases kept):
    ``|z| ** power * exp(i angle z)``. Replaces the plain STFT that ESPnet's
    ``DiscriminatorSTFT`` computes (its ``spec_transform``), with the same framing."""

    def __init__(self, spectrogram: nn.Module, power: float):
        super().__init__()
        self.spectrogram = spectrogram
        self.power = float(power)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compressed spectrogram of ``x`` (B, 1, L): complex, the wrapped STFT's shape."""
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

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutputs:
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

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutputs:
        """(logits, feature maps) of each period for a waveform (B, L)."""
        return [(outs[-1].flatten(1), list(outs[:-1])) for outs in self.mpd(wav.unsqueeze(1))]


class CombinedDiscriminator(nn.Module):
    """Several discriminators; their outputs concatenated."""

    def __init__(self, discriminators: Sequence[nn.Module]):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutputs:
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

    Returns:
        nn.Module: ``wav (B, L) ->`` a list of ``(logits (B, N), feature maps)``.

    Raises:
        ValueError: an empty or unknown name in ``kinds``.
    """
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

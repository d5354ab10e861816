"""Losses of vocoder training: multi-resolution STFT, phase, adversarial and feature matching.

* :class:`MultiResolutionSTFTLoss`: spectral convergence + L1 of log magnitudes, averaged
  over the :data:`STFT_RESOLUTIONS`.
* :class:`PhaseLoss`: APNet's instantaneous-phase, group-delay and instantaneous-frequency
  losses, magnitude-weighted.
* :func:`discriminator_loss`, :func:`generator_adv_loss` (hinge or LSGAN) and
  :func:`feature_matching_loss` over the outputs of any discriminator of
  :mod:`espnet_mvc.vocoder.discriminators`: a list of ``(logits (B, N), feature maps)``, one
  per sub-discriminator.

The mel L1 (the main reconstruction loss) is computed by the trainer on ESPnet's
``LogMelFbank`` features (:func:`espnet_mvc.vocoder.data.compute_mel`).
"""

from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

#: (n_fft, hop, win_length) of each STFT of the STFT loss and of the ``mrd`` discriminator.
STFT_RESOLUTIONS: Tuple[Tuple[int, int, int], ...] = (
    (512, 128, 512),
    (1024, 256, 1024),
    (2048, 512, 2048),
)
GAN_LOSSES = ("hinge", "lsgan")

#: What a discriminator returns: ``(logits (B, N), feature maps)`` per sub-discriminator.
DiscriminatorOutputs = List[Tuple[torch.Tensor, List[torch.Tensor]]]


def complex_stft(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """Complex STFT with the window's length as ``win_length``.

    Args:
        x (Tensor): Waveform (B, L).
        n_fft (int): FFT size.
        hop (int): Hop.
        window (Tensor): Window (win_length,).

    Returns:
        Tensor: Complex spectrogram (B, n_fft // 2 + 1, frames).
    """
    return torch.stft(x, n_fft, hop, window.shape[0], window, return_complex=True)


def stft_magnitude(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """Magnitude of :func:`complex_stft`, (B, n_fft // 2 + 1, frames), at least ~3e-4."""
    spec = complex_stft(x, n_fft, hop, window)
    # sqrt of a floored power: |z| has an infinite gradient at 0
    return torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=1e-7))


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1, averaged over STFT resolutions.

    Args:
        resolutions: (n_fft, hop, win_length) of each STFT (Hann window).
    """

    def __init__(self, resolutions: Sequence[Tuple[int, int, int]] = STFT_RESOLUTIONS):
        super().__init__()
        self.resolutions = [tuple(r) for r in resolutions]
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window{i}", torch.hann_window(win), persistent=False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss.

        Args:
            fake (Tensor): Generated waveform (B, L).
            real (Tensor): Target waveform (B, L).

        Returns:
            Tensor: Spectral convergence loss (scalar).
            Tensor: Log-magnitude L1 loss (scalar).
        """
        sc, mag = 0.0, 0.0
        for i, (n_fft, hop, _) in enumerate(self.resolutions):
            window = getattr(self, f"window{i}")
            m_fake = stft_magnitude(fake, n_fft, hop, window)
            m_real = stft_magnitude(real, n_fft, hop, window)
            sc = sc + torch.linalg.norm(m_real - m_fake) / torch.linalg.norm(m_real)
            mag = mag + F.l1_loss(torch.log(m_fake), torch.log(m_real))
        n = len(self.resolutions)
        return sc / n, mag / n


def _weighted_phase_gap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum(|b| (1 - cos(angle a - angle b))) / sum(|b|) of two complex tensors.

    The phase gap weighted by the target's magnitude: bins where the target has no energy
    (whose phase is noise) count for nothing. ``cos`` is ``Re(a conj(b)) / (|a| |b|)``,
    with ``|a|`` floored at 1e-3 of the target's mean magnitude, so that the gradient stays
    bounded where ``a`` is near 0. 0 when the phases agree, at most 2.

    Args:
        a (Tensor): Complex, any shape (the generated one).
        b (Tensor): Complex, the shape of ``a`` (the target).

    Returns:
        Tensor: The weighted gap (scalar).
    """
    mag_b = b.abs()
    floor = 1e-3 * mag_b.mean().detach() + 1e-12
    cos = (a * b.conj()).real / ((a.abs() + floor) * (mag_b + 1e-12))
    return (mag_b * (1 - cos)).sum() / mag_b.sum().clamp(min=1e-12)


class PhaseLoss(nn.Module):
    """APNet's three phase losses (instantaneous phase, group delay, instantaneous
    frequency), on the generator's own STFT grid, in a magnitude-weighted form.

    APNet (Ai and Ling, 2023) compares the anti-wrapped differences of the phases, their
    frequency differences (group delay) and their time differences (instantaneous
    frequency). Here each comparison is ``1 - cos`` of the gap, weighted by the target's
    magnitude (:func:`_weighted_phase_gap`): a phase gap of 0 or 2 pi costs nothing, as
    with anti-wrapping, and silent bins do not count. A vocoder trained on magnitude losses
    alone leaves its phase free, and smears harmonics and pulses across frames. For group
    delay and instantaneous frequency the compared quantities are ``z[k + 1] conj(z[k])``
    (their angle is the phase difference), weighted by the target's ``|z[k + 1]| |z[k]|``.

    Args:
        n_fft (int): FFT size and Hann window length (the generator's iSTFT ``n_fft``).
        hop (int): Hop (the generator's ``hop_length``).
    """

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Compute the losses.

        Args:
            fake (Tensor): Generated waveform (B, L).
            real (Tensor): Target waveform (B, L).

        Returns:
            dict: ``ip``, ``gd`` and ``iaf`` (scalars).
        """
        # (B, F, T) each
        zf, zr = (complex_stft(x, self.n_fft, self.hop, self.window) for x in (fake, real))
        return dict(
            ip=_weighted_phase_gap(zf, zr),
            gd=_weighted_phase_gap(zf[:, 1:] * zf[:, :-1].conj(), zr[:, 1:] * zr[:, :-1].conj()),
            iaf=_weighted_phase_gap(zf[..., 1:] * zf[..., :-1].conj(),
                                    zr[..., 1:] * zr[..., :-1].conj()),
        )


def discriminator_loss(real_out: DiscriminatorOutputs, fake_out: DiscriminatorOutputs,
                       kind: str = "hinge") -> torch.Tensor:
    """Discriminator loss, summed over sub-discriminators.

    Args:
        real_out: Discriminator outputs for real waveforms.
        fake_out: Discriminator outputs for generated waveforms (same layout).
        kind (str): ``hinge`` or ``lsgan`` (:data:`GAN_LOSSES`).

    Returns:
        Tensor: The loss (scalar).
    """
    if kind == "lsgan":
        return sum(((1 - r) ** 2).mean() + (f**2).mean()
                   for (r, _), (f, _) in zip(real_out, fake_out))
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean()
               for (r, _), (f, _) in zip(real_out, fake_out))


def generator_adv_loss(fake_out: DiscriminatorOutputs, kind: str = "hinge") -> torch.Tensor:
    """Generator's adversarial loss, summed over sub-discriminators.

    Args:
        fake_out: Discriminator outputs for generated waveforms.
        kind (str): ``hinge`` or ``lsgan`` (:data:`GAN_LOSSES`).

    Returns:
        Tensor: The loss (scalar).
    """
    if kind == "lsgan":
        return sum(((1 - f) ** 2).mean() for f, _ in fake_out)
    return sum(F.relu(1 - f).mean() for f, _ in fake_out)


def feature_matching_loss(real_out: DiscriminatorOutputs,
                          fake_out: DiscriminatorOutputs) -> torch.Tensor:
    """Mean over all layers of all sub-discriminators of the relative L1 between feature
    maps, ``mean |f - r| / mean |r|``.

    EnCodec's normalised form: every layer counts alike, whatever the scale of its
    activations (the STFT discriminator's are ~1e-3).

    Args:
        real_out: Discriminator outputs for real waveforms (detached here).
        fake_out: Discriminator outputs for generated waveforms (same layout).

    Returns:
        Tensor: The loss (scalar).
    """
    losses = [
        F.l1_loss(f, r.detach()) / (r.detach().abs().mean() + 1e-8)
        for (_, real_maps), (_, fake_maps) in zip(real_out, fake_out)
        for r, f in zip(real_maps, fake_maps)
    ]
    return sum(losses) / len(losses)

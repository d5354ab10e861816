"""Vocos-style vocoder: a ConvNeXt backbone over mel frames and an iSTFT head.

Vocos (Siuzdak, 2023) predicts, per mel frame, one STFT frame (log-magnitude and phase)
and turns it into audio with an inverse STFT, so every layer runs at the frame rate
(``hop_length`` times fewer steps than a HiFi-GAN upsampler): the cheapest neural vocoder
on a CPU for its quality.

Alignment: the inverse STFT is ``torch.istft(center=True)``, so output frame ``k`` is
centred on sample ``k * hop_length``, the framing ESPnet's ``LogMelFbank`` (``center=True``)
uses for its input features. ``T`` mel frames give exactly ``T * hop_length`` samples.
"""

import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block over frames: depthwise conv, LayerNorm, MLP, layer scale, residual.

    Args:
        dim (int): Channels.
        intermediate_dim (int): MLP width.
        kernel_size (int): Depthwise conv kernel (odd; "same" zero padding).
        layer_scale (float): Initial per-channel scale of the residual branch.
    """

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x (Tensor): (B, dim, T).

        Returns:
            Tensor: (B, dim, T).
        """
        h = self.dwconv(x).transpose(1, 2)  # (B, T, dim)
        h = self.pwconv2(F.gelu(self.pwconv1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class VocosGenerator(nn.Module):
    """Log-mel (B, n_mels, T) -> waveform (B, T * hop_length).

    Args:
        n_mels (int): Mel bins of the input.
        hop_length (int): Samples per mel frame (the feature extractor's hop).
        n_fft (int): FFT size (and Hann window length) of the output iSTFT; at least
            ``2 * hop_length`` (Vocos uses ``4 * hop_length``).
        dim (int): Backbone channels.
        intermediate_dim (int): ConvNeXt MLP width.
        num_layers (int): ConvNeXt blocks.
        kernel_size (int): Kernel of the input conv and of the depthwise convs (odd).
    """

    def __init__(
        self,
        n_mels: int = 80,
        hop_length: int = 300,
        n_fft: int = 1200,
        dim: int = 256,
        intermediate_dim: int = 768,
        num_layers: int = 6,
        kernel_size: int = 7,
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if n_fft < 2 * hop_length:
            # torch.istft(center=True) yields n_fft/2 + (T-1)*hop samples: at least T*hop
            # only if n_fft >= 2*hop (and a Hann window needs that overlap to invert)
            raise ValueError(f"n_fft ({n_fft}) must be at least 2 * hop_length ({hop_length})")
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.n_fft = n_fft
        self.embed = nn.Conv1d(n_mels, dim, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(dim, intermediate_dim, kernel_size, 1.0 / num_layers)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, n_fft + 2)  # (n_fft/2 + 1) log-magnitudes + phases
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        # A full-scale sine has a Hann-STFT peak of n_fft/4: a log-magnitude above
        # log(n_fft) is never needed, and capping it keeps early training from overflowing.
        self.max_log_mag = math.log(n_fft)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def spectrum(self, mel: torch.Tensor) -> torch.Tensor:
        """The STFT frames the generator predicts, before the inverse STFT.

        Args:
            mel (Tensor): Log-mel (B, n_mels, T), as ESPnet's ``LogMelFbank`` computes it
                (log10 of mel amplitude), transposed.

        Returns:
            Tensor: Complex STFT (B, n_fft/2 + 1, T) on this generator's Hann window and hop.
        """
        return torch.complex(*self.spectrum_parts(mel))

    def spectrum_parts(self, mel: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`spectrum` as its real and imaginary parts, each (B, n_fft/2 + 1, T), float32
        (what ONNX export takes: it has no complex tensors)."""
        if mel.dim() != 3 or mel.shape[1] != self.n_mels:
            raise ValueError(f"mel must be (batch, {self.n_mels}, frames), got {tuple(mel.shape)}")
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)  # (B, n_fft+2, T)
        log_mag, phase = x.float().chunk(2, dim=1)
        mag = torch.exp(log_mag.clamp(max=self.max_log_mag))
        return mag * torch.cos(phase), mag * torch.sin(phase)

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """Complex STFT frames (B, n_fft/2 + 1, T) -> waveform (B, T * hop_length)."""
        return torch.istft(
            spec,
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window.float(),
            center=True,
            length=spec.shape[2] * self.hop_length,
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Synthesize a batch.

        Args:
            mel (Tensor): Log-mel (B, n_mels, T), as ESPnet's ``LogMelFbank`` computes it
                (log10 of mel amplitude), transposed.

        Returns:
            Tensor: Waveform (B, T * hop_length).
        """
        return self.istft(self.spectrum(mel)).to(mel.dtype)

    @torch.no_grad()
    def inference(self, mel: torch.Tensor) -> torch.Tensor:
        """Synthesize one utterance (ESPnet's vocoder interface).

        Args:
            mel (Tensor): Log-mel (T, n_mels), e.g. ``Text2Speech``'s ``feat_gen_denorm``.

        Returns:
            Tensor: Waveform (T * hop_length,).
        """
        if mel.dim() != 2 or mel.shape[1] != self.n_mels:
            raise ValueError(f"mel must be (frames, {self.n_mels}), got {tuple(mel.shape)}")
        return self(mel.transpose(0, 1).unsqueeze(0)).squeeze(0)


def num_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


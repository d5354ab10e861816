"""Baseline builders for the encoder and RTF benchmarks, plus the measuring helpers they share.

Three conditioning stacks are compared by ``espnet_mvc.benchmarks.encoder``, each exposed
as an ``nn.Module`` whose ``forward(text, durations, style)`` runs the *inference*
conditioning path of its system for one utterance, with the durations forced (the duration
predictor still runs; its output is discarded) so that every model processes the same number
of frames:

* :class:`MVCConditioning` -- this project's MVC (Bi-Mamba text encoder, Temporal Bi-Mamba
  durations, repeat length regulator, Expressive Mamba prosody, ``mu`` projection), built
  from ``conf/mvc_base.yaml`` by :func:`build_mvc`.
* :class:`~espnet_mvc.benchmarks.styletts2_baseline.StyleTTS2Conditioning` -- a
  re-implementation of StyleTTS2's inference conditioning path, in its own module
  (:mod:`espnet_mvc.benchmarks.styletts2_baseline`).
* :func:`build_fastspeech2_conditioning` -- ESPnet's own ``FastSpeech2`` (transformer
  encoder, duration / pitch / energy predictors, length regulator), decoder and postnet
  not run.

The RTF benchmark's builders (:func:`build_hifigan`, :func:`build_vits`,
:func:`build_jets`) take ESPnet's classes at their LJSpeech recipe sizes.
"""

from __future__ import annotations

import copy
import gc
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

# package data (``conf/`` in a checkout is a link to it), so that it is there when installed
MVC_BASE_CONF = Path(__file__).resolve().parents[1] / "conf" / "mvc_base.yaml"


# ============================================================================ measuring
def read_status_kib(key: str) -> Optional[int]:
    """A ``VmXXX`` field of /proc/self/status in KiB (None where unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux ``clear_refs`` 5) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Peak resident-set growth over a block of code, in MiB.

    Linux: the high-water mark (``VmHWM``) is reset to the current RSS on entry
    (``/proc/self/clear_refs``) and read on exit, so ``delta_mib = VmHWM - VmRSS(entry)``
    is the largest extra resident memory at any instant inside the block -- including
    everything PyTorch's CPU allocator (plain malloc/mmap, invisible to ``tracemalloc``)
    requested. Elsewhere: ``getrusage`` ``ru_maxrss`` (a lifetime maximum, so only the
    growth of the lifetime peak is seen; exact when the block is the process's peak, as in
    a fresh child process).
    """

    def __enter__(self):
        gc.collect()
        self.method = "VmHWM-reset" if reset_peak_rss() else "ru_maxrss"
        self.rss0 = read_status_kib("VmRSS") if self.method == "VmHWM-reset" else _maxrss_kib()
        return self

    def __exit__(self, *exc):
        if self.method == "VmHWM-reset":
            peak = read_status_kib("VmHWM")
        else:
            peak = _maxrss_kib()
        self.peak_kib = peak
        self.delta_mib = max(0, peak - self.rss0) / 1024.0
        return False


def _maxrss_kib() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def retain_freed_memory() -> bool:
    """Make glibc malloc keep freed memory for reuse instead of returning it to the OS.

    By default every tensor over glibc's mmap threshold (at most 32 MiB) is a fresh
    ``mmap`` whose pages fault in (and are zeroed) on first touch and are unmapped on free,
    so a forward over long sequences spends a growing share of its time in the kernel
    (minor page faults). ``M_MMAP_MAX = 0`` and a huge ``M_TRIM_THRESHOLD`` keep the
    memory in the heap, as jemalloc / tcmalloc (PyTorch's CPU tuning advice) would. Applies
    to this process from now on; returns False where glibc's ``mallopt`` is unavailable.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        ok = libc.mallopt(m_mmap_max, 0) == 1
        ok &= libc.mallopt(m_trim_threshold, 2**31 - 1) == 1
        return bool(ok)
    except (OSError, AttributeError):
        return False


def time_call(fn: Callable[[], Any]) -> Tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def median(xs: List[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def param_mib(module: nn.Module) -> float:
    return sum(p.numel() * p.element_size() for p in module.parameters()) / 2**20


def set_threads(n: Optional[int] = None) -> int:
    """``torch.set_num_threads(min(2, cpus))`` unless ``n`` is given; returns the count."""
    if n is None:
        n = min(2, os.cpu_count() or 1)
    torch.set_num_threads(n)
    return n


def forced_durations(t_text: int, frames_per_token: int) -> torch.Tensor:
    """(1, T_text) long durations, all equal to ``frames_per_token``."""
    return torch.full((1, t_text), int(frames_per_token), dtype=torch.long)


def random_text(t_text: int, vocab: int, seed: int = 0) -> torch.Tensor:
    """(1, T_text) token ids in [2, vocab) (0 = blank/pad, 1 = unk in ESPnet token lists)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(2, vocab, (1, t_text), generator=g)


# ============================================================================ MVC
def load_mvc_conf(path: Path = MVC_BASE_CONF) -> Dict[str, Any]:
    import yaml

    with open(path) as f:
        return yaml.safe_load(f)["tts_conf"]


def tiny_mvc_conf() -> Dict[str, Any]:
    """A few-thousand-parameter MVC for tests (same structure as the base config)."""
    conf = load_mvc_conf()
    conf = copy.deepcopy(conf)
    conf.update(adim=32, style_dim=16, dropout=0.0)
    for k in ("text_encoder_conf", "duration_predictor_conf", "prosody_predictor_conf"):
        conf[k] = dict(num_blocks=1)
    conf["style_encoder_conf"] = dict(channels=32, conv_layers=1, num_blocks=1, min_frames=8)
    conf["decoder_conf"] = dict(
        n_timesteps=2, solver="euler", denoiser_conf=dict(channels=32, cond_dim=32, mid_blocks=1)
    )
    return conf


def build_mvc(idim: int = 100, odim: int = 80, tiny: bool = False, conf=None) -> nn.Module:
    """The full MVC text2mel (eval mode) from ``conf/mvc_base.yaml`` (or the tiny variant)."""
    from espnet_mvc.tts.mvc.mvc import MVC

    if conf is None:
        conf = tiny_mvc_conf() if tiny else load_mvc_conf()
    return MVC(idim, odim, **conf).eval()


class MVCConditioning(nn.Module):
    """MVC's inference conditioning path (``MVC.inference`` up to the decoder input).

    text -> Bi-Mamba text encoder (AdaLN on style) -> Temporal Bi-Mamba durations
    (computed, then replaced by the forced durations) -> repeat length regulator ->
    Expressive Mamba F0 / energy + fused condition -> ``mu``: the model's own stages
    (:meth:`MVC.encode_text`, :meth:`MVC.predict_durations`, :meth:`MVC.expand_to_frames`,
    :meth:`MVC.decoder_condition`), as :meth:`MVC.inference` runs them.
    """

    def __init__(self, mvc: nn.Module):
        super().__init__()
        self.mvc = mvc
        self.vocab = mvc.idim
        self.style_dim = mvc.style_dim

    def forward(self, text, durations, style):
        m = self.mvc
        text_lengths = torch.tensor([text.shape[1]])
        hs = m.encode_text(text, text_lengths, style)
        m.predict_durations(hs, text_lengths, style)  # predicted, then forced (below)
        h = m.expand_to_frames(hs, durations, text_lengths)
        return m.decoder_condition(h, durations.sum(1), style)

    def core(self) -> nn.Module:
        return self.mvc.conditioning_encoder()


# ============================================================================ FastSpeech2
# ESPnet egs2/ljspeech/tts1 FastSpeech2 recipe settings, at the brief's adim 256 / 4 heads /
# 6 encoder layers (FFN 4 x adim, conv1d position-wise FFN with kernel 3, variance
# predictors with 256 channels, pitch predictor 5 layers of kernel 5, 1x1 embeddings).
FASTSPEECH2_CONF = dict(
    adim=256, aheads=4, elayers=6, eunits=1024, dlayers=1, dunits=1024, postnet_layers=0,
    positionwise_layer_type="conv1d", positionwise_conv_kernel_size=3,
    use_scaled_pos_enc=True, encoder_normalize_before=True, encoder_type="transformer",
    decoder_type="transformer",
    duration_predictor_layers=2, duration_predictor_chans=256,
    duration_predictor_kernel_size=3,
    energy_predictor_layers=2, energy_predictor_chans=256, energy_predictor_kernel_size=3,
    energy_embed_kernel_size=1,
    pitch_predictor_layers=5, pitch_predictor_chans=256, pitch_predictor_kernel_size=5,
    pitch_embed_kernel_size=1,
    spk_embed_dim=128, spk_embed_integration_type="add",
)

FASTSPEECH2_TINY = dict(
    FASTSPEECH2_CONF, adim=32, aheads=2, elayers=1, eunits=64, dunits=64,
    duration_predictor_chans=32, energy_predictor_chans=32, pitch_predictor_chans=32,
    pitch_predictor_layers=1, spk_embed_dim=16,
)


class FastSpeech2Conditioning(nn.Module):
    """ESPnet ``FastSpeech2._forward(..., is_inference=True)`` up to the decoder input:
    transformer encoder, style vector added through ``spembs`` ("add" integration, the
    analogue of MVC's style), token-level pitch / energy predictors + embeddings, duration
    predictor (computed, then replaced by the forced durations), length regulator."""

    def __init__(self, fs2: nn.Module):
        super().__init__()
        self.fs2 = fs2
        self.vocab = fs2.idim
        self.style_dim = fs2.spk_embed_dim

    def forward(self, text, durations, style):
        from espnet.nets.pytorch_backend.nets_utils import make_pad_mask

        m = self.fs2
        ilens = torch.tensor([text.shape[1]])
        x_masks = m._source_mask(ilens)
        hs, _ = m.encoder(text, x_masks)
        hs = m._integrate_with_spk_embed(hs, style)
        d_masks = make_pad_mask(ilens)
        p_outs = m.pitch_predictor(hs, d_masks.unsqueeze(-1))
        e_outs = m.energy_predictor(hs, d_masks.unsqueeze(-1))
        _ = m.duration_predictor.inference(hs, d_masks)  # predicted, then forced
        p_embs = m.pitch_embed(p_outs.transpose(1, 2)).transpose(1, 2)
        e_embs = m.energy_embed(e_outs.transpose(1, 2)).transpose(1, 2)
        hs = hs + e_embs + p_embs
        return m.length_regulator(hs, durations), p_outs, e_outs

    def core(self) -> nn.Module:
        m = self.fs2
        return nn.ModuleList([m.encoder, m.duration_predictor, m.pitch_predictor,
                              m.pitch_embed, m.energy_predictor, m.energy_embed])


def build_fastspeech2_conditioning(idim: int = 100, tiny: bool = False) -> nn.Module:
    from espnet2.tts.fastspeech2 import FastSpeech2

    conf = FASTSPEECH2_TINY if tiny else FASTSPEECH2_CONF
    return FastSpeech2Conditioning(FastSpeech2(idim, 80, **conf).eval()).eval()


# ============================================================================ RTF models
# ESPnet's HiFi-GAN V1 (egs2/ljspeech/tts1 HiFi-GAN / the JETS and VITS decoders).
HIFIGAN_V1 = dict(
    in_channels=80, out_channels=1, channels=512, kernel_size=7,
    upsample_scales=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
    resblock_kernel_sizes=[3, 7, 11], resblock_dilations=[[1, 3, 5]] * 3,
    use_additional_convs=True, bias=True, nonlinear_activation="LeakyReLU",
    nonlinear_activation_params={"negative_slope": 0.1}, use_weight_norm=True,
)
HIFIGAN_TINY = dict(HIFIGAN_V1, channels=16, resblock_kernel_sizes=[3],
                    resblock_dilations=[[1]])


def build_hifigan(tiny: bool = False, in_channels: int = 80) -> nn.Module:
    from espnet2.gan_tts.hifigan import HiFiGANGenerator

    conf = dict(HIFIGAN_TINY if tiny else HIFIGAN_V1, in_channels=in_channels)
    return HiFiGANGenerator(**conf).eval()


def _tiny_gan_common() -> Dict[str, Any]:
    return dict(
        decoder_channels=16, decoder_resblock_kernel_sizes=[3],
        decoder_resblock_dilations=[[1]],
    )


def _default_generator_params(cls) -> Dict[str, Any]:
    import inspect

    return copy.deepcopy(inspect.signature(cls.__init__).parameters["generator_params"].default)


def build_vits(idim: int = 100, tiny: bool = False) -> nn.Module:
    """ESPnet ``VITS`` with its default (= LJSpeech recipe) generator; linear-spectrogram
    aux channels 513 (n_fft 1024). Eval mode."""
    from espnet2.gan_tts.vits import VITS

    if not tiny:
        return VITS(idim, 513, sampling_rate=22050).eval()
    params = _default_generator_params(VITS)
    params.update(
        hidden_channels=16, text_encoder_attention_heads=2, text_encoder_blocks=1,
        posterior_encoder_layers=1, flow_flows=1, flow_layers=1,
        stochastic_duration_predictor_flows=1, stochastic_duration_predictor_dds_conv_layers=1,
        **_tiny_gan_common(),
    )
    return VITS(idim, 513, sampling_rate=22050, generator_params=params).eval()


def build_jets(idim: int = 100, tiny: bool = False) -> nn.Module:
    """ESPnet ``JETS`` with its default (= LJSpeech recipe) generator, 80 mel aux channels."""
    from espnet2.gan_tts.jets import JETS

    if not tiny:
        return JETS(idim, 80, sampling_rate=22050).eval()
    params = _default_generator_params(JETS)
    params.update(
        adim=16, aheads=2, elayers=1, eunits=32, dlayers=1, dunits=32,
        duration_predictor_chans=16, energy_predictor_chans=16, pitch_predictor_chans=16,
        pitch_predictor_layers=1, generator_channels=16, generator_resblock_kernel_sizes=[3],
        generator_resblock_dilations=[[1]],
    )
    return JETS(idim, 80, sampling_rate=22050, generator_params=params).eval()

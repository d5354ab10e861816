"""Train a Vocos-style vocoder on Kaldi-style data dirs, on CPU, within a CPU-time budget.

    python -m espnet_mvc.bin.train_vocoder --train-dir data/tr_no_dev --valid-dir data/dev \\
        --outdir exp/vocoder --fs 24000 --n-fft 1024 --hop-length 300 --win-length 1024 \\
        --n-mels 80 --fmin 0 --fmax 12000 --max-cpu-seconds 36000

Features: the generator is fed exactly what a TTS model trained with ESPnet's ``fbank``
front-end produces: features are computed by ``espnet2.tts.feats_extract.log_mel_fbank.
LogMelFbank(fs, n_fft, win_length, hop_length, n_mels, fmin, fmax)`` itself (the feature
options must be the TTS config's ``feats_extract_conf``), so at synthesis time
``Text2Speech`` can hand the vocoder its denormalized log-mel (``feat_gen_denorm``).

Data: ``wav.scp`` (``utt_id path`` lines) of each dir; all audio is read into memory once
and its features computed once per utterance. With ``--input-mels-dir`` the generator's
training inputs are read from ``<dir>/<utt>.npy`` instead: frame-aligned mels of an
acoustic model, which it then learns to turn into the recordings. A training example is
``--segment-frames`` consecutive frames ``[a, a + F)`` of an utterance with the samples
``[a * hop, (a + F) * hop)``: ``LogMelFbank`` frames are centred (``center=True``: frame
``k`` on sample ``k * hop``), and so are the generator's iSTFT frames, so the generator's
``F * hop`` output samples line up with exactly these samples. Segment start positions are
drawn uniformly over the corpus.

Losses (weights are options; defaults):

* mel: L1 between the ``LogMelFbank`` features (log10 mel amplitude) of the real and the
  generated segment, floored at ``--mel-floor`` (-5: amplitude 1e-5, HiFi-GAN's floor);
  weight ``--lambda-mel`` 45, as ESPnet's HiFi-GAN recipes weight their log10 mel L1.
* multi-resolution STFT: spectral convergence + L1 of log magnitudes, averaged over the
  resolutions (n_fft, hop, win) (512, 128, 512), (1024, 256, 1024), (2048, 512, 2048);
  weight ``--lambda-stft`` 1 (mel 45 : STFT 1, as in HiFi-GAN's 45 : adversarial ~1).
* phase (``--lambda-phase``, default 0: off): APNet's instantaneous-phase, group-delay and
  instantaneous-frequency losses on the generator's own STFT grid, magnitude-weighted
  (:class:`PhaseLoss`); a generator trained on magnitudes alone leaves its phase free.
* from ``--gan-start-step`` (default: never): adversarial losses against ``--disc``
  (:mod:`espnet_mvc.vocoder.gan`: ``msstft``, EnCodec's multi-scale complex-STFT
  discriminator from ESPnet; ``mrd``, UnivNet's multi-resolution one over magnitude or, with
  ``--disc-spectrum complex``, complex spectrograms; ``mpd``, HiFi-GAN's multi-period one;
  comma-separated to combine), ``--disc-channels`` wide, hinge or LSGAN (``--gan-loss``)
  weighted ``--lambda-adv`` 1, plus relative feature matching (``--lambda-fm`` 2). The
  discriminator has its own learning rate (``--lr-d``), and its first
  ``--disc-warmup-steps`` steps train it alone against the frozen generator.

Fine-tuning: ``--init-from vocoder.pth`` starts a new run from a trained generator (same
generator and features); ``--warmup-steps`` ramps the generator's lr up from its first
update. ``--extra-train-dir`` adds a second corpus (e.g. real human speech) that makes up
``--extra-share`` of every batch; ``--resample`` lets either corpus be at another rate.

DNSMOS curve: with ``--dnsmos-dir`` (repeatable; any rate), every ``--dnsmos-every`` steps
(and at the start) the copy synthesis of the first ``--dnsmos-max-utts`` clips of each set
is scored with DNSMOS (:mod:`espnet_mvc.metrics.dnsmos`) and a row ``step, train_cpu_s,
dnsmos, dnsmos_<set>...`` appended to ``dnsmos_curve.tsv``; the generator with the best mean
is kept in ``best/`` (``vocoder.pth`` + ``vocoder.yaml``). ``train_cpu_s`` counts the
training steps' CPU time alone (not loading, saving or scoring); the log gives steps per
CPU second of them.

Optimisation: AdamW (betas 0.8, 0.99), learning rate ``lr * lr_decay ** step`` (times the
optional warm-up; computed from the step, so resuming continues the same schedule),
gradient norm clipping.

Outputs in ``--outdir``, written atomically every ``--save-every-steps`` and at the end:
``checkpoint.pth`` (generator, discriminator, both optimizers, step, CPU seconds used,
RNG states of torch and of each corpus' sampler; training resumes from it automatically and
goes on as an uninterrupted run would), ``vocoder.pth`` (generator state_dict) and ``vocoder.yaml``
(see :mod:`espnet_mvc.vocoder`); ``train.log`` gets the log lines (also on stdout), with
the validation mel-L1 of up to 8 whole ``--valid-dir`` utterances at every save.

Stopping: at ``--max-steps``, after ``--max-cpu-seconds`` of process CPU time (summed over
resumed runs), or on SIGTERM / Ctrl-C (the step in progress is finished and a checkpoint
saved; a second signal stops at once). All loading uses ``torch.load(weights_only=True)``.
"""

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

from espnet_mvc.audio import resample as resample_wav
from espnet_mvc.vocoder import VOCODER_CLASSES, build_generator
from espnet_mvc.vocoder.gan import (  # noqa: F401 (re-exported: the losses lived here)
    GAN_LOSSES,
    build_discriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_adv_loss,
)
from espnet_mvc.vocoder.vocos import num_parameters

STFT_RESOLUTIONS: Tuple[Tuple[int, int, int], ...] = (
    (512, 128, 512),
    (1024, 256, 1024),
    (2048, 512, 2048),
)
DISCRIMINATOR_SPECTRA = ("magnitude", "complex")
CHECKPOINT = "checkpoint.pth"
DNSMOS_CURVE = "dnsmos_curve.tsv"
BEST_DIR = "best"
VOCODER_FILE = "vocoder.pth"
VOCODER_CONFIG = "vocoder.yaml"
LOG_FILE = "train.log"
MAX_VALID_UTTS = 8


def _optional_int(value: str) -> Optional[int]:
    # ESPnet configs write win_length / fmax as null to mean n_fft / fs/2
    return None if value.lower() in ("none", "null") else int(value)


# the options that shape the optimisation, saved in the checkpoint so that a resume with
# other values is reported (the stopping options, --max-steps and the like, are not)
TRAINING_OPTIONS = (
    "train_dir", "input_mels_dir", "batch_size", "segment_frames", "lr", "lr_decay",
    "weight_decay", "grad_clip", "lambda_mel", "lambda_stft", "lambda_phase", "lambda_adv",
    "lambda_fm", "mel_floor", "gan_start_step", "disc_channels", "disc_spectrum", "seed",
    "disc", "lr_d", "gan_loss", "disc_warmup_steps", "extra_train_dir", "extra_share",
    "init_from", "warmup_steps", "disc_compress",
)


def training_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The :data:`TRAINING_OPTIONS` of a run (plain values, for a ``weights_only`` load)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k in TRAINING_OPTIONS
            for v in [getattr(args, k, None)]}


def changed_training_options(saved: Optional[Dict[str, Any]], args: argparse.Namespace
                             ) -> List[str]:
    """``"<option> <saved> -> <now>"`` for each training option that differs from the
    checkpoint's (none for a checkpoint written before they were saved)."""
    if not saved:
        return []
    now = training_options(args)
    return [f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in TRAINING_OPTIONS
            if k in saved and saved[k] != now[k]]


def get_parser() -> argparse.ArgumentParser:
    """Command-line options of the vocoder trainer."""
    p = argparse.ArgumentParser(
        description="Train a Vocos-style vocoder on ESPnet LogMelFbank features.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("data")
    g.add_argument("--train-dir", required=True, help="Kaldi-style data dir with wav.scp")
    g.add_argument("--valid-dir", default=None, help="data dir for validation (optional)")
    g.add_argument("--outdir", required=True)
    g.add_argument(
        "--input-mels-dir", default=None,
        help="train the generator on <dir>/<utt>.npy mels (e.g. an acoustic model's "
             "ground-truth-aligned ones) instead of the recordings' own; the losses still "
             "compare with the recordings",
    )
    g.add_argument(
        "--extra-train-dir", default=None,
        help="a second corpus (e.g. real human speech): --extra-share of every batch is "
             "drawn from it",
    )
    g.add_argument("--extra-share", type=float, default=0.25,
                   help="share of each batch drawn from --extra-train-dir")
    g.add_argument("--max-train-utts", type=int, default=None,
                   help="read only the first N utterances of each training dir")
    g.add_argument(
        "--resample", action="store_true",
        help="resample audio at another rate to --fs (espnet_mvc.audio.resample) instead of "
             "refusing it",
    )
    g.add_argument(
        "--dnsmos-dir", action="append", default=[],
        help="data dir (wav.scp, any rate) of a DNSMOS validation set; repeatable. Every "
             "--dnsmos-every steps the copy synthesis of its first --dnsmos-max-utts clips "
             "is scored and a row appended to <outdir>/dnsmos_curve.tsv; the best generator "
             "by the mean over all sets is kept in <outdir>/best/",
    )
    g.add_argument("--dnsmos-every", type=int, default=250)
    g.add_argument("--dnsmos-max-utts", type=int, default=8)
    g.add_argument(
        "--init-from", default=None,
        help="start a new run from this vocoder.pth (or checkpoint.pth): fine-tuning; its "
             "vocoder.yaml must describe the same generator and features",
    )
    g = p.add_argument_group("features (must equal the TTS config's feats_extract_conf)")
    g.add_argument("--fs", type=int, default=24000)
    g.add_argument("--n-fft", type=int, default=1024)
    g.add_argument("--hop-length", type=int, default=300)
    g.add_argument("--win-length", type=_optional_int, default=1024, help="none: n-fft")
    g.add_argument("--n-mels", type=int, default=80)
    g.add_argument("--fmin", type=_optional_int, default=0)
    g.add_argument("--fmax", type=_optional_int, default=12000, help="none: fs/2")
    g = p.add_argument_group("generator")
    g.add_argument("--vocoder-type", default="vocos", choices=sorted(VOCODER_CLASSES))
    g.add_argument(
        "--istft-n-fft", type=int, default=None, help="iSTFT size (default 4 * hop-length)"
    )
    g.add_argument("--dim", type=int, default=256)
    g.add_argument("--intermediate-dim", type=int, default=768)
    g.add_argument("--num-layers", type=int, default=6)
    g.add_argument("--kernel-size", type=int, default=7)
    g = p.add_argument_group("training")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--segment-frames", type=int, default=48)
    g.add_argument("--lr", type=float, default=5e-4)
    g.add_argument("--lr-decay", type=float, default=0.99998, help="lr factor per step")
    g.add_argument("--warmup-steps", type=int, default=0,
                   help="the generator's lr rises linearly over the first N steps (a "
                        "fine-tune's fresh Adam state makes its first steps large)")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--grad-clip", type=float, default=100.0, help="max gradient norm")
    g.add_argument("--lambda-mel", type=float, default=45.0)
    g.add_argument("--lambda-stft", type=float, default=1.0)
    g.add_argument(
        "--lambda-phase", type=float, default=0.0,
        help="weight of each of the three phase losses (PhaseLoss; 0: off)",
    )
    g.add_argument("--lambda-adv", type=float, default=1.0)
    g.add_argument("--lambda-fm", type=float, default=2.0)
    g.add_argument("--mel-floor", type=float, default=-5.0, help="log-mel floor in the loss")
    g.add_argument(
        "--gan-start-step", type=int, default=None, help="add the GAN losses from this step"
    )
    g.add_argument(
        "--disc-channels", type=int, default=32, help="conv channels of the discriminator"
    )
    g.add_argument(
        "--disc-spectrum", default="magnitude", choices=DISCRIMINATOR_SPECTRA,
        help="the mrd discriminator sees magnitude spectrograms, or complex ones (phase too)",
    )
    g.add_argument(
        "--disc", default="mrd",
        help="discriminators, comma-separated: msstft (EnCodec's multi-scale STFT), mrd "
             "(UnivNet's multi-resolution), mpd (HiFi-GAN's multi-period); see "
             "espnet_mvc.vocoder.gan",
    )
    g.add_argument(
        "--disc-compress", type=float, default=1.0,
        help="msstft sees |z| ** this (phases kept): 0.1 lets it learn several times faster "
             "against a pretrained generator than EnCodec's plain complex STFT (1.0)",
    )
    g.add_argument("--lr-d", type=float, default=None,
                   help="discriminator learning rate (default: --lr), same decay")
    g.add_argument("--gan-loss", default="hinge", choices=GAN_LOSSES)
    g.add_argument(
        "--disc-warmup-steps", type=int, default=0,
        help="the first N steps from --gan-start-step train the discriminator only (the "
             "generator is frozen), so that a fine-tuned generator meets a trained adversary",
    )
    g.add_argument("--max-steps", type=int, default=None)
    g.add_argument("--max-cpu-seconds", type=float, default=None)
    g.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    g.add_argument("--save-every-steps", type=int, default=500)
    g.add_argument("--log-every-steps", type=int, default=50)
    g.add_argument("--seed", type=int, default=0)
    return p


# ---------------------------------------------------------------------------------------
# features and data


def feats_extract_conf(args: argparse.Namespace) -> dict:
    """``LogMelFbank`` keywords (``feats_extract_conf`` of an ESPnet TTS config)."""
    return dict(
        fs=int(args.fs),
        n_fft=int(args.n_fft),
        win_length=args.win_length,
        hop_length=int(args.hop_length),
        n_mels=int(args.n_mels),
        fmin=args.fmin,
        fmax=args.fmax,
    )


def build_feats_extract(conf: dict) -> nn.Module:
    """ESPnet's TTS feature extractor, exactly as a TTS config with ``feats_extract: fbank``
    builds it."""
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

    return LogMelFbank(**conf)


def compute_mel(feats_extract: nn.Module, wav: torch.Tensor) -> torch.Tensor:
    """Log-mel features of waveforms.

    Args:
        feats_extract (LogMelFbank): The extractor.
        wav (Tensor): (B, L) or (L,).

    Returns:
        Tensor: (B, 1 + L // hop, n_mels) or (1 + L // hop, n_mels).
    """
    if wav.dim() == 1:
        return compute_mel(feats_extract, wav.unsqueeze(0)).squeeze(0)
    feats, _ = feats_extract(wav)
    return feats


def read_wav_scp(data_dir: str, fs: int, limit: Optional[int] = None,
                 resample: bool = False) -> Dict[str, np.ndarray]:
    """Read the audio of a data dir's ``wav.scp`` (mono float32, at ``fs``).

    Args:
        resample (bool): Bring audio at another rate to ``fs`` with the project's resampler
            (:func:`espnet_mvc.audio.resample`) instead of refusing it.

    Raises:
        ValueError: missing wav.scp, an entry that is not a file (pipes and ark offsets
            are not supported), unreadable audio, another rate (unless ``resample``), or
            several channels.
    """
    import soundfile as sf
    from espnet2.fileio.read_text import read_2columns_text

    scp = Path(data_dir) / "wav.scp"
    if not scp.is_file():
        raise ValueError(f"{scp}: not found")
    entries = read_2columns_text(scp)
    if not entries:
        raise ValueError(f"{scp}: no utterances")
    wavs: Dict[str, np.ndarray] = {}
    for utt, path in list(entries.items())[:limit]:
        if not Path(path).is_file():
            raise ValueError(f"{scp}: {utt}: {path!r} is not a file (only plain paths)")
        try:
            wav, sr = sf.read(path, dtype="float32", always_2d=True)
        except Exception as e:  # libsndfile raises several types
            raise ValueError(f"{scp}: {utt}: cannot read {path} ({e})") from e
        if sr != fs and not resample:
            raise ValueError(f"{scp}: {utt}: {path} is {sr} Hz, expected --fs {fs}")
        if wav.shape[1] != 1:
            raise ValueError(f"{scp}: {utt}: {path} has {wav.shape[1]} channels, expected 1")
        wavs[utt] = np.ascontiguousarray(resample_wav(wav[:, 0], sr, fs), dtype=np.float32)
    return wavs


class SegmentSampler:
    """In-memory corpus: random aligned (mel, waveform) segments.

    Args:
        wavs (dict): utt -> waveform (L,) float32.
        feats_extract (LogMelFbank): Feature extractor.
        hop_length (int): Its hop.
        segment_frames (int): Frames F per segment.
        seed (int): Seed of the sampler's own ``torch.Generator``.
    """

    def __init__(
        self,
        wavs: Dict[str, np.ndarray],
        feats_extract: nn.Module,
        hop_length: int,
        segment_frames: int,
        seed: int = 0,
    ):
        self.hop = hop_length
        self.frames = segment_frames
        self.utts: List[str] = list(wavs)
        self.wavs: List[torch.Tensor] = []
        self.mels: List[torch.Tensor] = []
        n_starts = []
        with torch.no_grad():
            for utt in self.utts:
                wav = torch.from_numpy(wavs[utt])
                # shorter utterances are zero-padded to one segment
                wav = F.pad(wav, (0, max(0, segment_frames * hop_length - wav.numel())))
                self.wavs.append(wav)
                self.mels.append(compute_mel(feats_extract, wav))  # (1 + L // hop, n_mels)
                # start frame a is valid while the samples (a + F) * hop stay in the audio
                n_starts.append(wav.numel() // hop_length - segment_frames + 1)
        self.cum_starts = torch.tensor(np.cumsum(n_starts), dtype=torch.long)
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, batch_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw a batch (start positions uniform over the corpus).

        Returns:
            Tensor: Log-mel (B, n_mels, F).
            Tensor: Waveform (B, F * hop).
        """
        total = int(self.cum_starts[-1])
        picks = torch.randint(total, (batch_size,), generator=self.generator)
        utt_idx = torch.searchsorted(self.cum_starts, picks, right=True)
        mels, wavs = [], []
        for i, pick in zip(utt_idx.tolist(), picks.tolist()):
            a = pick - (int(self.cum_starts[i - 1]) if i > 0 else 0)
            mels.append(self.mels[i][a : a + self.frames])
            wavs.append(self.wavs[i][a * self.hop : (a + self.frames) * self.hop])
        return torch.stack(mels).transpose(1, 2), torch.stack(wavs)


# ---------------------------------------------------------------------------------------
# losses and discriminator


def _stft(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """Complex STFT (B, n_fft // 2 + 1, frames) with the window's length as win_length."""
    return torch.stft(x, n_fft, hop, window.shape[0], window, return_complex=True)


def _stft_mag(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    spec = _stft(x, n_fft, hop, window)
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
            m_fake = _stft_mag(fake, n_fft, hop, window)
            m_real = _stft_mag(real, n_fft, hop, window)
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
        zf, zr = (_stft(x, self.n_fft, self.hop, self.window) for x in (fake, real))  # (B, F, T)
        return dict(
            ip=_weighted_phase_gap(zf, zr),
            gd=_weighted_phase_gap(zf[:, 1:] * zf[:, :-1].conj(), zr[:, 1:] * zr[:, :-1].conj()),
            iaf=_weighted_phase_gap(zf[..., 1:] * zf[..., :-1].conj(),
                                    zr[..., 1:] * zr[..., :-1].conj()),
        )


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
            spec = _stft(wav, self.n_fft, self.hop, self.window)
            x = torch.view_as_real(spec).permute(0, 3, 2, 1)  # (B, 2, T, F)
        else:
            x = _stft_mag(wav, self.n_fft, self.hop, self.window).transpose(1, 2).unsqueeze(1)
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

    def forward(self, wav: torch.Tensor) -> List[Tuple[torch.Tensor, List[torch.Tensor]]]:
        """(logits, feature maps) of each resolution for a waveform (B, L)."""
        return [d(wav) for d in self.discriminators]


# ---------------------------------------------------------------------------------------
# checkpoints and logging


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_write_text(text: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class _Log:
    """Lines to stdout and appended to ``train.log``."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        print(line, flush=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class _StopOnSignal:
    """SIGTERM / SIGINT set ``signum`` (the loop stops after the step in progress) and
    restore the previous handler, so that a second signal acts at once."""

    def __init__(self):
        self.signum: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def _handler(self, signum, frame):
        self.signum = signum
        signal.signal(signum, self._previous[signum])

    def _install(self, signum: int) -> None:
        previous = signal.signal(signum, self._handler)
        # None: a handler not set from Python; the default is the closest to restore
        self._previous[signum] = signal.SIG_DFL if previous is None else previous

    def __enter__(self):
        with contextlib.suppress(ValueError):  # not the main thread: no handlers
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._install(signum)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def load_input_mels(
    mels_dir: Path, sampler: "SegmentSampler", original_frames: Sequence[int]
) -> List[torch.Tensor]:
    """The generator's training inputs from ``<mels_dir>/<utt>.npy`` (T, n_mels), in place of
    the recordings' own mels (``sampler.mels``), which they must match frame for frame: e.g.
    an acoustic model's ground-truth-aligned mels (``egs2/kokoro_en/tts1/local/
    make_gta_mels.py``). An utterance shorter than a segment, which the sampler zero-pads,
    has ``original_frames`` given frames; the padding keeps its own (silent) frames.
    """
    out = []
    for utt, mel, frames in zip(sampler.utts, sampler.mels, original_frames):
        path = mels_dir / f"{utt}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"--input-mels-dir: no {path} for training utterance {utt}")
        given = torch.from_numpy(np.load(path)).float()
        if given.shape[1:] != mel.shape[1:] or given.shape[0] not in (mel.shape[0], frames):
            raise ValueError(f"{path}: shape {tuple(given.shape)}, but the recording's mel is "
                             f"{(frames, mel.shape[1])} (frames, bins): not aligned to it")
        out.append(torch.cat([given, mel[given.shape[0]:]]))
    return out


def vocoder_config(args: argparse.Namespace) -> dict:
    """The ``vocoder.yaml`` content for these options (without training progress)."""
    params = dict(
        n_mels=int(args.n_mels),
        hop_length=int(args.hop_length),
        n_fft=int(args.istft_n_fft or 4 * args.hop_length),
        dim=int(args.dim),
        intermediate_dim=int(args.intermediate_dim),
        num_layers=int(args.num_layers),
        kernel_size=int(args.kernel_size),
    )
    return dict(
        vocoder_type=args.vocoder_type,
        vocoder_params=params,
        fs=int(args.fs),
        feats_extract="fbank",
        feats_extract_conf=feats_extract_conf(args),
    )


def _init_generator(generator: nn.Module, conf: dict, path: str) -> None:
    """Load ``path`` (a ``vocoder.pth`` or a trainer ``checkpoint.pth``) into ``generator``,
    after checking that its ``vocoder.yaml`` describes the same generator and features."""
    from espnet_mvc.checkpoints import safe_load
    from espnet_mvc.vocoder import read_config

    theirs = read_config(path)
    for key in ("vocoder_type", "vocoder_params", "fs", "feats_extract_conf"):
        if theirs.get(key) != conf.get(key):
            raise ValueError(f"--init-from {path}: its {key} {theirs.get(key)!r} differs from "
                             f"this run's {conf.get(key)!r}")
    state = safe_load(str(path), map_location="cpu")
    if isinstance(state, dict) and isinstance(state.get("generator"), dict):
        state = state["generator"]
    generator.load_state_dict(state)


class DnsmosValidation:
    """Copy synthesis of fixed clips scored with DNSMOS (OVRL), the curve that sets how long
    a GAN fine-tune runs. Each set is a data dir; clips are resampled to the vocoder's rate.

    Args:
        dirs: Data dirs (``wav.scp``); a set is named by its dir's name.
        fs (int): The vocoder's rate.
        feats_extract: Its feature extractor.
        max_utts (int): Clips per set (the first in ``wav.scp`` order).
    """

    def __init__(self, dirs: Sequence[str], fs: int, feats_extract: nn.Module, max_utts: int):
        self.fs = fs
        self.sets: Dict[str, List[torch.Tensor]] = {}
        with torch.no_grad():
            for d in dirs:
                wavs = read_wav_scp(d, fs, max_utts, resample=True)
                name = Path(d).name
                if name in self.sets:
                    name = f"{name}{len(self.sets)}"
                self.sets[name] = [compute_mel(feats_extract, torch.from_numpy(w))
                                   for w in wavs.values()]

    def __call__(self, generator: nn.Module) -> Dict[str, float]:
        """``dnsmos`` (mean over every clip) and ``dnsmos_<set>`` (mean per set)."""
        from espnet_mvc.metrics.dnsmos import dnsmos

        was_training = generator.training
        generator.eval()
        per_set = {}
        with torch.no_grad():
            for name, mels in self.sets.items():
                per_set[name] = [dnsmos(generator(m.T.unsqueeze(0))[0].numpy(), self.fs)["dnsmos"]
                                 for m in mels]
        generator.train(was_training)
        every = [v for vs in per_set.values() for v in vs]
        out = {"dnsmos": float(np.mean(every))}
        out.update({f"dnsmos_{k}": float(np.mean(v)) for k, v in per_set.items()})
        return out


def read_curve(path: Path) -> List[Dict[str, float]]:
    """Rows of a ``dnsmos_curve.tsv`` (empty if it does not exist)."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, map(float, line.split("\t")))) for line in lines[1:] if line]


# ---------------------------------------------------------------------------------------
# training


def train(args: argparse.Namespace) -> dict:
    """Train (or resume training) as the module docstring describes.

    Returns:
        dict: ``status`` ("done", or "interrupted" after a signal), ``signum`` (or None),
        ``start_step`` (0, or the step resumed from), ``step``, ``cpu_seconds``,
        ``train_cpu_seconds`` (of the training steps alone) and ``losses`` (the total
        generator loss of every step of this run; 0 for discriminator-only steps).
    """
    cpu0 = time.process_time()
    torch.set_num_threads(args.threads)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    log = _Log(outdir / LOG_FILE)
    conf = vocoder_config(args)
    hop = args.hop_length
    segment = args.segment_frames * hop
    if segment <= max(n for n, _, _ in STFT_RESOLUTIONS) // 2:
        raise ValueError(
            f"--segment-frames {args.segment_frames} x --hop-length {hop} = {segment} samples "
            f"is too short for the {max(n for n, _, _ in STFT_RESOLUTIONS)}-point STFT loss"
        )
    n_extra = round(args.batch_size * args.extra_share) if args.extra_train_dir else 0
    if args.extra_train_dir and not 0 < n_extra < args.batch_size:
        raise ValueError(f"--extra-share {args.extra_share} of --batch-size {args.batch_size} "
                         f"must give between 1 and batch-1 items")

    torch.manual_seed(args.seed)
    generator = build_generator(conf)
    opt_g = torch.optim.AdamW(
        generator.parameters(), args.lr, betas=(0.8, 0.99), weight_decay=args.weight_decay
    )
    use_gan = args.gan_start_step is not None
    lr_d = args.lr if args.lr_d is None else args.lr_d
    discriminator = (
        build_discriminator(args.disc, args.disc_channels, args.disc_spectrum, args.disc_compress)
        if use_gan
        else None
    )
    opt_d = (
        torch.optim.AdamW(
            discriminator.parameters(), lr_d, betas=(0.8, 0.99), weight_decay=args.weight_decay
        )
        if use_gan
        else None
    )

    feats_extract = build_feats_extract(conf["feats_extract_conf"])
    train_wavs = read_wav_scp(args.train_dir, args.fs, args.max_train_utts, args.resample)
    train_set = SegmentSampler(train_wavs, feats_extract, hop, args.segment_frames, args.seed)
    extra_set = (
        SegmentSampler(
            read_wav_scp(args.extra_train_dir, args.fs, args.max_train_utts, args.resample),
            feats_extract, hop, args.segment_frames, args.seed + 1,
        )
        if n_extra
        else None
    )
    valid = (
        SegmentSampler(
            read_wav_scp(args.valid_dir, args.fs, MAX_VALID_UTTS, args.resample),
            feats_extract, hop, 1,
        )
        if args.valid_dir
        else None
    )
    dnsmos_valid = (
        DnsmosValidation(args.dnsmos_dir, args.fs, feats_extract, args.dnsmos_max_utts)
        if args.dnsmos_dir
        else None
    )
    if args.input_mels_dir is not None:
        train_set.mels = load_input_mels(
            Path(args.input_mels_dir), train_set,
            [1 + len(train_wavs[u]) // hop for u in train_set.utts],
        )
    stft_loss = MultiResolutionSTFTLoss()
    phase_loss = PhaseLoss(conf["vocoder_params"]["n_fft"], hop) if args.lambda_phase else None

    step, cpu_before, train_cpu = 0, 0.0, 0.0
    ckpt_path = outdir / CHECKPOINT
    if ckpt_path.exists():
        from espnet_mvc.checkpoints import safe_load

        ckpt = safe_load(str(ckpt_path), map_location="cpu")
        if ckpt["vocoder_config"] != conf:
            raise ValueError(
                f"{ckpt_path}: written for another vocoder/feature setup "
                f"({ckpt['vocoder_config']}); these options give {conf}. Use another --outdir."
            )
        generator.load_state_dict(ckpt["generator"])
        opt_g.load_state_dict(ckpt["optimizer"])
        if use_gan and ckpt.get("discriminator") is not None:
            discriminator.load_state_dict(ckpt["discriminator"])
            opt_d.load_state_dict(ckpt["optimizer_d"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        train_set.generator.set_state(ckpt["rng"]["sampler"])
        if extra_set is not None and ckpt["rng"].get("extra_sampler") is not None:
            extra_set.generator.set_state(ckpt["rng"]["extra_sampler"])
        step, cpu_before = int(ckpt["step"]), float(ckpt["cpu_seconds"])
        train_cpu = float(ckpt.get("train_cpu_seconds", cpu_before))
        log(f"resumed from step {step} ({cpu_before:.1f} CPU s used, {train_cpu:.1f} in "
            f"training steps) from {ckpt_path}")
        # Changing them on a resume is allowed (fine-tuning continues a copied run with other
        # data, lr or losses) but never silent: the lr, for one, jumps to the new --lr's
        # schedule at this step (lr * lr_decay ** step).
        changed = changed_training_options(ckpt.get("training_options"), args)
        if changed:
            log("resumed with changed training options: " + ", ".join(changed))
    else:
        if args.init_from:
            _init_generator(generator, conf, args.init_from)
            log(f"generator initialised from {args.init_from}")
        seconds = sum(w.numel() for w in train_set.wavs) / args.fs
        extra = (f" + {len(extra_set.utts)} utterances, "
                 f"{sum(w.numel() for w in extra_set.wavs) / args.fs:.1f} s of "
                 f"{args.extra_train_dir} ({n_extra} of {args.batch_size} per batch)"
                 if extra_set is not None else "")
        log(
            f"training {args.vocoder_type} ({num_parameters(generator)} parameters) on "
            f"{len(train_set.utts)} utterances, {seconds:.1f} s{extra}"
            + (f"; discriminator {args.disc} ({num_parameters(discriminator)} parameters)"
               if use_gan else "")
        )
    start_step = step

    def cpu_used() -> float:
        return cpu_before + time.process_time() - cpu0

    def validate() -> Optional[float]:
        if valid is None:
            return None
        generator.eval()
        errors = []
        with torch.no_grad():
            for wav, mel in zip(valid.wavs, valid.mels):
                fake = generator(mel.T.unsqueeze(0))[:, : wav.numel()]
                fake_mel = compute_mel(feats_extract, fake).squeeze(0)
                errors.append(
                    F.l1_loss(
                        fake_mel.clamp(min=args.mel_floor), mel.clamp(min=args.mel_floor)
                    ).item()
                )
        generator.train()
        return float(np.mean(errors))

    def write_vocoder(where: Path, state=None, **train_info) -> None:
        where.mkdir(parents=True, exist_ok=True)
        _atomic_save(generator.state_dict() if state is None else state, where / VOCODER_FILE)
        info = dict(conf, train=dict(step=step, cpu_seconds=round(cpu_used(), 1),
                                     train_cpu_seconds=round(train_cpu, 1), **train_info))
        _atomic_write_text(yaml.safe_dump(info, sort_keys=False), where / VOCODER_CONFIG)

    def save() -> None:
        rng = dict(torch=torch.get_rng_state(), sampler=train_set.generator.get_state())
        if extra_set is not None:
            rng["extra_sampler"] = extra_set.generator.get_state()
        ckpt = dict(
            generator=generator.state_dict(),
            optimizer=opt_g.state_dict(),
            discriminator=discriminator.state_dict() if use_gan else None,
            optimizer_d=opt_d.state_dict() if use_gan else None,
            step=step,
            cpu_seconds=cpu_used(),
            train_cpu_seconds=train_cpu,
            rng=rng,
            vocoder_config=conf,
            training_options=training_options(args),
        )
        _atomic_save(ckpt, ckpt_path)
        write_vocoder(outdir)
        v = validate()
        log(
            f"step {step}: saved {ckpt_path}"
            + (f"; valid mel-L1 {v:.4f} ({len(valid.utts)} utts)" if v is not None else "")
        )

    curve_path = outdir / DNSMOS_CURVE

    def score_dnsmos() -> None:
        """Append this step's DNSMOS row to the curve; keep the best generator."""
        c0 = time.process_time()
        scores = dnsmos_valid(generator)
        rows = [r for r in read_curve(curve_path) if int(r["step"]) < step]
        best = max(rows, key=lambda r: r["dnsmos"]) if rows else None
        header = ["step", "train_cpu_s"] + list(scores)
        row = dict(step=step, train_cpu_s=round(train_cpu, 1), **scores)
        lines = ["\t".join(header)] + [
            "\t".join(f"{r.get(k, float('nan')):g}" for k in header) for r in rows + [row]
        ]
        _atomic_write_text("\n".join(lines) + "\n", curve_path)
        # the curve keeps 6 digits: a score equal to the best one up to them is no gain
        if best is None or scores["dnsmos"] > best["dnsmos"] + 1e-4:
            write_vocoder(outdir / BEST_DIR, dnsmos=round(scores["dnsmos"], 4))
            note = "new best"
        else:
            note = f"best {best['dnsmos']:.3f} at step {int(best['step'])}"
        log(f"step {step}: DNSMOS copy " + " ".join(f"{k} {v:.3f}" for k, v in scores.items())
            + f" ({time.process_time() - c0:.1f} CPU s); {note}")

    losses: List[float] = []
    sums: Dict[str, float] = {}
    t_log, step_log, cpu_log, saved_step = time.time(), step, train_cpu, None

    def should_stop() -> bool:
        return (args.max_steps is not None and step >= args.max_steps) or (
            args.max_cpu_seconds is not None and cpu_used() >= args.max_cpu_seconds
        )

    if dnsmos_valid is not None and not any(int(r["step"]) == step
                                            for r in read_curve(curve_path)):
        score_dnsmos()  # where the curve starts (the initial or resumed generator)
    # the generator's first update (the lr warm-up counts from it): after the
    # discriminator-only steps when the GAN is on from step 0
    g_start = args.disc_warmup_steps if use_gan and args.gan_start_step == 0 else 0
    generator.train()
    with _StopOnSignal() as stop:
        try:
            while not should_stop() and stop.signum is None:
                c_step = time.process_time()
                mel, wav = train_set.sample(args.batch_size - n_extra)
                if n_extra:
                    mel_x, wav_x = extra_set.sample(n_extra)
                    mel, wav = torch.cat([mel, mel_x]), torch.cat([wav, wav_x])
                lr = args.lr * args.lr_decay**step * min(
                    1.0, max(1, step - g_start + 1) / max(1, args.warmup_steps))
                for group in opt_g.param_groups:
                    group["lr"] = lr
                for group in opt_d.param_groups if opt_d is not None else ():
                    group["lr"] = lr_d * args.lr_decay**step
                gan_on = use_gan and step >= args.gan_start_step
                d_only = gan_on and step < args.gan_start_step + args.disc_warmup_steps
                parts = {}
                if d_only:
                    with torch.no_grad():
                        fake = generator(mel)
                else:
                    fake = generator(mel)
                if gan_on:
                    # discriminator step on the detached output
                    d_real, d_fake = discriminator(wav), discriminator(fake.detach())
                    loss_d = discriminator_loss(d_real, d_fake, args.gan_loss)
                    # mean logits: how far apart the discriminator holds real and generated
                    parts["d_real"] = float(np.mean([r.mean().item() for r, _ in d_real]))
                    parts["d_fake"] = float(np.mean([f.mean().item() for f, _ in d_fake]))
                    opt_d.zero_grad()
                    loss_d.backward()
                    nn.utils.clip_grad_norm_(discriminator.parameters(), args.grad_clip)
                    opt_d.step()
                    parts["disc"] = loss_d.item()
                if d_only:
                    loss = torch.zeros(())
                else:
                    real_mel = compute_mel(feats_extract, wav).clamp(min=args.mel_floor)
                    fake_mel = compute_mel(feats_extract, fake).clamp(min=args.mel_floor)
                    loss_mel = F.l1_loss(fake_mel, real_mel)
                    sc, mag = stft_loss(fake, wav)
                    loss = args.lambda_mel * loss_mel + args.lambda_stft * (sc + mag)
                    parts.update(mel=loss_mel.item(), sc=sc.item(), mag=mag.item())
                    if phase_loss is not None:
                        phases = phase_loss(fake, wav)
                        loss = loss + args.lambda_phase * sum(phases.values())
                        parts.update({k: v.item() for k, v in phases.items()})
                    if gan_on:
                        discriminator.requires_grad_(False)  # gradients for the generator only
                        fake_out = discriminator(fake)
                        with torch.no_grad():
                            real_out = discriminator(wav)
                        discriminator.requires_grad_(True)
                        adv = generator_adv_loss(fake_out, args.gan_loss)
                        fm = feature_matching_loss(real_out, fake_out)
                        loss = loss + args.lambda_adv * adv + args.lambda_fm * fm
                        parts.update(adv=adv.item(), fm=fm.item())
                    opt_g.zero_grad()
                    loss.backward()
                    grad_norm = nn.utils.clip_grad_norm_(generator.parameters(), args.grad_clip)
                    opt_g.step()
                    parts["grad_norm"] = float(grad_norm)
                step += 1
                losses.append(loss.item())
                parts["loss"] = loss.item()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                train_cpu += time.process_time() - c_step
                if step % args.log_every_steps == 0:
                    n, now = step - step_log, time.time()
                    log(
                        f"step {step}: "
                        + " ".join(f"{k} {v / n:.4f}" for k, v in sums.items())
                        + f" lr {lr:.3g} {n / (now - t_log):.2f} steps/s"
                        + f" {n / max(train_cpu - cpu_log, 1e-9):.3f} steps/CPU-s"
                        + f" cpu {cpu_used():.1f} s (train {train_cpu:.1f} s)"
                    )
                    sums, t_log, step_log, cpu_log = {}, now, step, train_cpu
                if step % args.save_every_steps == 0:
                    save()
                    saved_step = step
                if dnsmos_valid is not None and step % args.dnsmos_every == 0:
                    if saved_step != step:
                        save()
                        saved_step = step
                    score_dnsmos()
        except KeyboardInterrupt:
            # only when no handler could be installed: the step may be incomplete,
            # but its parameters are still a valid model to save
            stop.signum = signal.SIGINT
        if saved_step != step and (step > start_step or not (outdir / VOCODER_FILE).exists()):
            save()
    status = "interrupted" if stop.signum is not None else "done"
    log(
        f"{status} at step {step}"
        + (f" (signal {stop.signum})" if stop.signum is not None else "")
        + f"; {cpu_used():.1f} CPU s used ({train_cpu:.1f} in training steps)"
    )
    return dict(
        status=status,
        signum=stop.signum,
        start_step=start_step,
        step=step,
        cpu_seconds=cpu_used(),
        train_cpu_seconds=train_cpu,
        losses=losses,
    )


def main(cmd: Optional[Sequence[str]] = None) -> int:
    """Command-line entry; returns the exit status (128 + signal number if interrupted)."""
    args = get_parser().parse_args(cmd)
    result = train(args)
    return 128 + result["signum"] if result["signum"] is not None else 0


if __name__ == "__main__":
    sys.exit(main())

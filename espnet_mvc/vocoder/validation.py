"""Validation during vocoder training: the mel L1 of whole utterances at every save, and the
DNSMOS curve of copy synthesis (``--dnsmos-dir``) that picks the best generator of a GAN
fine-tune.
"""

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_mvc.vocoder.data import SegmentSampler, compute_mel, read_wav_scp


def valid_mel_l1(generator: nn.Module, valid: SegmentSampler, feats_extract: nn.Module,
                 mel_floor: float) -> float:
    """Mean over whole utterances of the L1 between the floored log-mels of the copy
    synthesis and of the recording; leaves ``generator`` in training mode.

    Args:
        generator (nn.Module): Log-mel (1, n_mels, T) -> waveform (1, T * hop).
        valid (SegmentSampler): The validation utterances (their ``wavs`` and ``mels``).
        feats_extract (LogMelFbank): The feature extractor.
        mel_floor (float): Log-mel floor (``--mel-floor``).

    Returns:
        float: The mean L1.
    """
    generator.eval()
    errors = []
    with torch.no_grad():
        for wav, mel in zip(valid.wavs, valid.mels):
            fake = generator(mel.T.unsqueeze(0))[:, : wav.numel()]
            fake_mel = compute_mel(feats_extract, fake).squeeze(0)
            errors.append(
                F.l1_loss(fake_mel.clamp(min=mel_floor), mel.clamp(min=mel_floor)).item()
            )
    generator.train()
    return float(np.mean(errors))


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
        """Score the copy synthesis of every clip; ``generator``'s mode is kept.

        Args:
            generator (nn.Module): Log-mel (1, n_mels, T) -> waveform (1, T * hop).

        Returns:
            dict: ``dnsmos`` (mean over every clip) and ``dnsmos_<set>`` (mean per set).
        """
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


def curve_text(rows: List[Dict[str, float]], header: Sequence[str]) -> str:
    """A ``dnsmos_curve.tsv``: ``header`` and one line per row (``nan`` for a missing
    column, e.g. a set added on a resume), 6 significant digits."""
    lines = ["\t".join(header)] + [
        "\t".join(f"{r.get(k, float('nan')):g}" for k in header) for r in rows
    ]
    return "\n".join(lines) + "\n"

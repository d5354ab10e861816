"""Training data of the vocoder: audio from ``wav.scp``, its log-mel features, segments.

* :func:`read_wav_scp`: a Kaldi-style data dir's audio, read into memory once.
* :func:`build_feats_extract` / :func:`compute_mel`: ESPnet's own ``LogMelFbank``, built from
  a TTS config's ``feats_extract_conf``, so the vocoder learns from exactly the features a
  TTS model trained with ``feats_extract: fbank`` makes.
* :class:`SegmentSampler`: random aligned (mel, waveform) segments; its own seeded
  ``torch.Generator`` (saved in the checkpoint) makes a resumed run draw what an
  uninterrupted one would.
* :func:`load_input_mels`: frame-aligned mels of an acoustic model as the generator's
  inputs instead (``--input-mels-dir``).

Alignment: ``LogMelFbank`` frames are centred (``center=True``: frame ``k`` on sample
``k * hop``), and so are the generator's iSTFT frames, so the ``F * hop`` output samples of
the frames ``[a, a + F)`` line up with the samples ``[a * hop, (a + F) * hop)``.
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_mvc.inference.reference_audio import resample as resample_wav


def build_feats_extract(conf: dict) -> nn.Module:
    """ESPnet's TTS feature extractor, exactly as a TTS config with ``feats_extract: fbank``
    builds it.

    Args:
        conf (dict): ``LogMelFbank`` keywords (``fs``, ``n_fft``, ``win_length``,
            ``hop_length``, ``n_mels``, ``fmin``, ``fmax``).

    Returns:
        LogMelFbank: ``wav (B, L) -> (log10 mel (B, 1 + L // hop, n_mels), lengths)``.
    """
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
        data_dir (str): Kaldi-style data dir (``utt_id path`` lines in its ``wav.scp``).
        fs (int): The rate the audio must have (or is resampled to).
        limit (int): Read only the first ``limit`` utterances (None: all).
        resample (bool): Bring audio at another rate to ``fs`` with the project's resampler
            (:func:`espnet_mvc.inference.reference_audio.resample`) instead of refusing it.

    Returns:
        dict: utt -> waveform (L,) float32, in ``wav.scp`` order.

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

        Args:
            batch_size (int): B.

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


def load_input_mels(
    mels_dir: Path, sampler: "SegmentSampler", original_frames: Sequence[int]
) -> List[torch.Tensor]:
    """The generator's training inputs from ``<mels_dir>/<utt>.npy`` (T, n_mels), in place of
    the recordings' own mels (``sampler.mels``), which they must match frame for frame: e.g.
    an acoustic model's ground-truth-aligned mels (``egs2/kokoro_en/tts1/local/
    make_gta_mels.py``). An utterance shorter than a segment, which the sampler zero-pads,
    has ``original_frames`` given frames; the padding keeps its own (silent) frames.

    Args:
        mels_dir (Path): The dir of ``<utt>.npy`` files.
        sampler (SegmentSampler): The training corpus (its ``utts`` and ``mels``).
        original_frames: Frames of each utterance before the sampler's padding.

    Returns:
        list: Per utterance, log-mel (T, n_mels) of ``sampler.mels[i]``'s shape.

    Raises:
        FileNotFoundError: an utterance without a ``.npy``.
        ValueError: a ``.npy`` of another shape than the recording's mel.
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

"""Speaker similarity: cosine of speaker embeddings of a cloned output and its reference.

Encoder: **Resemblyzer**'s GE2E d-vector model (3-layer LSTM, 256-d, trained on
VoxCeleb1/2 + LibriSpeech), whose weights ``resemblyzer/pretrained.pt`` (17 MB) ship
inside the ``Resemblyzer`` wheel on PyPI, so nothing is fetched at run time. It is the
only PyPI speaker encoder found that carries its weights in the wheel (speakeronnx,
wespeaker, speechbrain, pyannote all download from a hub).

Three tiers, the ``spksim_method`` column says which one scored:

1. ``resemblyzer`` — the package's own ``preprocess_wav`` (volume normalization and
   webrtcvad silence trimming) and ``VoiceEncoder.embed_utterance``.
2. ``resemblyzer-weights`` — if the package cannot be imported (e.g. webrtcvad missing)
   but its ``pretrained.pt`` is present: the same network and mel front end
   re-implemented here, with energy-based instead of webrtcvad trimming.
3. ``mfcc-stats`` — **fallback, not a speaker encoder**: cosine of per-utterance MFCC
   mean/std vectors. Only meaningful for ranking systems against each other.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from espnet_mvc.inference.reference_audio import resample
from espnet_mvc.metrics.audio import AudioError

FS = 16000
_ENC = None  # (method, embed_fn)


def _pretrained_path() -> Optional[Path]:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    return p if p.is_file() else None


def _energy_trim(x: np.ndarray, fs: int = FS, top_db: float = 40.0) -> np.ndarray:
    """Drop 30 ms windows more than ``top_db`` below the loudest one."""
    w = int(0.03 * fs)
    n = len(x) // w
    if n == 0:
        return x
    fr = x[: n * w].reshape(n, w)
    e = 10 * np.log10(np.mean(fr**2, axis=1) + 1e-12)
    keep = e > e.max() - top_db
    return fr[keep].reshape(-1) if keep.any() else x


def _build_own(weights: Path):
    import torch
    from torch import nn

    class _Net(nn.Module):  # resemblyzer.VoiceEncoder's layers and parameter names
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)
            self.relu = nn.ReLU()

        def forward(self, mels):
            _, (h, _) = self.lstm(mels)
            e = self.relu(self.linear(h[-1]))
            return e / torch.norm(e, dim=1, keepdim=True)

    net = _Net()
    ckpt = torch.load(str(weights), map_location="cpu", weights_only=False)
    net.load_state_dict(ckpt["model_state"], strict=False)
    net.eval()

    def embed(x16: np.ndarray) -> np.ndarray:
        import librosa

        rms = np.sqrt(np.mean(x16**2))
        if rms > 0 and 20 * np.log10(rms) < -30:
            x16 = x16 * (10 ** ((-30 - 20 * np.log10(rms)) / 20))
        x16 = _energy_trim(x16)
        # partial utterances of 160 frames (1.6 s), rate 1.3 / s, as embed_utterance
        hop, n_part, step = 160, 160, int(round(FS / 1.3 / 160))
        n_frames = int(np.ceil((len(x16) + 1) / hop))
        starts = list(range(0, max(1, n_frames - n_part + step + 1), step))
        last = starts[-1]
        if len(starts) > 1 and (len(x16) - last * hop) / (n_part * hop) < 0.75:
            starts = starts[:-1]
        need = (starts[-1] + n_part) * hop
        if need > len(x16):
            x16 = np.pad(x16, (0, need - len(x16)))
        mel = librosa.feature.melspectrogram(y=x16.astype(np.float32), sr=FS, n_fft=400, hop_length=hop, n_mels=40)
        mel = mel.astype(np.float32).T
        mels = np.stack([mel[s : s + n_part] for s in starts])
        with torch.no_grad():
            part = net(torch.from_numpy(mels)).numpy()
        e = part.mean(0)
        return e / np.linalg.norm(e)

    return embed


def _build_mfcc():
    def embed(x16: np.ndarray) -> np.ndarray:
        import librosa

        x16 = _energy_trim(x16)
        m = librosa.feature.mfcc(y=x16.astype(np.float32), sr=FS, n_mfcc=20)[1:]
        v = np.concatenate([m.mean(1), m.std(1)])
        return v / (np.linalg.norm(v) + 1e-12)

    return embed


def get_encoder(method: str = "auto") -> Tuple[str, object]:
    """Return ``(method_name, embed_fn)``; ``embed_fn(x16k) -> unit vector``."""
    global _ENC
    if _ENC is not None and method in ("auto", _ENC[0]):
        return _ENC
    if method in ("auto", "resemblyzer"):
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from resemblyzer import VoiceEncoder, preprocess_wav

            enc = VoiceEncoder("cpu", verbose=False)

            def embed(x16):
                return enc.embed_utterance(preprocess_wav(x16.astype(np.float32)))

            _ENC = ("resemblyzer", embed)
            return _ENC
        except Exception:
            if method == "resemblyzer":
                raise AudioError("resemblyzer cannot be imported; pip install resemblyzer")
    if method in ("auto", "resemblyzer-weights"):
        w = _pretrained_path()
        if w is not None:
            _ENC = ("resemblyzer-weights", _build_own(w))
            return _ENC
        if method == "resemblyzer-weights":
            raise AudioError("resemblyzer/pretrained.pt not found; pip install resemblyzer")
    _ENC = ("mfcc-stats", _build_mfcc())
    return _ENC


@contextmanager
def _torch_one_thread():
    """The encoder is a small LSTM: one intra-op thread is fastest and immune to
    oversubscription (measured 10x faster than 2 threads on a loaded 2-core machine)."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def embed(wav: np.ndarray, fs: int, method: str = "auto") -> Tuple[np.ndarray, str]:
    name, fn = get_encoder(method)
    x16 = np.clip(resample(wav, fs, FS, dtype=np.float64), -1, 1)
    with _torch_one_thread():
        e = np.asarray(fn(x16), dtype=np.float64)
    if not np.all(np.isfinite(e)):
        raise AudioError("non-finite speaker embedding")
    return e, name


def speaker_similarity(
    gen: np.ndarray, gen_fs: int, ref: np.ndarray, ref_fs: int, method: str = "auto"
) -> Tuple[float, str]:
    """Cosine similarity of the two speaker embeddings and the encoder tier used."""
    a, name = embed(gen, gen_fs, method)
    b, _ = embed(ref, ref_fs, method)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)), name

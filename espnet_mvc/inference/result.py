"""What a synthesizer returns (PyTorch's :mod:`espnet_mvc.inference.synthesizer` and
:mod:`espnet_mvc.onnx_runtime`).

This module imports neither torch nor ESPnet.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np


@dataclass
class SynthesisResult:
    """One synthesized utterance.

    Attributes:
        wav (np.ndarray): Waveform (T_wav,), float32 in [-1, 1].
        fs (int): Sample rate.
        mel (Optional[np.ndarray]): Generated (normalised) mel (T_feats, n_mels).
        durations (Optional[np.ndarray]): Frames per token (T_text,).
        elapsed (float): Synthesis wall time in seconds (vocoder included).
        rtf (float): Real-time factor: elapsed / audio duration.
        voice (Optional[str]): The built-in voice that spoke (its name, aliases resolved);
            None for a reference clip given by the caller, or a model without built-in
            voices.
    """

    wav: np.ndarray
    fs: int
    mel: Optional[np.ndarray] = None
    durations: Optional[np.ndarray] = None
    elapsed: float = 0.0
    rtf: float = 0.0
    extra: Dict[str, object] = field(default_factory=dict)
    voice: Optional[str] = None

    @property
    def seconds(self) -> float:
        return len(self.wav) / self.fs

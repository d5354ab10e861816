"""DNSMOS (P.835 SIG/BAK/OVRL and P.808) via ``speechmos``; ONNX models ship in its wheel."""

from __future__ import annotations

from typing import Dict

import numpy as np

from espnet_mvc.metrics.audio import AudioError, resample, to_float32_clipped

FS = 16000
_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        try:
            import os

            from speechmos import dnsmos as _d
        except ImportError as e:
            raise AudioError("speechmos not installed; pip install 'espnet-mvc[score]'") from e
        here = os.path.dirname(os.path.abspath(_d.__file__))
        _MODEL = _d.DNSMOS(
            os.path.join(here, "dnsmos_models", "sig_bak_ovr.onnx"),
            os.path.join(here, "dnsmos_models", "model_v8.onnx"),
        )
    return _MODEL


def dnsmos(wav: np.ndarray, fs: int) -> Dict[str, float]:
    """``dnsmos`` (= OVRL), ``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_p808``; all in [1, 5]."""
    x = to_float32_clipped(resample(wav, fs, FS))
    r = _model()(x, FS, False)
    out = {
        "dnsmos": float(r["ovrl_mos"]),
        "dnsmos_sig": float(r["sig_mos"]),
        "dnsmos_bak": float(r["bak_mos"]),
        "dnsmos_p808": float(r["p808_mos"]),
    }
    if not all(np.isfinite(v) for v in out.values()):
        raise AudioError("DNSMOS returned non-finite values")
    return out

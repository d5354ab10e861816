"""DNSMOS (P.835 SIG/BAK/OVRL and P.808) via ``speechmos``; ONNX models ship in its wheel."""

from __future__ import annotations

from typing import Dict

import numpy as np

from espnet_mvc.inference.reference_audio import resample
from espnet_mvc.metrics.audio import AudioError, to_float32_clipped

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
        import onnxruntime as ort

        here = os.path.dirname(os.path.abspath(_d.__file__))
        # speechmos' own constructor, but with single-threaded sessions: the models are
        # small, and spinning intra-op threads collapse on a loaded 2-core machine.
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(os.environ.get("MVC_DNSMOS_THREADS", "1"))
        so.inter_op_num_threads = 1
        m = _d.DNSMOS.__new__(_d.DNSMOS)
        m.primary_model_path = os.path.join(here, "dnsmos_models", "sig_bak_ovr.onnx")
        m.onnx_sess = ort.InferenceSession(
            m.primary_model_path, sess_options=so, providers=["CPUExecutionProvider"])
        m.p808_onnx_sess = ort.InferenceSession(
            os.path.join(here, "dnsmos_models", "model_v8.onnx"), sess_options=so,
            providers=["CPUExecutionProvider"])
        _MODEL = m
    return _MODEL


def dnsmos(wav: np.ndarray, fs: int) -> Dict[str, float]:
    """``dnsmos`` (= OVRL), ``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_p808``; all in [1, 5]."""
    x = to_float32_clipped(resample(wav, fs, FS, dtype=np.float64))
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

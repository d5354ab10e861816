"""Language names: ``en-us`` / ``en_US`` / ``English`` -> ``en``, for the synthesizers and the
scorer alike. This module imports neither torch nor ESPnet."""

import re
from typing import Optional, Sequence

_LANG_NAMES = {
    "english": "en",
    "spanish": "es",
    "german": "de",
    "french": "fr",
    "italian": "it",
    "dutch": "nl",
    "portuguese": "pt",
    "russian": "ru",
    "japanese": "ja",
    "chinese": "zh",
}


def normalize_lang(lang: Optional[str], default: str = "en") -> str:
    """``en-us`` / ``en_US`` / ``English`` -> ``en``; empty -> ``default``."""
    if not lang:
        return default
    s = lang.strip().lower()
    if s in _LANG_NAMES:
        return _LANG_NAMES[s]
    return re.split(r"[-_]", s)[0] or default


def default_language(languages: Sequence[str]) -> Optional[str]:
    """The language a multilingual model speaks when none is asked for: English where it
    has it, else its first (sorted); None without languages."""
    languages = sorted(lang for lang in languages if lang != "<unk>")
    english = [lang for lang in languages if normalize_lang(lang) == "en"]
    return (english or languages or [None])[0]


def spoken_language(g2p: Optional[str], languages: Sequence[str]) -> str:
    """The language of a call that names none: the one the model's g2p speaks
    (``espeak_ng_multilingual_<lang>``, recorded when packing), else
    :func:`default_language`; ``en-us`` for a model without languages."""
    from espnet_mvc.text.espeak import MULTILINGUAL_G2P

    prefix = MULTILINGUAL_G2P + "_"
    if g2p and g2p.startswith(prefix):
        spoken = g2p[len(prefix):]
        match = next((lang for lang in languages if normalize_lang(lang) == spoken), None)
        if match is not None:
            return match
    return default_language(languages) or "en-us"

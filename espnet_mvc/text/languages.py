"""Language names: ``en-us`` / ``en_US`` / ``English`` -> ``en``, for the synthesizers and the
scorer alike. This module imports neither torch nor ESPnet."""

import re
from typing import Optional

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

"""The plugin's g2p types: name -> ``text -> tokens``, shared by every runtime.

ESPnet's tokenizer learns these names in :mod:`espnet_mvc.espnet.registry`; the
ESPnet-free loading path (:mod:`espnet_mvc.espnet.text2speech`) and the ONNX runtime read
them here. This module imports neither torch nor ESPnet.
"""

import functools
import importlib
from typing import Callable, Dict, List, Optional

G2p = Callable[[str], List[str]]


def _kokoro_en() -> G2p:
    return importlib.import_module("espnet_mvc.text.kokoro").g2p


def plugin_g2p_types() -> Dict[str, Callable[[], G2p]]:
    """The g2p types the plugin adds to ESPnet: name -> builder of its ``text -> tokens``.

    * ``kokoro_en``: the natural-voice corpus's English symbols (:mod:`espnet_mvc.text.kokoro`).
    * ``espeak_ng_multilingual_<lang>``: the recipes' multilingual espeak front end in one
      language (:class:`espnet_mvc.text.espeak.LanguageG2p`); what ``espnet_mvc.bin.pack
      --g2p espeak_ng_multilingual`` records for a model trained on pre-phonemized text.
    """
    from espnet_mvc.text import espeak

    g2p_types: Dict[str, Callable[[], G2p]] = {"kokoro_en": _kokoro_en}
    for lang in espeak.LANG2G2P:
        g2p_types[espeak.multilingual_g2p_type(lang)] = functools.partial(espeak.LanguageG2p, lang)
    return g2p_types


def plugin_g2p(g2p_type: Optional[str]) -> Optional[G2p]:
    """The plugin's ``text -> tokens`` function for ``g2p_type``; None for ESPnet's own."""
    build = plugin_g2p_types().get(g2p_type) if g2p_type else None
    return None if build is None else build()

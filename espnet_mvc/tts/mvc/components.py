"""MVC's components by config name: ``text_encoder: bimamba`` picks ``BiMambaTextEncoder``.

Each table maps a config name to its class (or ``"module:Class"``, imported on first use);
:func:`build_stack_component` builds the Bi-Mamba ones from their flat config keys.
"""

import importlib
from typing import Any, Dict, Optional, Tuple

import torch.nn as nn

from espnet_mvc.nets.ssm import BiMambaStackConfig
from espnet_mvc.tts.mvc.duration_predictor import TemporalBiMambaDurationPredictor
from espnet_mvc.tts.mvc.flow_matching import CFMDecoder
from espnet_mvc.tts.mvc.prosody_predictor import ExpressiveMambaProsodyPredictor
from espnet_mvc.tts.mvc.style_encoder import MambaReferenceEncoder
from espnet_mvc.tts.mvc.text_encoder import BiMambaTextEncoder

TEXT_ENCODERS = {"bimamba": BiMambaTextEncoder}
DURATION_PREDICTORS = {"temporal_bimamba": TemporalBiMambaDurationPredictor}
PROSODY_PREDICTORS = {"expressive_mamba": ExpressiveMambaProsodyPredictor}
STYLE_ENCODERS = {"mamba_reference": MambaReferenceEncoder}
DECODERS = {"cfm": CFMDecoder}
# Training only, and its module imports ESPnet's JETS: imported when a model builds one
ALIGNERS = {"jets": "espnet_mvc.tts.mvc.aligner:JETSAligner"}


def pick(table: Dict[str, Any], name: str, what: str) -> type:
    """The class named ``name`` in ``table`` (``what`` names the config key in errors)."""
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; choose from {sorted(table)}")
    cls = table[name]
    if isinstance(cls, str):  # "module:Class", imported on first use
        module, _, attr = cls.partition(":")
        cls = getattr(importlib.import_module(module), attr)
    return cls


def build_stack_component(table: Dict[str, Any], name: str, what: str, dims: Tuple[int, ...],
                          shared: Dict[str, Any], conf: Optional[Dict[str, Any]]) -> nn.Module:
    """A Bi-Mamba component ``table[name](*dims, stack=..., **own keywords)``: its flat
    config keys (``shared``, then ``conf``) sorted into one :class:`BiMambaStackConfig`
    (from the class's ``DEFAULT_STACK`` where it has one) and its own keywords."""
    cls = pick(table, name, what)
    stack, own = BiMambaStackConfig.split(dict(shared, **(conf or {})),
                                          getattr(cls, "DEFAULT_STACK", None))
    return cls(*dims, stack=stack, **own)

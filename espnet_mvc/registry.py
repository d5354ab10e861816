"""Register the plugin's models into ESPnet's class registries at import time.

ESPnet has no entry-point mechanism for models: tasks pick classes from ``ClassChoices``
objects (``tts_choices``) and ``JointText2Wav`` looks text2mel classes up in the module
dict ``AVAILABLE_TEXT2MEL``. ``Text2Speech`` and packed-model loading rebuild models
through ``TTSTask`` / ``GANTTSTask``, so the plugin registers into all three.
"""

import importlib
from typing import Dict, Type

# name -> "module:Class" of every model this plugin adds (imported lazily on registration)
PLUGIN_TEXT2MEL: Dict[str, str] = {
    "mvc": "espnet_mvc.tts.mvc.mvc:MVC",
}

_registered = False


def _load(path: str) -> Type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def register_text2mel(name: str, cls: Type) -> None:
    """Make ``cls`` selectable as ``tts: <name>`` in tts/gan_tts tasks and joint_text2wav.

    Args:
        name (str): Registry key (lower case, as ``ClassChoices`` requires).
        cls (Type): An ``AbsTTS`` subclass.
    """
    from espnet2.gan_tts.joint import joint_text2wav
    from espnet2.tasks import gan_tts as gan_tts_task
    from espnet2.tasks import tts as tts_task

    name = name.lower()
    tts_task.tts_choices.classes[name] = cls
    gan_tts_task.tts_choices.classes[name] = cls
    joint_text2wav.AVAILABLE_TEXT2MEL[name] = cls


def register_all() -> None:
    """Register every plugin model (idempotent)."""
    global _registered
    if _registered:
        return
    for name, path in PLUGIN_TEXT2MEL.items():
        try:
            cls = _load(path)
        except ModuleNotFoundError as e:
            # Only tolerate the model module itself being absent (partial checkouts);
            # a missing dependency inside it must surface.
            if e.name and path.startswith(e.name):
                continue
            raise
        register_text2mel(name, cls)
    _registered = True

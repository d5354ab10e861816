"""espnet-mvc: MambaVoiceCloning as an ESPnet2 plugin.

Importing this package registers the plugin's models into ESPnet's class registries
(``espnet2.tasks.tts.tts_choices``, ``espnet2.tasks.gan_tts.tts_choices`` and
``espnet2.gan_tts.joint.joint_text2wav.AVAILABLE_TEXT2MEL``) and its g2p types into ESPnet's
phoneme tokenizer, so that ESPnet's own trainers, ``Text2Speech`` and packed-model loading
find ``tts: mvc`` and ``g2p: kokoro_en``. Modules of ESPnet not imported yet are registered
into when they are (see :mod:`espnet_mvc.registry`); the import itself stays cheap and sets
no environment variable.
"""

__version__ = "0.1.0"

from espnet_mvc.registry import register_all  # noqa: E402

register_all()

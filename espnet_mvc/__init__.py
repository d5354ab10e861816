"""espnet-mvc: MambaVoiceCloning as an ESPnet2 plugin.

Importing this package registers the plugin's models into ESPnet's class registries
(``espnet2.tasks.tts.tts_choices``, ``espnet2.tasks.gan_tts.tts_choices`` and
``espnet2.gan_tts.joint.joint_text2wav.AVAILABLE_TEXT2MEL``), so that ESPnet's own
trainers, ``Text2Speech`` and packed-model loading find ``tts: mvc``.
"""

__version__ = "0.1.0"

from espnet_mvc.registry import register_all  # noqa: E402
from espnet_mvc.text.espeak import setup_espeak_env  # noqa: E402

# ESPnet's phonemizer-based g2p finds the espeak-ng library shipped in espeakng-loader.
setup_espeak_env()
register_all()

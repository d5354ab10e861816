"""espnet-mvc: MambaVoiceCloning as an ESPnet2 plugin.

    espnet_mvc/
      api.py         the public import: MVCSynthesizer, DecodeOptions, SynthesisResult, ...
      tts/mvc/       the model (MVC, one component per file, flow_matching.py's CFM decoder)
      nets/          its building blocks (Mamba, Bi-Mamba stacks, selective scans)
      text/          text front ends (g2p types, espeak, phrases, language names)
      espnet/        every contact with ESPnet: registration, Text2Speech adapter, safe
                     checkpoint loading, the tts_train / tts_inference entry points
      inference/     loading, the synthesizer, long-form, streaming, voices
      onnx_runtime/  synthesis without torch; export/ writes its graphs
      vocoder/, server/, metrics/, benchmarks/, recipe/, bin/ (command lines), pretrained/

Importing this package registers the plugin's models into ESPnet's class registries
(``espnet2.tasks.tts.tts_choices`` and ``espnet2.gan_tts.joint.joint_text2wav.
AVAILABLE_TEXT2MEL``) and its g2p types into ESPnet's phoneme tokenizer, so that ESPnet's own
trainers, ``Text2Speech`` and packed-model loading find ``tts: mvc`` and ``g2p: kokoro_en``.
Modules of ESPnet not imported yet are registered into when they are (see
:mod:`espnet_mvc.espnet.registry`); the import itself stays cheap and sets no environment
variable.
"""

__version__ = "0.1.0"

from espnet_mvc.espnet.registry import register_all  # noqa: E402

register_all()

"""The public API: synthesize with a trained MVC model (or any ESPnet TTS model).

    >>> from espnet_mvc.api import MVCSynthesizer, DecodeOptions
    >>> tts = MVCSynthesizer.from_pretrained("kokoro_en_mvc")
    >>> out = tts.synthesize("Hello there.", voice="alloy", options=DecodeOptions(seed=1))
    >>> out.wav, out.fs, out.rtf

This module only re-exports; the code is in :mod:`espnet_mvc.inference` (nothing inside the
package imports this module).
"""

from espnet_mvc.inference.loading import ModelLoadError
from espnet_mvc.inference.reference_audio import ReferenceAudioError
from espnet_mvc.inference.result import SynthesisResult
from espnet_mvc.inference.synthesizer import MVCSynthesizer
from espnet_mvc.tts.mvc.decode_options import DecodeOptions

__all__ = ["MVCSynthesizer", "DecodeOptions", "SynthesisResult", "ModelLoadError",
           "ReferenceAudioError"]

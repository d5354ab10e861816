"""Run an exported MVC model with onnxruntime and numpy: no PyTorch, no ESPnet.

    espnet-mvc export --onnx exported/ --model kokoro_en_mvc     (needs PyTorch, once)
    espnet-mvc synth --backend onnx --model exported/ --text "Hello." --out hello.wav

    >>> from espnet_mvc.onnx_runtime import OnnxSynthesizer
    >>> OnnxSynthesizer("exported/").synthesize("Hello.").wav

Its dependencies are numpy, soundfile, onnxruntime and the phonemizer (``pip install
'espnet-mvc[onnx]'`` on top of the package without its PyTorch stack);
``tests/test_onnx_export.py`` checks that importing and running it imports neither torch nor
ESPnet.
"""

from espnet_mvc.onnx_runtime.synthesizer import OnnxModelError, OnnxSynthesizer

__all__ = ["OnnxSynthesizer", "OnnxModelError"]

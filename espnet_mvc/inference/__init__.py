"""Inference: from a model on disk to audio.

* :mod:`~espnet_mvc.inference.loading`: archive checks, the unpack cache, recipe paths,
  vocoder discovery (``safe_unpack``, ``ModelLoadError``).
* :mod:`~espnet_mvc.inference.synthesizer`: ``MVCSynthesizer`` (``from_pretrained``,
  ``synthesize``, ``stream``), with :mod:`~espnet_mvc.inference.long_form` (any length of
  text, phrase by phrase) and :mod:`~espnet_mvc.inference.streaming` (``MVCStreamer``).
* :mod:`~espnet_mvc.inference.reference_audio` (the voice's reference clip),
  :mod:`~espnet_mvc.inference.builtin_voices`, :mod:`~espnet_mvc.inference.id_maps`,
  :mod:`~espnet_mvc.inference.fades` and :mod:`~espnet_mvc.inference.result`
  (``SynthesisResult``): shared with the torch-free :mod:`espnet_mvc.onnx_runtime`.

Importing this package imports nothing (the ONNX runtime imports its torch-free modules).
"""

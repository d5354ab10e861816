"""Exports of a trained model for runtimes without PyTorch (:mod:`espnet_mvc.export.onnx`)."""

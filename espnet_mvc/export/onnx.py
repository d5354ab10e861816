"""Export an MVC model and its vocoder to ONNX, for :mod:`espnet_mvc.onnx_runtime`.

    espnet-mvc export --onnx DIR --model kokoro_en_mvc

writes five graphs and one JSON file (:data:`FORMAT` in ``model.json``)::

    style.onnx      reference mel (1, T_ref, odim) [+ sids, lids, spembs] -> style (1, S)
    text.onnx       tokens (1, T_text), style, alpha (1,) -> token states, durations
    prosody.onnx    frame states (1, T_feats, adim), style -> mu (1, T_feats, odim)
    estimator.onnx  x_t, mu (1, odim, T_feats), t (1,), style -> flow (1, odim, T_feats)
    vocoder.onnx    log-mel (1, n_mels, T_feats) -> STFT real, imag (1, n_fft/2+1, T_feats)
    <graph>.ort     each graph optimized by onnxruntime, in its own format (loads faster)
    model.json      token list, g2p, feature settings and statistics, decode defaults,
                    built-in voices (their style vectors, computed here), vocoder's iSTFT

Every graph takes any length (dynamic axes; the selective scan is exported in standard
ops by :mod:`espnet_mvc.nets.ssm.scan_onnx`). What stays in the runtime, in numpy, is what
has no weights and is cheap: the length regulator (a repeat), the flow-matching solver loop
(Euler or midpoint, any step count), the log-mel of a reference clip and the inverse STFT
(ONNX has no ISTFT). Each is checked against PyTorch by ``tests/test_onnx_export.py``.

The exporter is PyTorch's TorchScript-based one (``dynamo=False``): the scan's hand-over
from chunk to chunk is a TorchScript loop, which it turns into an ONNX ``Loop``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn

from espnet_mvc.nets.ssm.scan_onnx import unrolled

FORMAT = "espnet-mvc-onnx/1"
OPSET = 17
GRAPHS = ("style", "text", "prosody", "estimator", "vocoder")
# The text graph's scans run over tokens (tens to a few hundred): small unroll sizes keep
# its graph, and onnxruntime's load time, small (see scan_onnx.unrolled).
TEXT_CHUNK, TEXT_BLOCK = 4, 8


def _ones_length(x: torch.Tensor) -> torch.Tensor:
    """(1,) long: the length of axis 1 of ``x``, computed in the graph (a Python int from
    ``x.shape`` would be frozen into it by the tracer)."""
    return torch.ones_like(x[:, :, 0], dtype=torch.long).sum(1)


class StyleGraph(nn.Module):
    """The style vector from every style source the model has (:meth:`MVC.encode_style`);
    the reference checks run in the runtime, before the graph."""

    def __init__(self, mvc, inputs: List[str]):
        super().__init__()
        self.mvc = mvc
        self.inputs = inputs

    def forward(self, *args):
        kw = dict(zip(self.inputs, args))
        ref = kw.get("ref")
        return self.mvc.encode_style(
            ref, None if ref is None else _ones_length(ref), sids=kw.get("sids"),
            spembs=kw.get("spembs"), lids=kw.get("lids"), validate=False,
        )


class TextGraph(nn.Module):
    """Token states and durations (:meth:`MVC.encode_text`, :meth:`MVC.predict_durations`)."""

    def __init__(self, mvc, styled: bool):
        super().__init__()
        self.mvc = mvc
        self.styled = styled

    def forward(self, text, alpha, style=None):
        lengths = _ones_length(text.unsqueeze(-1))
        style = style if self.styled else None
        states = self.mvc.encode_text(text, lengths, style)
        return states, self.mvc.predict_durations(states, lengths, style, alpha)


class ProsodyGraph(nn.Module):
    """Frame states to the decoder's condition mu (:meth:`MVC.decoder_condition`)."""

    def __init__(self, mvc, styled: bool):
        super().__init__()
        self.mvc = mvc
        self.styled = styled

    def forward(self, frames, style=None):
        mu, _, _ = self.mvc.decoder_condition(
            frames, _ones_length(frames), style if self.styled else None
        )
        return mu


class EstimatorGraph(nn.Module):
    """One evaluation of the flow-matching decoder's vector field."""

    def __init__(self, mvc, styled: bool):
        super().__init__()
        self.estimator = mvc.decoder.estimator
        self.styled = styled

    def forward(self, x, mu, t, style=None):
        mask = torch.ones_like(x[:, :1])
        return self.estimator(x, mask, mu, t, style if self.styled else None)


class VocoderGraph(nn.Module):
    """The vocoder's STFT frames; the runtime's inverse STFT makes the waveform."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, mel):
        return self.generator.spectrum_parts(mel)


@contextlib.contextmanager
def _quiet_tracer():
    """The tracer warns at every Python bool it freezes (input checks that cannot fail for
    the example inputs); they are expected, and the parity test covers the graphs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _export(module: nn.Module, args: tuple, path: Path, inputs: List[str], outputs: List[str],
            dynamic: Dict[str, Dict[int, str]]) -> None:
    # traced with autograd on (and no parameter requiring grad): under no_grad the
    # inference paths use out= buffers and in-place fused ops that the exporter rejects
    module.eval().requires_grad_(False)
    with _quiet_tracer(), torch.enable_grad():
        torch.onnx.export(
            module, args, str(path), dynamo=False, opset_version=OPSET,
            input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
            do_constant_folding=True,
        )


def _feature_settings(synth) -> Dict[str, object]:
    """The reference clip's log-mel, as ESPnet's ``LogMelFbank`` + ``GlobalMVN`` make it."""
    fe = synth.t2s.feats_extract
    if fe is None or type(fe).__name__ != "LogMelFbank":
        raise ValueError("ONNX export needs a model trained on fbank features "
                         f"(feats_extract: fbank), got {type(fe).__name__}")
    stft, logmel = fe.stft, fe.logmel
    if not stft.center or stft.normalized or not stft.onesided or stft.window != "hann":
        raise ValueError("ONNX export supports a centred, unnormalised, one-sided Hann STFT")
    win = stft.win_length or stft.n_fft
    feats = dict(
        fs=int(fe.fs), n_fft=int(stft.n_fft), win_length=int(win),
        hop_length=int(stft.hop_length), n_mels=int(fe.n_mels),
        melmat=logmel.melmat.detach().cpu().numpy().T.tolist(),  # (n_mels, n_fft/2+1)
        log_base=None if logmel.log_base is None else float(logmel.log_base),
    )
    norm = synth.t2s.normalize
    if norm is not None:
        if type(norm).__name__ != "GlobalMVN":
            raise ValueError(f"ONNX export supports global_mvn normalization, got "
                             f"{type(norm).__name__}")
        feats["mean"] = norm.mean.detach().cpu().numpy().reshape(-1).tolist()
        feats["std"] = norm.std.detach().cpu().numpy().reshape(-1).tolist()
    return feats


def _vocoder_settings(synth) -> Dict[str, object]:
    vocoder = synth.t2s.vocoder
    generator = getattr(vocoder, "generator", None)
    if generator is None or not hasattr(generator, "spectrum_parts"):
        raise ValueError("ONNX export needs the plugin's iSTFT vocoder (vocoder.pth with "
                         f"vocoder_type: vocos), got {type(vocoder).__name__}")
    return generator, dict(n_fft=int(generator.n_fft), hop_length=int(generator.hop_length),
                           n_mels=int(generator.n_mels))


def _g2p_of(synth) -> Dict[str, Optional[str]]:
    """How the runtime reads text: the plugin's g2p (``kokoro_en``, ``espeak_ng_multilingual_
    <lang>``) or espeak per language for self-phonemized models."""
    from espnet_mvc.text.g2p import plugin_g2p_types

    g2p = synth.g2p
    if g2p in (None, "none", "espeak_ng_multilingual") or g2p in plugin_g2p_types():
        return dict(g2p=None if g2p in (None, "none") else g2p)
    raise ValueError(f"the ONNX runtime reads text with the plugin's front ends only "
                     f"(kokoro_en, espeak_ng_multilingual*); this model's g2p is {g2p!r}")


def export_onnx(model: Union[str, Path], outdir: Union[str, Path],
                voices: bool = True) -> Dict[str, object]:
    """Export ``model`` (a name from :mod:`espnet_mvc.pretrained`, an archive, an exp dir or
    a config) into ``outdir``.

    Returns:
        dict: What ``model.json`` holds, plus ``export_seconds``.

    Raises:
        ValueError: a model the ONNX runtime cannot run (not MVC, a Gaussian length
            regulator, a non-fbank feature extractor, a vocoder without an STFT head,
            ESPnet's own g2p).
    """
    from espnet_mvc.inference.synthesizer import MVCSynthesizer

    start = time.perf_counter()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "model.json").unlink(missing_ok=True)  # an earlier export's, now stale
    synth = MVCSynthesizer.from_pretrained(model)
    mvc = synth.mvc
    if mvc is None:
        raise ValueError(f"{model}: not an MVC model; only MVC exports to ONNX")
    if mvc.length_regulator.kind != "repeat":
        raise ValueError("ONNX export supports the repeat length regulator, got "
                         f"{mvc.length_regulator.kind!r}")
    mvc.eval()
    generator, vocoder = _vocoder_settings(synth)
    meta: Dict[str, object] = dict(
        format=FORMAT, fs=synth.fs, odim=mvc.odim, token_list=synth.token_list,
        **_g2p_of(synth), features=_feature_settings(synth), vocoder=vocoder,
        languages=synth.lang2lid, speakers=synth.spk2sid,
        decode=dict(n_timesteps=mvc.decoder.n_timesteps, temperature=mvc.decoder.temperature,
                    solver=mvc.decoder.solver, prior=mvc.decoder.prior,
                    sigma_min=mvc.decoder.sigma_min, alpha=synth.default_alpha),
        min_reference_frames=getattr(mvc.style_encoder, "min_frames", None),
        unk_id=mvc.unk_id,
    )

    # style sources, in the order the graph takes them
    style_inputs: List[str] = []
    example: Dict[str, torch.Tensor] = {}
    if mvc.style_encoder is not None:
        style_inputs.append("ref")
        example["ref"] = torch.randn(1, 64, mvc.odim)
    for name, flag, value in (("sids", mvc.spks, torch.zeros(1, dtype=torch.long)),
                              ("spembs", mvc.spk_embed_dim, None),
                              ("lids", mvc.langs, torch.zeros(1, dtype=torch.long))):
        if flag is not None:
            style_inputs.append(name)
            example[name] = value if value is not None else torch.randn(1, int(flag))
    styled = bool(style_inputs)
    meta["style_inputs"] = style_inputs
    meta["style_dim"] = None
    style = None
    if styled:
        with torch.no_grad():
            style = StyleGraph(mvc, style_inputs)(*[example[n] for n in style_inputs])
        meta["style_dim"] = int(style.shape[-1])
        _export(StyleGraph(mvc, style_inputs), tuple(example[n] for n in style_inputs),
                outdir / "style.onnx", style_inputs, ["style"],
                {"ref": {1: "T_ref"}} if "ref" in style_inputs else {})
    style_args = (style,) if styled else ()
    style_names = ["style"] if styled else []

    n_tok = 12
    text = torch.randint(2, mvc.idim, (1, n_tok))
    alpha = torch.tensor([1.0])
    with unrolled(chunk=TEXT_CHUNK, block=TEXT_BLOCK):  # tokens: short sequences
        _export(TextGraph(mvc, styled), (text, alpha) + style_args, outdir / "text.onnx",
                ["text", "alpha"] + style_names, ["token_states", "durations"],
                {"text": {1: "T_text"}, "token_states": {1: "T_text"},
                 "durations": {1: "T_text"}})
    n_frames = 45  # odd: the U-Net's half-rate level must take odd lengths
    frames = torch.randn(1, n_frames, mvc.adim)
    _export(ProsodyGraph(mvc, styled), (frames,) + style_args, outdir / "prosody.onnx",
            ["frames"] + style_names, ["mu"],
            {"frames": {1: "T_feats"}, "mu": {1: "T_feats"}})
    x = torch.randn(1, mvc.odim, n_frames)
    _export(EstimatorGraph(mvc, styled), (x, torch.randn_like(x), torch.tensor([0.5]))
            + style_args, outdir / "estimator.onnx", ["x", "mu", "t"] + style_names, ["v"],
            {"x": {2: "T_feats"}, "mu": {2: "T_feats"}, "v": {2: "T_feats"}})
    _export(VocoderGraph(generator.float()), (torch.randn(1, vocoder["n_mels"], n_frames),),
            outdir / "vocoder.onnx", ["mel"], ["real", "imag"],
            {"mel": {2: "T_feats"}, "real": {2: "T_feats"}, "imag": {2: "T_feats"}})

    # (the runtime speaks a built-in voice from its style alone, so only models whose one
    # style source is the reference have them exported)
    meta["voices"] = _voice_styles(synth, mvc) if voices and style_inputs == ["ref"] else {}
    meta["default_voice"] = synth.default_voice if meta["voices"] else None
    meta["voice_aliases"] = (dict(synth.builtin_voices.aliases)
                             if meta["voices"] and synth.builtin_voices is not None else {})
    meta["onnxruntime"] = _save_optimized(outdir, ["style"] * styled + list(GRAPHS[1:]))
    # written last, and whole: a directory whose export failed has no model.json, which the
    # runtime refuses, rather than an older one beside newer graphs
    partial = outdir / "model.json.partial"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)
    partial.replace(outdir / "model.json")
    meta["export_seconds"] = time.perf_counter() - start
    logging.info("exported %s to %s in %.1f s", model, outdir, meta["export_seconds"])
    return meta


def _save_optimized(outdir: Path, names: List[str]) -> Optional[str]:
    """Beside each ``<name>.onnx``, onnxruntime's own optimized copy ``<name>.ort``, which
    loads in about a quarter of the time (the runtime uses it when its onnxruntime is the version
    recorded; otherwise it optimizes the ``.onnx`` itself). Optimized at the "extended" level,
    whose result holds no CPU-specific layout, so it runs on any x86-64 or ARM CPU.

    Returns:
        Optional[str]: onnxruntime's version; None when onnxruntime is not installed (then
        only the ``.onnx`` graphs are written).
    """
    try:
        import onnxruntime as ort
    except ImportError:
        logging.warning("onnxruntime is not installed: no optimized .ort copies written")
        return None
    for name in names:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(outdir / f"{name}.ort")
        opts.add_session_config_entry("session.save_model_format", "ORT")
        ort.InferenceSession(str(outdir / f"{name}.onnx"), opts,
                             providers=["CPUExecutionProvider"])
    return ort.__version__


def _voice_styles(synth, mvc) -> Dict[str, Dict[str, object]]:
    """Each built-in voice's style vector, computed by the PyTorch model from its clip, so
    that the runtime speaks in a built-in voice without reading audio."""
    out: Dict[str, Dict[str, object]] = {}
    if synth.builtin_voices is None:
        return out
    for name, info in synth.builtin_voices.entries.items():
        feats = synth.reference_features(torch.from_numpy(synth.voice_reference(name)))
        with torch.no_grad():
            style = mvc.encode_style(feats.unsqueeze(0))
        out[name] = dict(style=style[0].tolist(), description=info.get("description", ""))
    return out

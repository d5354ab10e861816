"""ESPnet's ``Text2Speech`` for MVC models, without ESPnet's task stack: a fast start.

ESPnet's ``Text2Speech`` builds every model through ``TTSTask``, and importing that module
imports every TTS model, text front end and trainer ESPnet has: about 10 s of CPU on 2
cores, most of it ``typeguard`` instrumenting functions at import, ``inflect`` and nltk.
An MVC model needs none of it. :class:`MVCText2Speech` builds the same ``ESPnetTTSModel``
from the same config and weights with the same classes (ESPnet's ``LogMelFbank`` and
``GlobalMVN``, the plugin's MVC and vocoder), and its call is ``Text2Speech.__call__``'s,
so the outputs are ESPnet's (``tests/test_text2speech.py`` compares them). Only the
modules those classes live in are imported, and not all of them: the training-only aligner
is not built (``aligner: none``; ESPnet's JETS modules stay unimported, its weights in the
checkpoint are skipped) and ``LogMelFbank``'s mel matrix is computed without importing
``librosa.filters`` (:mod:`espnet_mvc.espnet.features`; scipy.signal and numba stay
unimported).

It is not a wrapper around ``Text2Speech`` but its stand-in:
:class:`espnet_mvc.inference.synthesizer.MVCSynthesizer` holds one or the other (what
:func:`load_text2speech` returns).

:func:`load_text2speech` uses it for the models it covers (:func:`fast_path_blocker`) and
ESPnet's ``Text2Speech`` for every other model.
"""

import argparse
import importlib
import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np
import torch
import yaml

from espnet_mvc.espnet import registry
from espnet_mvc.espnet.checkpoints import safe_checkpoint_loading, safe_load
from espnet_mvc.text.g2p import plugin_g2p

PathLike = Union[str, Path]
# ESPnet's class-choice names this module builds, and nothing else
_FEATS_EXTRACT = "fbank"
_NORMALIZE = "global_mvn"
# MVC's training-only part, not built for inference (its weights are skipped when loading)
_TRAINING_ONLY = ("tts.aligner.",)


def safe_load_yaml(stream) -> Any:
    """``yaml.safe_load`` with libyaml's parser where PyYAML has it: the same constructor and
    resolver, so the same values, parsed about ten times faster (a config is 0.1 s of
    pure-Python parsing on this project's CPU)."""
    return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_train_config(train_config: PathLike) -> argparse.Namespace:
    """The training config as ESPnet's ``build_model_from_file`` reads it, with
    ``token_list`` a list (read from its file where it names one, as ``TTSTask`` does)."""
    with open(train_config, encoding="utf-8") as f:
        args = argparse.Namespace(**(safe_load_yaml(f) or {}))
    token_list = getattr(args, "token_list", None)
    if isinstance(token_list, str):
        with open(token_list, encoding="utf-8") as f:
            args.token_list = [line[0] + line[1:].rstrip() for line in f]
    return args


def fast_path_blocker(args: argparse.Namespace, vocoder_file: Optional[PathLike] = None,
                      vocoder_config: Optional[PathLike] = None) -> Optional[str]:
    """Why :class:`MVCText2Speech` cannot build this model (None: it can).

    It builds ``tts`` classes of the plugin with ``fbank`` features (or features given to
    the model), ``global_mvn`` normalization (or none), no adapter, and a plugin vocoder or
    Griffin-Lim.
    """
    if getattr(args, "tts", None) not in registry.PLUGIN_TEXT2MEL:
        return f"tts: {getattr(args, 'tts', None)} is not a plugin model"
    if not isinstance(getattr(args, "token_list", None), list):
        return "no token list"
    feats_extract = getattr(args, "feats_extract", None)
    if getattr(args, "odim", None) is None and feats_extract != _FEATS_EXTRACT:
        return f"feats_extract: {feats_extract}"
    for key in ("normalize", "pitch_normalize", "energy_normalize"):
        if getattr(args, key, None) not in (None, _NORMALIZE):
            return f"{key}: {getattr(args, key)}"
    if getattr(args, "use_adapter", False):
        return "use_adapter"
    if vocoder_file is not None:
        from espnet_mvc.vocoder import is_plugin_vocoder

        if not (str(vocoder_file).endswith(".pth")
                and is_plugin_vocoder(vocoder_file, vocoder_config)):
            return f"vocoder {vocoder_file} is not a plugin vocoder"
    return None


class PluginG2pPreprocessor:
    """ESPnet's ``CommonPreprocessor`` at inference for ``token_type: phn`` with a plugin g2p,
    no cleaner and no non-linguistic symbols: raw text -> g2p tokens -> ids (unknown
    tokens -> ``<unk>``), without importing ESPnet's preprocessing stack."""

    def __init__(self, g2p: Callable[[str], List[str]], token_list: List[str]):
        self.g2p = g2p
        self.token2id = {t: i for i, t in enumerate(token_list)}
        if "<unk>" not in self.token2id:
            raise RuntimeError("Unknown symbol '<unk>' doesn't exist in the token_list")
        self.unk_id = self.token2id["<unk>"]

    def __call__(self, uid: str, data: Dict[str, Any]) -> Dict[str, Any]:
        text = data.get("text")
        if isinstance(text, str):
            ids = [self.token2id.get(t, self.unk_id) for t in self.g2p(text)]
            data = dict(data, text=np.array(ids, dtype=np.int64))
        return data


def build_preprocess_fn(args: argparse.Namespace) -> Optional[Callable]:
    """``TTSTask.build_preprocess_fn(args, train=False)``; the plugin's g2p types without
    ESPnet's preprocessing stack (which is imported only for other front ends)."""
    if not getattr(args, "use_preprocessor", True):
        return None
    g2p = plugin_g2p(getattr(args, "g2p", None))
    if (g2p is not None and getattr(args, "token_type", None) == "phn"
            and getattr(args, "cleaner", None) in (None, "none")
            and getattr(args, "non_linguistic_symbols", None) in (None, "none")):
        return PluginG2pPreprocessor(g2p, args.token_list)
    # (importing it registers the plugin's g2p types: espnet_mvc's import hook)
    from espnet2.train.preprocessor import CommonPreprocessor

    return CommonPreprocessor(
        train=False, token_type=args.token_type, token_list=args.token_list,
        bpemodel=args.bpemodel, non_linguistic_symbols=args.non_linguistic_symbols,
        text_cleaner=args.cleaner, g2p_type=args.g2p,
    )


def _plugin_class(name: str):
    module, _, cls = registry.PLUGIN_TEXT2MEL[name].partition(":")
    return getattr(importlib.import_module(module), cls)


class MVCText2Speech:
    """ESPnet's ``Text2Speech`` for the models :func:`fast_path_blocker` accepts.

    Same attributes as ESPnet's (``train_args``, ``model``, ``tts``, ``normalize``,
    ``feats_extract``, ``vocoder``, ``preprocess_fn``, ``decode_conf``, ``fs``,
    ``use_speech`` / ``use_sids`` / ``use_lids`` / ``use_spembs``) and the same call. The
    model has no pitch or energy extractor: ESPnet uses them only to teacher-force, which
    this class does not do.

    Args:
        train_config, model_file: The training config and the weights.
        device (str): "cpu" or "cuda".
        vocoder_file, vocoder_config: A plugin vocoder (``.pth`` + ``.yaml``); None:
            Griffin-Lim, as ESPnet.
        train_args: ``read_train_config(train_config)`` where the caller has read it.
    """

    def __init__(self, train_config: PathLike, model_file: PathLike, device: str = "cpu",
                 vocoder_file: Optional[PathLike] = None,
                 vocoder_config: Optional[PathLike] = None,
                 train_args: Optional[argparse.Namespace] = None):
        from espnet2.tts.espnet_model import ESPnetTTSModel

        args = read_train_config(train_config) if train_args is None else train_args
        blocker = fast_path_blocker(args, vocoder_file, vocoder_config)
        if blocker is not None:
            raise ValueError(f"{train_config}: use ESPnet's Text2Speech ({blocker})")
        feats_extract, odim = None, args.odim
        if odim is None:
            from espnet_mvc.espnet.features import log_mel_fbank

            feats_extract = log_mel_fbank(**args.feats_extract_conf)  # ESPnet's LogMelFbank
            odim = feats_extract.output_size()
        tts_conf = dict(args.tts_conf or {}, aligner="none")  # training only
        tts = _plugin_class(args.tts)(idim=len(args.token_list), odim=odim, **tts_conf)
        model = ESPnetTTSModel(
            feats_extract=feats_extract, pitch_extract=None, energy_extract=None,
            normalize=self._global_mvn(args, "normalize"),
            pitch_normalize=self._global_mvn(args, "pitch_normalize"),
            energy_normalize=self._global_mvn(args, "energy_normalize"),
            tts=tts, **(getattr(args, "model_conf", None) or {}),
        )
        model.to(device)
        state = safe_load(str(model_file), map_location=device)
        if "module" in state:  # deepspeed checkpoints, as ESPnet reads them
            state = state["module"]
        missing = model.load_state_dict(state, strict=False).missing_keys
        if missing:
            raise RuntimeError(f"{model_file}: weights missing for {missing[:5]} (config and "
                               f"weights do not belong together)")
        # parameters of the checkpoint's training-only parts (info() counts them)
        self.training_only_parameters = sum(
            v.numel() for k, v in state.items() if k.startswith(_TRAINING_ONLY))
        model.to(dtype=torch.float32).eval()
        self.device = device
        self.dtype = "float32"
        self.train_args = args
        self.model = model
        self.tts = model.tts
        self.normalize = model.normalize
        self.feats_extract = model.feats_extract
        self.prefer_normalized_feats = False
        self.vocoder = None
        if self.tts.require_vocoder:
            self.vocoder = self._build_vocoder(vocoder_file, vocoder_config, device)
        # what registry's Text2Speech patch leaves for MVC when ESPnet's options are left at
        # their defaults: the model's own rate and temperature
        self.decode_conf = dict(use_teacher_forcing=False)
        self._preprocess_fn = None

    @staticmethod
    def _global_mvn(args, key):
        if getattr(args, key, None) is None:
            return None
        from espnet2.layers.global_mvn import GlobalMVN

        return GlobalMVN(**getattr(args, f"{key}_conf"))

    def _build_vocoder(self, vocoder_file, vocoder_config, device):
        """``TTSTask.build_vocoder_from_file`` for a plugin vocoder or Griffin-Lim."""
        if vocoder_file is not None:
            from espnet_mvc.vocoder import load_vocoder

            vocoder = load_vocoder(vocoder_file, vocoder_config, device)
            registry.warn_vocoder_feature_mismatch(vocoder, vocoder_file, self.model)
            return vocoder.to(dtype=torch.float32).eval()
        conf = {}
        if vocoder_config is not None:
            with open(vocoder_config, encoding="utf-8") as f:
                conf = safe_load_yaml(f) or {}
        if self.feats_extract is not None:
            conf.update(self.feats_extract.get_parameters())
        if not {"n_fft", "n_shift", "fs"} <= set(conf):
            logging.warning("Vocoder is not available. Skipped its building.")
            return None
        from espnet2.utils.griffin_lim import Spectrogram2Waveform

        return Spectrogram2Waveform(**conf)

    @property
    def preprocess_fn(self) -> Optional[Callable]:
        # built on first use: only raw text needs it, and ESPnet's front ends cost seconds
        if self._preprocess_fn is None:
            self._preprocess_fn = build_preprocess_fn(self.train_args)
        return self._preprocess_fn

    @torch.no_grad()
    def __call__(
        self,
        text: Union[str, torch.Tensor, np.ndarray],
        speech: Union[torch.Tensor, np.ndarray, None] = None,
        durations: Union[torch.Tensor, np.ndarray, None] = None,
        spembs: Union[torch.Tensor, np.ndarray, None] = None,
        sids: Union[torch.Tensor, np.ndarray, None] = None,
        lids: Union[torch.Tensor, np.ndarray, None] = None,
        decode_conf: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, torch.Tensor]:
        """Run text-to-speech (``Text2Speech.__call__``)."""
        from espnet2.torch_utils.device_funcs import to_device

        for needed, value, name in ((self.use_speech, speech, "speech"),
                                    (self.use_sids, sids, "sids"),
                                    (self.use_lids, lids, "lids"),
                                    (self.use_spembs, spembs, "spembs")):
            if needed and value is None:
                raise RuntimeError(f"Missing required argument: '{name}'")
        cfg = dict(self.decode_conf, **(decode_conf or {}))
        if cfg.get("use_teacher_forcing"):
            raise ValueError("teacher forcing needs ESPnet's Text2Speech")
        if isinstance(text, str):
            text = self.preprocess_fn("<dummy>", dict(text=text))["text"]
        batch = dict(text=text)
        for name, value in (("speech", speech), ("durations", durations), ("spembs", spembs),
                            ("sids", sids), ("lids", lids)):
            if value is not None:
                batch[name] = value
        batch = to_device(batch, self.device)
        output_dict = self.model.inference(**batch, **cfg)
        if self.vocoder is not None:
            if self.prefer_normalized_feats or output_dict.get("feat_gen_denorm") is None:
                input_feat = output_dict["feat_gen"]
            else:
                input_feat = output_dict["feat_gen_denorm"]
            output_dict.update(wav=self.vocoder(input_feat))
        return output_dict

    @property
    def fs(self) -> Optional[int]:
        if hasattr(self.vocoder, "fs"):
            return self.vocoder.fs
        return getattr(self.tts, "fs", None)

    @property
    def use_speech(self) -> bool:
        return getattr(self.tts, "use_gst", False)

    @property
    def use_sids(self) -> bool:
        return self.tts.spks is not None

    @property
    def use_lids(self) -> bool:
        return self.tts.langs is not None

    @property
    def use_spembs(self) -> bool:
        return self.tts.spk_embed_dim is not None


def load_text2speech(train_config: PathLike, model_file: PathLike, device: str = "cpu",
                     vocoder_file: Optional[PathLike] = None,
                     vocoder_config: Optional[PathLike] = None):
    """:class:`MVCText2Speech` where it covers the model, else ESPnet's ``Text2Speech``.

    Checkpoints load with ``torch.load(weights_only=True)`` either way
    (:mod:`espnet_mvc.espnet.checkpoints`).
    """
    args = read_train_config(train_config)
    if fast_path_blocker(args, vocoder_file, vocoder_config) is None:
        return MVCText2Speech(train_config, model_file, device, vocoder_file, vocoder_config,
                              train_args=args)
    from espnet2.bin.tts_inference import Text2Speech

    with safe_checkpoint_loading():
        return Text2Speech(
            train_config=str(train_config), model_file=str(model_file), device=device,
            vocoder_file=None if vocoder_file is None else str(vocoder_file),
            vocoder_config=None if vocoder_config is None else str(vocoder_config),
        )

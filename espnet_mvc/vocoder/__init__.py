"""Neural vocoders trained by the plugin and loadable by ESPnet's ``Text2Speech``.

A trained vocoder is two files, written by :mod:`espnet_mvc.vocoder.trainer`
(``python -m espnet_mvc.bin.train_vocoder``): ``vocoder.pth``, the generator's state_dict,
and ``vocoder.yaml``::

    vocoder_type: vocos            # generator class, a key of VOCODER_CLASSES
    vocoder_params: {...}          # its constructor keywords
    fs: 24000
    feats_extract: fbank           # the input features: ESPnet's LogMelFbank with
    feats_extract_conf: {...}      # fs, n_fft, win_length, hop_length, n_mels, fmin, fmax

:func:`load_vocoder` rebuilds it. After ``import espnet_mvc``, ESPnet's own
``Text2Speech(..., vocoder_file=".../vocoder.pth", vocoder_config=".../vocoder.yaml")`` uses
it too (see ``_patch_build_vocoder`` in :mod:`espnet_mvc.espnet.registry`). The vocoder
takes the TTS model's denormalized log-mel (``feat_gen_denorm``), so it must have been
trained on features with the TTS config's ``feats_extract_conf``.
"""

from pathlib import Path
from typing import List, Optional, Union

import torch
import torch.nn as nn
import yaml

from espnet_mvc.vocoder.vocos import VocosGenerator

#: ``vocoder_type`` of a config -> generator class.
VOCODER_CLASSES = {"vocos": VocosGenerator}
#: Name of the config written next to ``vocoder.pth`` (the default of ``vocoder_config``).
CONFIG_NAME = "vocoder.yaml"

PathLike = Union[str, Path]


class Vocoder(nn.Module):
    """A generator with ESPnet's vocoder interface: log-mel (T, n_mels) -> wav (T * hop,).

    Args:
        generator (nn.Module): Generator with ``inference(mel)`` ((T, n_mels) -> (T*hop,)),
            ``n_mels`` and ``hop_length``.
        fs (int): Sampling rate of the output (``Text2Speech.fs`` reads it).
        feats_extract_conf (dict): ``LogMelFbank`` options of the features it expects.
    """

    def __init__(self, generator: nn.Module, fs: int, feats_extract_conf: Optional[dict] = None):
        super().__init__()
        self.generator = generator
        self.fs = int(fs)
        self.hop_length = generator.hop_length
        self.n_mels = generator.n_mels
        self.feats_extract_conf = dict(feats_extract_conf or {})

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Synthesize one utterance.

        Args:
            mel (Tensor): Log-mel (T, n_mels), log10 of mel amplitude (``LogMelFbank``).

        Returns:
            Tensor: Waveform (T * hop_length,).
        """
        return self.generator.inference(mel)


def default_config_path(vocoder_file: PathLike) -> Path:
    """``vocoder.yaml`` next to ``vocoder_file``."""
    return Path(vocoder_file).parent / CONFIG_NAME


def read_config(vocoder_file: PathLike, vocoder_config: Optional[PathLike] = None) -> dict:
    """Read and check a vocoder config.

    Args:
        vocoder_file: The generator weights (named in errors).
        vocoder_config: The config; default ``vocoder.yaml`` next to ``vocoder_file``.

    Returns:
        dict: The config.

    Raises:
        ValueError: the config is missing or unreadable, is not a vocoder config of this
            plugin, or names an unknown vocoder type.
    """
    path = Path(vocoder_config) if vocoder_config else default_config_path(vocoder_file)
    if not path.is_file():
        raise ValueError(
            f"vocoder {vocoder_file}: config {path} not found (pass vocoder_config, or keep "
            f"the {CONFIG_NAME} written with it in the same folder)"
        )
    try:
        conf = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"vocoder {vocoder_file}: config {path} is not valid YAML ({e})") from e
    if not is_plugin_config(conf):
        raise ValueError(
            f"vocoder {vocoder_file}: config {path} is not an espnet-mvc vocoder config "
            f"(no 'vocoder_type' key)"
        )
    if conf["vocoder_type"] not in VOCODER_CLASSES:
        raise ValueError(
            f"vocoder {vocoder_file}: config {path} names unknown vocoder_type "
            f"{conf['vocoder_type']!r} (known: {', '.join(sorted(VOCODER_CLASSES))})"
        )
    if "fs" not in conf:
        raise ValueError(f"vocoder {vocoder_file}: config {path} has no 'fs'")
    return conf


def is_plugin_config(conf) -> bool:
    """True for a parsed config written by this plugin's vocoder trainer."""
    # parallel_wavegan configs (ESPnet's .pkl vocoders) say generator_type, not vocoder_type
    return isinstance(conf, dict) and "vocoder_type" in conf


def is_plugin_vocoder(vocoder_file: PathLike, vocoder_config: Optional[PathLike] = None) -> bool:
    """True when ``vocoder_file``'s config (given or default) is one of this plugin's.

    A missing or unreadable config is not ours (the caller falls back to ESPnet).
    """
    path = Path(vocoder_config) if vocoder_config else default_config_path(vocoder_file)
    try:
        return is_plugin_config(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False


def feature_mismatches(vocoder: Vocoder, feats_params: dict) -> List[str]:
    """Where a TTS model's features differ from those the vocoder was trained on.

    Args:
        vocoder (Vocoder): A loaded vocoder.
        feats_params (dict): ``model.feats_extract.get_parameters()`` of an ESPnet TTS model
            (``fs``, ``n_fft``, ``n_shift``, ``win_length``, ``n_mels``, ``fmin``, ``fmax``).

    Returns:
        list: ``"<option>: model <x>, vocoder <y>"`` for each difference (empty if none).
    """
    mine = vocoder.feats_extract_conf

    def normal(conf: dict, hop_key: str) -> dict:
        fs, n_fft = conf.get("fs"), conf.get("n_fft")
        # None means the default LogMelFbank applies: win_length = n_fft, fmin 0, fmax fs/2
        return dict(
            fs=fs,
            n_fft=n_fft,
            hop_length=conf.get(hop_key),
            win_length=conf.get("win_length") or n_fft,
            n_mels=conf.get("n_mels"),
            fmin=conf.get("fmin") or 0,
            fmax=conf.get("fmax") or (fs / 2 if fs else None),
        )

    if not mine:
        return []
    model, voc = normal(feats_params, "n_shift"), normal(mine, "hop_length")
    return [
        f"{k}: model {model[k]}, vocoder {voc[k]}"
        for k in model
        if model[k] is not None and voc[k] is not None and float(model[k]) != float(voc[k])
    ]


def build_generator(conf: dict) -> nn.Module:
    """The (untrained) generator a config describes."""
    return VOCODER_CLASSES[conf["vocoder_type"]](**(conf.get("vocoder_params") or {}))


def load_vocoder(
    vocoder_file: PathLike,
    vocoder_config: Optional[PathLike] = None,
    device: Union[str, torch.device] = "cpu",
) -> Vocoder:
    """Load a trained vocoder (eval mode).

    Args:
        vocoder_file: ``vocoder.pth`` (generator state_dict), read with
            ``torch.load(weights_only=True)``.
        vocoder_config: Its ``vocoder.yaml``; default: the one next to ``vocoder_file``.
        device: Where to put it.

    Returns:
        Vocoder: ``vocoder(mel)`` with mel (T, n_mels) gives a (T * hop,) waveform;
        ``vocoder.fs`` is its sampling rate.

    Raises:
        ValueError: missing / foreign / unknown-type config, or weights that do not fit it.
        espnet_mvc.espnet.checkpoints.UnsafeCheckpointError: the file holds pickled objects
            other than tensors and plain containers (it is not unpickled).
    """
    from espnet_mvc.espnet.checkpoints import safe_load

    conf = read_config(vocoder_file, vocoder_config)
    generator = build_generator(conf)
    state = safe_load(str(vocoder_file), map_location="cpu")
    if isinstance(state, dict) and isinstance(state.get("generator"), dict):
        state = state["generator"]  # a trainer checkpoint.pth works too
    try:
        generator.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise ValueError(
            f"vocoder {vocoder_file}: weights do not fit the generator its config "
            f"describes ({e})"
        ) from e
    vocoder = Vocoder(generator, conf["fs"], conf.get("feats_extract_conf"))
    return vocoder.to(device).eval()


__all__ = [
    "VOCODER_CLASSES",
    "Vocoder",
    "VocosGenerator",
    "build_generator",
    "feature_mismatches",
    "is_plugin_vocoder",
    "load_vocoder",
    "read_config",
]

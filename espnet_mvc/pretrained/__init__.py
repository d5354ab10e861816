"""Models shipped inside the package, loadable by name.

    >>> from espnet_mvc.api import MVCSynthesizer
    >>> tts = MVCSynthesizer.from_pretrained("kokoro_en_mvc")  # espnet-mvc synth --model ...

    >>> import espnet_mvc
    >>> from espnet2.bin.tts_inference import Text2Speech
    >>> t2s = Text2Speech(**espnet_mvc.pretrained.text2speech_kwargs("kokoro_en_mvc"))
    >>> wave, fs = espnet_mvc.pretrained.voice_reference("kokoro_en_mvc")  # its default voice
    >>> t2s("Hello there.", speech=wave)["wav"]

Each model is a directory here holding ESPnet's packed archive (``packed.zip``: config,
weights, feature statistics, token list), its vocoder (``vocoder.pth`` + ``vocoder.yaml``,
:mod:`espnet_mvc.vocoder`), a model card (``MODEL_CARD.md``), its built-in voices
(``voices/``: ``voices.json`` and one reference clip per voice, see
:mod:`espnet_mvc.inference.builtin_voices`) and a small held-out set (``heldout/``: texts,
references and the corpus recordings) used by the quality benchmark and the CI quality test.
"""

from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

ROOT = Path(__file__).resolve().parent


def available() -> List[str]:
    """Names of the shipped models (directories with a packed archive)."""
    return sorted(p.name for p in ROOT.iterdir() if (p / "packed.zip").is_file())


def path(name: str) -> Path:
    """Directory of the shipped model ``name``.

    Raises:
        KeyError: no such shipped model (the message lists the shipped ones).
    """
    d = ROOT / name
    if not (d / "packed.zip").is_file():
        raise KeyError(f"no shipped model {name!r}; shipped: {available() or 'none'}")
    return d


def locate(model: Union[str, Path]) -> Union[str, Path]:
    """A shipped model's directory for its name (``kokoro_en_mvc``); any other model (a path,
    or a name that is not shipped: loading it says what is wrong) as it is given."""
    if isinstance(model, str) and "/" not in model and not Path(model).exists():
        try:
            return path(model)
        except KeyError:
            pass
    return model


def text2speech_kwargs(name: str) -> Dict[str, str]:
    """Keyword arguments of ESPnet's ``Text2Speech`` for a shipped model.

    The archive is unpacked (after the member checks of
    :func:`espnet_mvc.inference.loading.safe_unpack`) into the cache; the vocoder files are
    used in place.
    """
    from espnet_mvc.inference.loading import safe_unpack

    d = path(name)
    files = safe_unpack(d / "packed.zip")
    kw = dict(
        train_config=files.get("tts_train_config") or files["train_config"],
        model_file=files.get("tts_model_file") or files["model_file"],
    )
    if (d / "vocoder.pth").is_file():
        kw.update(vocoder_file=str(d / "vocoder.pth"), vocoder_config=str(d / "vocoder.yaml"))
    return kw


def voice_reference(model: Union[str, Path], voice: Optional[str] = None,
                    fs: Optional[int] = None) -> Tuple[np.ndarray, int]:
    """The reference waveform of a built-in voice, for ESPnet's ``Text2Speech(speech=...)``.

    The clip is loaded as :class:`espnet_mvc.inference.synthesizer.MVCSynthesizer` loads a
    voice (mono, silence trimmed, checked;
    :func:`espnet_mvc.inference.reference_audio.load_reference`), so ``Text2Speech`` gets the
    reference ``espnet-mvc synth --voice`` uses.

    Args:
        model: A shipped model's name (``kokoro_en_mvc``) or directory, a packed archive or
            an experiment directory with a ``voices/`` directory (see
            :func:`espnet_mvc.inference.builtin_voices.voices_dir_of`).
        voice (Optional[str]): A voice's name or an alias (``alloy``); None: the default.
        fs (Optional[int]): Sample rate wanted (the model's; ``Text2Speech`` does not
            resample ``speech``); None: the clip's own (24 kHz as ``ship_model.py`` writes).

    Returns:
        Tuple[np.ndarray, int]: float32 waveform (T,) and its sample rate.

    Raises:
        ValueError: the model has no built-in voices, or ``voice`` is not one of them.
    """
    import soundfile as sf

    from espnet_mvc.inference.builtin_voices import VOICES_JSON, BuiltinVoices, voices_dir_of
    from espnet_mvc.inference.reference_audio import load_reference

    model = locate(model)
    voices = BuiltinVoices.find(model)
    if voices is None:
        raise ValueError(f"{model} has no built-in voices (no "
                         f"{voices_dir_of(model) / VOICES_JSON})")
    clip = voices.clip(voice if voice is not None else voices.default)
    fs = fs or sf.info(str(clip)).samplerate
    return load_reference(clip, fs), fs

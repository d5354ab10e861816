"""Models shipped inside the package, loadable by name.

    >>> from espnet_mvc.api import MVCSynthesizer
    >>> tts = MVCSynthesizer.from_pretrained("kokoro_en_mvc")        # or espnet-mvc synth --model kokoro_en_mvc

    >>> import espnet_mvc
    >>> from espnet2.bin.tts_inference import Text2Speech
    >>> t2s = Text2Speech(**espnet_mvc.pretrained.text2speech_kwargs("kokoro_en_mvc"))

Each model is a directory here holding ESPnet's packed archive (``packed.zip``: config,
weights, feature statistics, token list), its vocoder (``vocoder.pth`` + ``vocoder.yaml``,
:mod:`espnet_mvc.vocoder`), a model card (``MODEL_CARD.md``) and a small held-out set
(``heldout/``: texts, references and the corpus recordings) used by the quality benchmark
and the CI quality test.
"""

from pathlib import Path
from typing import Dict, List

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


def text2speech_kwargs(name: str) -> Dict[str, str]:
    """Keyword arguments of ESPnet's ``Text2Speech`` for a shipped model.

    The archive is unpacked (after the member checks of :func:`espnet_mvc.api.safe_unpack`)
    into the cache; the vocoder files are used in place.
    """
    from espnet_mvc.api import safe_unpack

    d = path(name)
    files = safe_unpack(d / "packed.zip")
    kw = dict(
        train_config=files.get("tts_train_config") or files["train_config"],
        model_file=files.get("tts_model_file") or files["model_file"],
    )
    if (d / "vocoder.pth").is_file():
        kw.update(vocoder_file=str(d / "vocoder.pth"), vocoder_config=str(d / "vocoder.yaml"))
    return kw

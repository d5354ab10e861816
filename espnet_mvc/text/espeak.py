"""espeak-ng without root: phonemizer environment and a ctypes waveform synthesizer.

Both use the shared library and voice data shipped in the ``espeakng-loader`` wheel, so
nothing has to be installed system-wide.

* :func:`configure_phonemizer` points ``phonemizer`` (and therefore ESPnet's own
  ``espnet2.text.phoneme_tokenizer`` g2p types ``espeak_ng_*``) at that library, in this
  process only; :func:`setup_espeak_env` does it through environment variables, for
  scripts that start other processes.
* :class:`EspeakSynthesizer` drives the espeak-ng C API through ``ctypes``
  (synchronous output at 22050 Hz) to make waveforms; it is what the embedded offline
  corpus (``egs2/mini_espeak``) and the tests use.
* :func:`phonemize` phonemizes one string with ESPnet's per-language g2p settings (the
  same phonemizer calls as ESPnet's ``PhonemeTokenizer``, made without importing ESPnet, so
  that the ONNX runtime needs neither ESPnet nor torch) and strips the French liaison marks
  (``e-``) that espeak emits: the recipes' multilingual front end
  (``--g2p espeak_ng_multilingual``). :class:`LanguageG2p` is that front end in
  one language as an ESPnet g2p (``g2p: espeak_ng_multilingual_en`` in a packed model).
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

# ESPnet g2p type for each language code used in this project's recipes.
LANG2G2P: Dict[str, str] = {
    "en": "espeak_ng_english_us_vits",
    "es": "espeak_ng_spanish",
    "de": "espeak_ng_german",
    "fr": "espeak_ng_french",
    "it": "espeak_ng_italian",
    "nl": "espeak_ng_dutch",
    "fi": "espeak_ng_finnish",
    "ru": "espeak_ng_russian",
    "el": "espeak_ng_greek",
    "hu": "espeak_ng_hungarian",
    "pl": "espeak_ng_polish",
}

# espeak voice (language) for each language code
LANG2VOICE: Dict[str, str] = {
    "en": "en-us",
    "es": "es",
    "de": "de",
    "fr": "fr",  # "fr" (not "fr-fr") accepts "+variant" suffixes
    "it": "it",
    "nl": "nl",
    "fi": "fi",
    "ru": "ru",
    "el": "el",
    "hu": "hu",
    "pl": "pl",
}


class EspeakError(RuntimeError):
    """An espeak-ng library, voice or synthesis problem, with a message saying what."""


def _loader_paths():
    try:
        import espeakng_loader
    except ImportError as e:  # pragma: no cover - it is a hard dependency
        raise EspeakError(
            "the 'espeakng-loader' package is not installed "
            "(pip install espeakng-loader); it ships the espeak-ng library and data"
        ) from e
    lib = espeakng_loader.get_library_path()
    data = espeakng_loader.get_data_path()
    return lib, data


def configure_phonemizer() -> None:
    """Point phonemizer's espeak backend at the espeakng-loader library and data.

    Configures ``phonemizer``'s ``EspeakWrapper`` in this process only (no environment
    variable is set, so nothing leaks into child processes), unless the environment or an
    earlier ``EspeakWrapper.set_library`` already names a library / data directory. Never
    raises: without the loader a system espeak-ng may still work.
    """
    try:
        lib, data = _loader_paths()
        from phonemizer.backend.espeak.wrapper import EspeakWrapper
    except (EspeakError, ImportError):
        return
    if (EspeakWrapper._ESPEAK_LIBRARY is None and not os.environ.get("PHONEMIZER_ESPEAK_LIBRARY")
            and Path(lib).is_file()):
        EspeakWrapper.set_library(lib)
    if (EspeakWrapper._ESPEAK_DATA_PATH is None
            and not os.environ.get("PHONEMIZER_ESPEAK_DATA_PATH")
            and not os.environ.get("ESPEAK_DATA_PATH") and Path(data).is_dir()):
        EspeakWrapper.set_data_path(data)


def setup_espeak_env(force: bool = False) -> Dict[str, str]:
    """Point phonemizer's espeak backend at the espeakng-loader library and data.

    Sets ``PHONEMIZER_ESPEAK_LIBRARY`` and ``ESPEAK_DATA_PATH`` unless they are already
    set (or ``force``). Returns the two values in effect. Never raises: if the loader is
    missing, the environment is left as it is (a system espeak-ng may still work).
    """
    try:
        lib, data = _loader_paths()
    except EspeakError:
        return {
            k: os.environ.get(k, "")
            for k in ("PHONEMIZER_ESPEAK_LIBRARY", "ESPEAK_DATA_PATH")
        }
    if force or not os.environ.get("PHONEMIZER_ESPEAK_LIBRARY"):
        if Path(lib).is_file():
            os.environ["PHONEMIZER_ESPEAK_LIBRARY"] = lib
    if force or not os.environ.get("ESPEAK_DATA_PATH"):
        if Path(data).is_dir():
            os.environ["ESPEAK_DATA_PATH"] = data
    return {
        k: os.environ.get(k, "")
        for k in ("PHONEMIZER_ESPEAK_LIBRARY", "ESPEAK_DATA_PATH")
    }


# ----------------------------------------------------------------------------------
# phonemes
# ----------------------------------------------------------------------------------


def strip_liaison(tokens: Sequence[str]) -> List[str]:
    """Remove espeak's French liaison marks: ``['l', 'e-', 'z']`` -> ``['l', 'e', 'z']``.

    A token that is only ``-`` is dropped.
    """
    out = []
    for t in tokens:
        if t.endswith("-") and len(t) > 1:
            t = t.rstrip("-")
        if t == "-":
            continue
        out.append(t)
    return out


_TOKENIZERS: Dict[str, object] = {}


# ESPnet's settings of phonemizer's espeak backend for each g2p type of LANG2G2P
# (``espnet2.text.phoneme_tokenizer.PhonemeTokenizer``): with stress, punctuation kept, one
# token per phone; ``espeak_ng_english_us_vits`` (VITS's own front end) strips, keeps word
# spaces and makes one token per character, a space becoming ``<space>``.
_VITS_LIKE = {"espeak_ng_english_us_vits"}
_G2P_LANGUAGE = {"espeak_ng_english_us_vits": "en-us", "espeak_ng_french": "fr-fr"}


class _EspeakG2p:
    """ESPnet's ``PhonemeTokenizer(g2p_type=<espeak_ng_*>)`` (no cleaner, no non-linguistic
    symbols) made of the same phonemizer calls, without importing ESPnet: the front end of
    the recipes' multilingual models, which the ONNX runtime reads text with too.
    ``tests/test_espeak.py`` checks it against ESPnet's on every language of LANG2G2P."""

    def __init__(self, g2p_type: str):
        import logging

        from phonemizer.backend import BACKENDS
        from phonemizer.separator import Separator

        vits = g2p_type in _VITS_LIKE
        language = _G2P_LANGUAGE.get(g2p_type) or LANG2VOICE[
            next(k for k, v in LANG2G2P.items() if v == g2p_type)]
        self.separator = Separator(word=" " if vits else None, syllable=None,
                                   phone="" if vits else " ")
        logger = logging.getLogger("phonemizer")
        logger.setLevel(logging.ERROR)  # as ESPnet: the backend warns at every call
        self.backend = BACKENDS["espeak"](language=language, with_stress=True,
                                          preserve_punctuation=True, logger=logger)
        self.strip, self.by_character = vits, vits

    def __call__(self, text: str) -> List[str]:
        out = self.backend.phonemize([text], separator=self.separator, strip=self.strip,
                                     njobs=1)[0]
        if self.by_character:
            return [c.replace(" ", "<space>") for c in out]
        return out.split()


def phonemize(text: str, lang: str, cleaner: Optional[str] = None) -> List[str]:
    """Phoneme tokens of ``text`` as ESPnet's g2p for ``lang`` gives them (see
    :data:`LANG2G2P`), except that French liaison marks are stripped. ``cleaner`` is an
    ESPnet text cleaner name (e.g. ``tacotron``; it imports ESPnet) or None.
    """
    configure_phonemizer()
    lang = lang.split("-")[0].split("_")[0].lower()
    if lang not in LANG2G2P:
        raise EspeakError(
            f"no espeak g2p for language '{lang}'; known: {sorted(LANG2G2P)}"
        )
    key = LANG2G2P[lang]
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = _EspeakG2p(key)
    if cleaner and cleaner != "none":
        ckey = "cleaner:" + cleaner
        if ckey not in _TOKENIZERS:
            from espnet2.text.cleaner import TextCleaner

            _TOKENIZERS[ckey] = TextCleaner([cleaner])
        text = _TOKENIZERS[ckey](text)
    tokens = _TOKENIZERS[key](text)
    if lang == "fr":
        tokens = strip_liaison(tokens)
    return tokens


# The recipes' name for the multilingual front end (each utterance phonemized by
# :func:`phonemize` in its own language before training).
MULTILINGUAL_G2P = "espeak_ng_multilingual"


def multilingual_g2p_type(lang: str) -> str:
    """The g2p type of the multilingual front end in one language (``espeak_ng_multilingual_en``).

    ESPnet's text preprocessing knows a model only by its config's ``g2p`` name, so the
    language has to be part of that name.
    """
    lang = lang.split("-")[0].split("_")[0].lower()
    if lang not in LANG2G2P:
        raise EspeakError(f"no espeak g2p for language '{lang}'; known: {sorted(LANG2G2P)}")
    return f"{MULTILINGUAL_G2P}_{lang}"


class LanguageG2p:
    """ESPnet g2p (``text -> tokens``) of the multilingual front end in one language.

    Gives exactly the tokens the recipes trained on (:func:`phonemize`, French liaison
    marks stripped), so a packed model whose config names ``espeak_ng_multilingual_<lang>``
    reads raw text through ESPnet's own ``Text2Speech``.
    """

    def __init__(self, lang: str):
        multilingual_g2p_type(lang)  # checks the language
        self.lang = lang

    def __call__(self, text: str) -> List[str]:
        return phonemize(text, self.lang)


# ----------------------------------------------------------------------------------
# waveform synthesis through the C API
# ----------------------------------------------------------------------------------
AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
espeakCHARS_UTF8 = 1
espeakENDPAUSE = 0x1000
espeakRATE, espeakVOLUME, espeakPITCH, espeakRANGE = 1, 2, 3, 4
EE_OK, EE_INTERNAL_ERROR, EE_BUFFER_FULL, EE_NOT_FOUND = 0, -1, 1, 2

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _EspeakLib:
    """The process-wide espeak-ng instance (the C library keeps global state)."""

    _instance: Optional["_EspeakLib"] = None
    _guard = threading.Lock()

    def __init__(self):
        lib_path, data_path = _loader_paths()
        if not Path(lib_path).is_file():
            raise EspeakError(f"espeak-ng library not found at {lib_path}")
        try:
            self.lib = ctypes.CDLL(lib_path)
        except OSError as e:
            raise EspeakError(f"cannot load espeak-ng library {lib_path}: {e}") from e
        self.data_path = data_path
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synchronize.restype = ctypes.c_int
        # espeak-ng >= 1.52 has its own PRNG (noise, flutter): seeding it makes the
        # output reproducible; some code paths also call libc rand()
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.restype = None
            self._set_seed.argtypes = [ctypes.c_long]
        try:
            self._srand = ctypes.CDLL(None).srand
            self._srand.argtypes = [ctypes.c_uint]
        except (OSError, AttributeError):  # pragma: no cover
            self._srand = None
        # the parent of espeak-ng-data or the directory itself are both accepted
        sr = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, str(Path(data_path).parent).encode(), 0
        )
        if sr <= 0:
            raise EspeakError(
                f"espeak_Initialize failed (returned {sr}) with data path {data_path}"
            )
        self.sample_rate = int(sr)
        self._chunks: List[np.ndarray] = []

        def _cb(wav, n, events):
            if wav and n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._cb = _SYNTH_CALLBACK(_cb)  # keep a reference: ctypes would free it
        lib.espeak_SetSynthCallback(self._cb)
        self.lock = threading.Lock()
        self.voice_dir = Path(data_path) / "voices" / "!v"
        self.current_voice: Optional[str] = None

    @classmethod
    def get(cls) -> "_EspeakLib":
        with cls._guard:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance


def list_languages() -> List[str]:
    """Language voice names accepted by espeak_SetVoiceByName (lower case)."""
    _, data = _loader_paths()
    d = Path(data) / "lang"
    return sorted({p.name.lower() for p in d.rglob("*") if p.is_file()})


# common spellings that espeak-ng does not accept by name
_VOICE_ALIASES = {"en-gb": "en", "fr-fr": "fr", "de-de": "de", "es-es": "es"}


def list_variants() -> List[str]:
    """Names of the voice variants usable as ``<lang>+<variant>``."""
    _, data = _loader_paths()
    d = Path(data) / "voices" / "!v"
    return sorted(p.name for p in d.iterdir() if p.is_file()) if d.is_dir() else []


class EspeakSynthesizer:
    """Synthesize speech with espeak-ng through its C API (pip-only, no root).

    >>> syn = EspeakSynthesizer("en-us+f2", rate=170, pitch=55)
    >>> wav = syn("Hello world.")          # float32 numpy array in [-1, 1]
    >>> syn.sample_rate
    22050

    ``voice`` is ``<language>[+<variant>]`` such as ``en-us+f2``, ``es+m3``, ``fr+f2``,
    ``de+m1``; ``rate`` is in words per minute (80..450, espeak's default 175), ``pitch``
    and ``pitch_range`` are 0..100 (default 50). The library is process-global, so
    instances share it and switch voice/parameters under a lock before each call.
    """

    def __init__(
        self,
        voice: str = "en-us",
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        volume: int = 100,
    ):
        self._lib = _EspeakLib.get()
        self.voice = voice
        self.rate = int(rate)
        self.pitch = int(pitch)
        self.pitch_range = int(pitch_range)
        self.volume = int(volume)
        if not 80 <= self.rate <= 450:
            raise EspeakError(f"rate {rate} out of range 80..450 words per minute")
        for name, v in (("pitch", pitch), ("pitch_range", pitch_range)):
            if not 0 <= int(v) <= 100:
                raise EspeakError(f"{name} {v} out of range 0..100")
        # validate the voice now, so a bad voice fails before any synthesis
        with self._lib.lock:
            self._select()

    @property
    def sample_rate(self) -> int:
        return self._lib.sample_rate

    def _select(self):
        lib = self._lib
        lang, _, variant = self.voice.partition("+")
        if lang.lower() in _VOICE_ALIASES:
            lang = _VOICE_ALIASES[lang.lower()]
            self.voice = lang + ("+" + variant if variant else "")
        if not lang:
            raise EspeakError(f"empty espeak language in voice '{self.voice}'")
        if variant and not (lib.voice_dir / variant).is_file():
            raise EspeakError(
                f"unknown espeak voice variant '{variant}' in voice '{self.voice}' "
                f"(looked in {lib.voice_dir}); e.g. f1..f5, m1..m7: {list_variants()[:12]}"
            )
        if lib.current_voice != self.voice:
            rc = lib.lib.espeak_SetVoiceByName(self.voice.encode())
            if rc != EE_OK:
                lib.current_voice = None
                raise EspeakError(
                    f"unknown espeak voice/language '{self.voice}' "
                    f"(espeak_SetVoiceByName returned {rc}; data: {lib.data_path}); "
                    f"known languages: {' '.join(list_languages())}; "
                    "add an optional +variant such as +f2 or +m3"
                )
            lib.current_voice = self.voice
        for par, val in (
            (espeakRATE, self.rate),
            (espeakPITCH, self.pitch),
            (espeakRANGE, self.pitch_range),
            (espeakVOLUME, self.volume),
        ):
            lib.lib.espeak_SetParameter(par, int(val), 0)

    def synth_int16(self, text: str, seed: int = 0) -> np.ndarray:
        """Synthesize ``text``; int16 samples at :attr:`sample_rate`.

        espeak-ng keeps wave-generator state (pitch flutter phase) between calls, so
        the output is reproducible for the same *sequence* of calls in a fresh process
        (the seed fixes espeak's own PRNG), not call by call.
        """
        if not isinstance(text, str) or not text.strip():
            raise EspeakError("cannot synthesize empty text")
        lib = self._lib
        with lib.lock:
            self._select()
            lib._chunks = []
            if lib._set_seed is not None:
                lib._set_seed(int(seed))
            if lib._srand is not None:
                lib._srand(int(seed) & 0xFFFFFFFF)
            buf = ctypes.create_string_buffer(text.encode("utf-8"))
            rc = lib.lib.espeak_Synth(
                buf,
                ctypes.sizeof(buf),
                0,
                POS_CHARACTER,
                0,
                espeakCHARS_UTF8 | espeakENDPAUSE,
                None,
                None,
            )
            lib.lib.espeak_Synchronize()
            chunks, lib._chunks = lib._chunks, []
        if rc != EE_OK:
            raise EspeakError(f"espeak_Synth failed with code {rc} for voice {self.voice}")
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16)

    def __call__(self, text: str, seed: int = 0) -> np.ndarray:
        """Synthesize ``text``; float32 waveform in [-1, 1] at :attr:`sample_rate`."""
        return self.synth_int16(text, seed).astype(np.float32) / 32768.0

    def to_file(self, text: str, path, fs: Optional[int] = None, seed: int = 0) -> float:
        """Synthesize ``text`` into a wav/flac file (resampled to ``fs`` if given).

        Returns the duration in seconds.
        """
        import soundfile as sf

        wav = self(text, seed)
        sr = self.sample_rate
        if fs is not None and fs != sr:
            # imported here: only a file at another rate than espeak's needs the resampler
            from espnet_mvc.inference.reference_audio import resample

            wav = resample(wav, sr, fs)
            sr = fs
        sf.write(str(path), wav, sr, subtype="PCM_16")
        return len(wav) / sr

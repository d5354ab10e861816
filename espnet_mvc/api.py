"""Plugin API: load a trained MVC model and synthesize, with every MVC option exposed.

    >>> from espnet_mvc.api import MVCSynthesizer
    >>> tts = MVCSynthesizer.from_pretrained("exp/tts_mvc/packed.zip")
    >>> out = tts.synthesize("Hello there.", ref="voice.wav", n_timesteps=4)
    >>> out.wav, out.fs, out.rtf
    >>> tts = MVCSynthesizer.from_pretrained("kokoro_en_mvc")     # it has built-in voices:
    >>> tts.synthesize("Hello there.").voice == tts.default_voice  # with no ref, the default
    >>> tts.synthesize("Hello there.", voice="alloy")              # a name (OpenAI's too)

Any ESPnet TTS model loads: MVC models as ESPnet's ``Text2Speech`` builds them but without
ESPnet's task stack (:mod:`espnet_mvc.text2speech`, a fast start), every other model through
ESPnet's ``Text2Speech`` itself. Two safety rules hold for downloaded archives: members are
checked before unpacking (no absolute paths, no ``..``, no links), and checkpoints load with
``weights_only=True`` (:mod:`espnet_mvc.checkpoints`) so a checkpoint cannot execute code.
Configs are read with ``yaml.safe_load`` (as ESPnet does).
"""

import contextlib
import hashlib
import json
import logging
import os
import tarfile
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
import yaml

import espnet_mvc  # noqa: F401  (registers the plugin)
from espnet_mvc.audio import AudioInput, load_reference
from espnet_mvc.builtin_voices import BuiltinVoices
from espnet_mvc.checkpoints import UnsafeCheckpointError
from espnet_mvc.registry import is_mvc
from espnet_mvc.result import SynthesisResult  # noqa: F401  (part of this API)
from espnet_mvc.text.languages import default_language, spoken_language  # noqa: F401
from espnet_mvc.text.tokens import check_token_ids
from espnet_mvc.text.phrases import (  # noqa: F401  (split_* are this module's API too)
    fade_ramp, faded, phrase_token_ids, split_phrases, split_token_ids,
)
from espnet_mvc.tts.mvc.decode_options import DecodeOptions

# g2p names ESPnet's own tokenizer handles; anything else means the recipe phonemized text
# itself (e.g. the multilingual espeak front end), and so does this API.
_SELF_PHONEMIZED = {"espeak_ng_multilingual", "none", None}
# Checkpoint names looked for in an experiment directory, best first.
_CHECKPOINTS = ("valid.loss.best.pth", "valid.loss.ave.pth", "train.loss.best.pth",
                "latest.pth")
# espeak-ng (behind the kokoro_en and espeak front ends) keeps global state and is not
# thread-safe: a server that synthesizes from several threads runs text front ends one at a time.
_FRONTEND_LOCK = threading.Lock()


class ModelLoadError(RuntimeError):
    """The model (archive, directory or files) cannot be loaded."""


# Paths an ESPnet TTS config names relative to the recipe dir it was trained in.
_RECIPE_PATH_KEYS = (
    ("normalize_conf", "stats_file"),
    ("pitch_normalize_conf", "stats_file"),
    ("energy_normalize_conf", "stats_file"),
    (None, "token_list"),
    (None, "bpemodel"),
)


@contextlib.contextmanager
def _resolve_recipe_paths(config: Path, exp_dir: Path) -> Iterator[Path]:
    """An exp dir's ``config.yaml`` names files (feature stats, token list, data dirs)
    relative to the recipe dir that trained it, and ESPnet opens them relative to the
    current directory. Where one is missing from there but found relative to a parent of
    ``exp_dir`` (the recipe dir), yield a copy of the config (in a temporary dir, removed
    on exit: ESPnet reads these files only while it builds the model) with those paths
    made absolute; else yield ``config`` itself.

    Raises:
        ModelLoadError: a named file exists neither relative to the current directory nor
            to any parent of ``exp_dir``.
    """
    with open(config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    cwd = Path.cwd()
    recipe_dirs = exp_dir.resolve().parents
    changed = False

    def resolve(value: str, what: str, required: bool) -> Optional[str]:
        if os.path.isabs(value) or (cwd / value).exists():
            return None
        found = next((r / value for r in recipe_dirs if (r / value).exists()), None)
        if found is None and required:
            raise ModelLoadError(
                f"{config}: {what} = {value} exists neither relative to the current directory "
                f"({cwd}) nor to a parent of {exp_dir}; run from the recipe dir that trained "
                f"the model, or load its packed archive (stage 9)"
            )
        return None if found is None else str(found)

    for section, key in _RECIPE_PATH_KEYS:
        holder = conf if section is None else conf.get(section)
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            what = f"{section}.{key}" if section else key
            new = resolve(holder[key], what, required=True)
            if new is not None:
                holder[key], changed = new, True
    for entry in conf.get("train_data_path_and_name_and_type") or []:
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            new = resolve(entry[0], "train data", required=False)  # only used to find id maps
            if new is not None:
                entry[0], changed = new, True
    if not changed:
        yield config
        return
    with tempfile.TemporaryDirectory(prefix="espnet_mvc_config_") as tmp:
        copy = Path(tmp) / "config.yaml"
        with open(copy, "w", encoding="utf-8") as f:
            yaml.safe_dump(conf, f, allow_unicode=True)
        yield copy


def _check_members(names: Sequence[str], archive: Path) -> None:
    for name in names:
        p = Path(name)
        if p.is_absolute() or ".." in p.parts:
            raise ModelLoadError(f"{archive}: refusing unsafe member path {name!r}")


def safe_unpack(archive: Union[str, Path], outdir: Optional[Union[str, Path]] = None) -> Dict:
    """Unpack an ESPnet model archive (zip or tar) after checking its members.

    Without ``outdir`` the archive goes to a cache directory named by its content's hash,
    and is unpacked there once: later calls read what that unpacking returned (ESPnet's
    ``unpack`` cache looks for the files one directory too high for archives with
    ``meta.yaml`` at the top, as stage 10 packs them, and so unpacks again every time).

    Returns:
        Dict[str, str]: ESPnet's ``unpack`` result (``tts_train_config``, ``tts_model_file``,
        other packed files), paths inside ``outdir``.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise ModelLoadError(f"model archive {archive}: file not found")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            _check_members([i.filename for i in infos], archive)
            for i in infos:  # symlinks in zips are stored with S_IFLNK in the mode bits
                if (i.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ModelLoadError(f"{archive}: refusing symlink member {i.filename!r}")
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = t.getmembers()
            _check_members([m.name for m in members], archive)
            for m in members:
                if not (m.isfile() or m.isdir()):
                    raise ModelLoadError(f"{archive}: refusing non-regular member {m.name!r}")
    else:
        raise ModelLoadError(f"{archive}: neither a zip nor a tar archive")
    done = None  # the record of a finished unpacking into the cache
    if outdir is None:
        digest = hashlib.sha1(archive.read_bytes()).hexdigest()[:16]
        outdir = Path(os.environ.get("ESPNET_MVC_CACHE", Path.home() / ".cache/espnet_mvc"))
        outdir = outdir / "models" / digest
        done = outdir / _UNPACKED
        files = _read_unpacked(done)
        if files is not None:
            return files
    from espnet2.main_funcs.pack_funcs import unpack

    try:
        files = unpack(archive, outdir)
    except Exception as e:
        raise ModelLoadError(f"{archive}: not an ESPnet model archive ({e})") from e
    # ESPnet's meta.yaml does not list --option files (id maps, stats): find them on disk.
    for name in ("lang2lid", "spk2sid"):
        found = sorted(Path(outdir).rglob(name))
        if found:
            files.setdefault(name, str(found[0]))
    files.update(_find_vocoder(Path(outdir), recursive=True))
    if done is not None:
        tmp = done.with_name(f"{done.name}.{os.getpid()}")
        tmp.write_text(json.dumps(files), encoding="utf-8")
        os.replace(tmp, done)
    return files


_UNPACKED = "espnet_mvc_unpacked.json"


def _read_unpacked(record: Path) -> Optional[Dict[str, str]]:
    """What :func:`safe_unpack` returned when it unpacked into ``record``'s directory, if
    that finished and its files are all still there."""
    try:
        files = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(files, dict) or not all(
            isinstance(v, str) and Path(v).is_file() for v in files.values()):
        return None
    return files


def _find_vocoder(d: Path, recursive: bool = False) -> Dict[str, str]:
    """``vocoder_file`` / ``vocoder_config`` of a plugin vocoder in ``d`` (or below)."""
    found = sorted(d.rglob("vocoder.pth")) if recursive else [d / "vocoder.pth"]
    for f in found:
        if f.is_file() and f.with_suffix(".yaml").is_file():
            return dict(vocoder_file=str(f), vocoder_config=str(f.with_suffix(".yaml")))
    return {}


def _read_map(path: Optional[Path]) -> Dict[str, int]:
    if path is None or not Path(path).is_file():
        return {}
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = int(parts[1])
    return out


def _faded_chunks(chunks, fade: np.ndarray, gap: np.ndarray) -> Iterator[np.ndarray]:
    """One phrase's streamed chunks with :meth:`MVCSynthesizer.synthesize_long`'s fades.

    The first ``len(fade)`` samples are faded in as they come; the last ``len(fade)`` are
    held back until the phrase ends (the end is only known then), faded out and sent with
    ``gap`` (the pause after the phrase). Phrases are never shorter than one mel frame
    (> 10 ms), so the fades do not overlap as they may in ``synthesize_long``'s rule.
    """
    nf = len(fade)
    held = np.zeros(0, dtype=np.float32)
    seen = 0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1).copy()
        if seen < nf:
            k = min(nf - seen, len(chunk))
            chunk[:k] *= fade[seen : seen + k]
        seen += len(chunk)
        buf = np.concatenate([held, chunk])
        if len(buf) > nf:
            yield buf[:-nf]
            held = buf[-nf:]
        else:
            held = buf
    held = held.copy()
    n = min(nf, seen // 2, len(held))
    if n:
        held[-n:] *= fade[:n][::-1]
    yield np.concatenate([held, gap])


class MVCSynthesizer:
    """Synthesize with a trained MVC model (or any ESPnet TTS model).

    Other models (VITS, JETS, FastSpeech2, ...) synthesize, take their reference, language
    and speaker as ESPnet's ``Text2Speech`` does, and report :meth:`info`; what is MVC's
    only is not there: decode options are not passed to them, :attr:`mvc` is None and
    :meth:`stream` raises ``ValueError``.

    Args:
        train_config (str|Path): The training config (config.yaml).
        model_file (str|Path): The model weights (*.pth).
        device (str): "cpu" or "cuda".
        lang2lid, spk2sid (Optional[Path]): Id maps written by the recipe (multilingual /
            multi-speaker models); looked for beside the config (and in ``search_dir``) when
            not given.
        search_dir (Optional[Path]): Another directory to look for the id maps in (the
            experiment dir, when ``train_config`` is a copy with resolved paths).
        vocoder_file, vocoder_config (Optional[Path]): A vocoder for text2mel models
            (:mod:`espnet_mvc.vocoder` ``.pth`` + ``.yaml``, or parallel_wavegan ``.pkl``);
            None: Griffin-Lim.
        voices (Optional[BuiltinVoices]): The model's built-in voices
            (:mod:`espnet_mvc.builtin_voices`; :meth:`from_pretrained` finds them); None:
            none, a reference clip is needed.
    """

    def __init__(
        self,
        train_config: Union[str, Path],
        model_file: Union[str, Path],
        device: str = "cpu",
        lang2lid: Optional[Union[str, Path]] = None,
        spk2sid: Optional[Union[str, Path]] = None,
        search_dir: Optional[Union[str, Path]] = None,
        vocoder_file: Optional[Union[str, Path]] = None,
        vocoder_config: Optional[Union[str, Path]] = None,
        voices: Optional[BuiltinVoices] = None,
    ):
        from espnet_mvc.text2speech import load_text2speech

        train_config, model_file = Path(train_config), Path(model_file)
        for what, p in (("config", train_config), ("model file", model_file)):
            if not p.is_file():
                raise ModelLoadError(f"{what} {p}: file not found")
        try:  # MVC models without ESPnet's task stack (a fast start), others through it
            self.t2s = load_text2speech(train_config, model_file, device=device,
                                        vocoder_file=vocoder_file, vocoder_config=vocoder_config)
        except UnsafeCheckpointError as e:
            raise ModelLoadError(str(e)) from e
        self.device = device
        self.search_dir = Path(search_dir) if search_dir else None
        self.train_config = train_config
        self.model_file = model_file
        self.args = self.t2s.train_args
        self.token_list: List[str] = list(self.args.token_list)
        self.token_to_id = {t: i for i, t in enumerate(self.token_list)}
        self.lang2lid = _read_map(Path(lang2lid) if lang2lid else self._find("lang2lid"))
        self.spk2sid = _read_map(Path(spk2sid) if spk2sid else self._find("spk2sid"))
        self.g2p = getattr(self.args, "g2p", None)
        self.builtin_voices = voices
        self._voice_clips: Dict[str, np.ndarray] = {}  # built-in clips, loaded and checked
        if voices is not None and not self.uses_reference:
            logging.warning("%s: this model has no reference encoder: its built-in voices "
                            "are ignored", voices.dir)
            self.builtin_voices = None

    def _find(self, name: str) -> Optional[Path]:
        """An id map beside the config, or in the training data dirs it names."""
        candidates = [self.train_config.parent / name]
        if self.search_dir is not None:
            candidates.append(self.search_dir / name)
        for entry in getattr(self.args, "train_data_path_and_name_and_type", None) or []:
            candidates.append(Path(str(entry[0])).parent / name)
        return next((p for p in candidates if p.is_file()), None)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, model: Union[str, Path], device: str = "cpu") -> "MVCSynthesizer":
        """Load from a shipped model's name, a packed archive (stage 9), an experiment dir
        or a config file.

        Args:
            model: a name from :func:`espnet_mvc.pretrained.available` (``kokoro_en_mvc``);
                ``packed.zip`` / ``.tar.gz``; an ``exp/<tag>`` directory holding
                ``config.yaml`` and a checkpoint; or a ``config.yaml`` beside its weights.
                A ``vocoder.pth`` (with its ``vocoder.yaml``) beside the archive, in the
                directory or inside the archive is used as the vocoder. A ``voices/``
                directory beside the archive or config, or in the directory, holds the
                model's built-in voices (:mod:`espnet_mvc.builtin_voices`).
        """
        from espnet_mvc import pretrained

        if isinstance(model, str) and not Path(model).exists() and "/" not in model:
            try:
                model = pretrained.path(model) / "packed.zip"
            except KeyError as e:
                raise ModelLoadError(str(e.args[0])) from e
        model = Path(model)
        if not model.exists():
            raise ModelLoadError(f"model {model}: no such file or directory")
        vocoder = _find_vocoder(model.parent if model.is_file() else model)
        try:
            voices = BuiltinVoices.find(model)
        except ValueError as e:
            raise ModelLoadError(str(e)) from e
        if model.is_file() and model.suffix in (".yaml", ".yml"):
            model = model.parent
        if model.is_dir():
            config = model / "config.yaml"
            if not config.is_file():
                raise ModelLoadError(f"{model}: no config.yaml (is it an ESPnet exp dir?)")
            ckpt = next((model / c for c in _CHECKPOINTS if (model / c).is_file()), None)
            if ckpt is None:
                pths = sorted(model.glob("*.pth"))
                # (a vocoder.pth beside the model is its vocoder, not its weights)
                pths = [p for p in pths if p.name not in ("checkpoint.pth", "vocoder.pth")]
                if not pths:
                    raise ModelLoadError(f"{model}: no model weights (*.pth) found")
                ckpt = pths[-1]
            with _resolve_recipe_paths(config, model) as resolved:
                return cls(resolved, ckpt, device=device, search_dir=model, voices=voices,
                           **vocoder)
        files = safe_unpack(model)
        config = files.get("tts_train_config") or files.get("train_config")
        weights = files.get("tts_model_file") or files.get("model_file")
        if not config or not weights:
            raise ModelLoadError(f"{model}: archive has no TTS config/model ({sorted(files)})")
        if not vocoder and "vocoder_file" in files:
            vocoder = dict(vocoder_file=files["vocoder_file"], vocoder_config=files["vocoder_config"])
        return cls(config, weights, device=device, lang2lid=files.get("lang2lid"),
                   spk2sid=files.get("spk2sid"), voices=voices, **vocoder)

    # ------------------------------------------------------------------ properties
    @property
    def fs(self) -> int:
        return int(self.t2s.fs)

    @property
    def tts(self):
        return self.t2s.tts

    @property
    def mvc(self):
        """The MVC text2mel module (also inside a joint text2mel + vocoder model); None for
        other models (VITS, JETS, FastSpeech2, ...), which have no MVC options."""
        tts = self.t2s.tts
        if not is_mvc(tts):
            return None
        return tts.generator["text2mel"] if hasattr(tts, "generator") else tts

    @property
    def uses_reference(self) -> bool:
        return bool(getattr(self.t2s.tts, "use_gst", False))

    @property
    def voices(self) -> Dict[str, Path]:
        """Built-in voices: name -> reference clip, for every voice and every alias (an
        alias gives its voice's clip); empty for a model without built-in voices."""
        return self.builtin_voices.clips() if self.builtin_voices is not None else {}

    @property
    def default_voice(self) -> Optional[str]:
        """The built-in voice that speaks when neither ``ref`` nor ``voice`` is given; None
        for a model without built-in voices."""
        return self.builtin_voices.default if self.builtin_voices is not None else None

    def choose_voice(self, ref: Optional[AudioInput] = None,
                     voice: Optional[str] = None) -> Optional[str]:
        """The built-in voice a call with ``ref`` and ``voice`` speaks with.

        Returns:
            Optional[str]: ``voice`` (an alias resolved to its voice); the default voice
            when neither is given to a model that clones voices; None for a caller's
            reference clip or a model without built-in voices.

        Raises:
            ValueError: both ``ref`` and ``voice``, or an unknown voice (the message lists
                the model's voices).
        """
        if voice is None:
            if ref is not None or self.builtin_voices is None:
                return None
            return self.builtin_voices.default
        if ref is not None:
            raise ValueError(f"give a reference clip or a voice ({voice!r}), not both")
        if self.builtin_voices is None:
            raise ValueError(f"unknown voice {voice!r}: this model has no built-in voices"
                             + ("; give a reference clip of the voice to clone (ref=...)"
                                if self.uses_reference else ""))
        return self.builtin_voices.resolve(voice)

    def voice_reference(self, voice: str) -> np.ndarray:
        """The reference waveform of a built-in voice at :attr:`fs`, as a ``ref`` clip is
        loaded (:func:`espnet_mvc.audio.load_reference`); read once and kept.

        Raises:
            ValueError: an unknown voice (see :meth:`choose_voice`).
        """
        name = self.choose_voice(voice=voice)
        if name not in self._voice_clips:
            self._voice_clips[name] = load_reference(self.builtin_voices.clip(name), self.fs)
        return self._voice_clips[name]

    @property
    def default_alpha(self) -> float:
        """The duration scale synthesis uses when ``alpha`` is left unset: the model's
        ``duration_scale`` (1.0 for models without one)."""
        return float(getattr(self.mvc, "duration_scale", 1.0))

    @property
    def languages(self) -> List[str]:
        return sorted(k for k in self.lang2lid if k != "<unk>")

    @property
    def speakers(self) -> List[str]:
        return sorted(k for k in self.spk2sid if k != "<unk>")

    def info(self) -> Dict[str, object]:
        """Sizes, sample rate, languages and speakers of the loaded model."""

        def count(m):
            return sum(p.numel() for p in m.parameters()) if m is not None else 0

        mvc = self.mvc
        info = dict(
            model_file=str(self.model_file),
            model_class=type(self.t2s.tts).__name__,
            is_mvc=is_mvc(self.t2s.tts),
            sample_rate=self.fs,
            n_mels=getattr(mvc, "odim", None),
            vocab_size=len(self.token_list),
            g2p=self.g2p,
            # with the training-only aligner, which MVCText2Speech does not build
            parameters_total=count(self.t2s.model)
            + getattr(self.t2s, "training_only_parameters", 0),
            uses_reference_audio=self.uses_reference,
            languages=self.languages,
            speakers=self.speakers,
            voices=self.builtin_voices.names if self.builtin_voices is not None else [],
            default_voice=self.default_voice,
            vocoder=type(self.t2s.vocoder).__name__ if self.t2s.vocoder is not None else (
                "joint" if hasattr(self.t2s.tts, "generator") else None
            ),
        )
        if hasattr(mvc, "conditioning_encoder"):
            info.update(
                parameters_conditioning_encoder=count(mvc.conditioning_encoder()),
                parameters_decoder=count(mvc.decoder),
                default_diffusion_steps=mvc.decoder.n_timesteps,
            )
        return info

    # ------------------------------------------------------------------ text
    def text_to_ids(self, text: str, lang: Optional[str] = None) -> torch.Tensor:
        """Phonemize/tokenize ``text`` the way the model was trained.

        Raises:
            ValueError: empty text, text that yields no tokens, or only unknown symbols.
        """
        if not text or not text.strip():
            raise ValueError("empty text: nothing to synthesize")
        lang = self.normalize_lang(lang)
        if self.g2p == "kokoro_en" and lang is not None:
            from espnet_mvc.text.languages import normalize_lang

            if normalize_lang(lang) != "en":
                raise ValueError(
                    f"language {lang!r} not supported; this model speaks English (g2p kokoro_en)"
                )
            lang = None  # ESPnet's tokenizer runs the model's own g2p
        if self.g2p in _SELF_PHONEMIZED or lang is not None:
            from espnet_mvc.text.espeak import EspeakError, phonemize

            try:
                with _FRONTEND_LOCK:
                    tokens = phonemize(text, lang or self._default_lang())
            except EspeakError as e:
                raise ValueError(f"cannot phonemize the text: {e}") from e
            unk = self.token_to_id.get("<unk>", 1)
            ids = [self.token_to_id.get(t, unk) for t in tokens]
            unknown = sorted({t for t in tokens if t not in self.token_to_id})
        else:
            with _FRONTEND_LOCK:
                ids = self.t2s.preprocess_fn("<dummy>", dict(text=text))["text"].tolist()
            unk = self.token_to_id.get("<unk>", 1)
            unknown = []
        return torch.tensor(check_token_ids(text, ids, unk, unknown), dtype=torch.long)

    def normalize_lang(self, lang: Optional[str]) -> Optional[str]:
        """The model's name of a language given as ``en-us``, ``en_US``, ``English``, ``en``...

        The scorer's normalisation (:func:`espnet_mvc.metrics.asr.normalize_lang`) maps it
        onto the model's languages when the exact name is not one of them.

        Raises:
            ValueError: a language the model does not have.
        """
        if lang is None or not self.lang2lid or lang in self.lang2lid:
            return lang
        from espnet_mvc.text.languages import normalize_lang

        short = normalize_lang(lang)
        if short in self.lang2lid:
            return short
        raise ValueError(f"language {lang!r} not supported; this model has {self.languages}")

    def _default_lang(self) -> str:
        """The language of a call that names none (:func:`~espnet_mvc.text.languages.
        spoken_language`)."""
        return spoken_language(self.g2p, self.languages)

    def phrase_ids(self, text: str, max_chars: int = 200, lang: Optional[str] = None,
                   max_tokens: Optional[int] = None) -> List[torch.Tensor]:
        """Long text as the token ids of bounded phrases, as long-form synthesis reads it.

        The text is cut at sentences, clauses and words (:func:`split_phrases`, at most
        ``max_chars`` characters), and a phrase that still gives more than ``max_tokens``
        tokens (default ``max_chars``; e.g. one "word" of 20,000 letters) is cut by phonemes,
        at a word break where one is in reach, else at a syllable, else at the bound
        (:func:`split_token_ids`). So memory does not grow with text that has no breaks.

        Raises:
            ValueError: empty text or a phrase that cannot be read (see :meth:`text_to_ids`).
        """
        return phrase_token_ids(text, lambda phrase: self.text_to_ids(phrase, lang),
                                self.token_to_id, max_chars,
                                max_chars if max_tokens is None else int(max_tokens))

    # ------------------------------------------------------------------ synthesis
    def voice_inputs(
        self,
        ref: Optional[AudioInput] = None,
        ref_sr: Optional[int] = None,
        lang: Optional[str] = None,
        speaker: Optional[Union[str, int]] = None,
        voice: Optional[str] = None,
    ) -> Dict[str, torch.Tensor]:
        """The voice as ``Text2Speech`` inputs, checked: ``speech`` (the reference waveform
        at :attr:`fs`: ``ref``, the built-in ``voice`` or the default voice, see
        :meth:`choose_voice`), ``lids`` and ``sids`` (1,), each where the model takes it.

        Raises:
            ValueError: a missing or unusable reference, an unknown voice, language or
                speaker, both a reference and a voice.
        """
        return self._voice_inputs(ref, ref_sr, lang, speaker, voice)[0]

    def _voice_inputs(self, ref, ref_sr, lang, speaker, voice):
        """:meth:`voice_inputs` and the built-in voice used (None: the caller's ``ref``)."""
        kw: Dict[str, torch.Tensor] = {}
        used = self.choose_voice(ref, voice)
        if used is not None:  # (only models with a reference encoder have built-in voices)
            kw["speech"] = torch.from_numpy(self.voice_reference(used))
        elif self.uses_reference:
            if ref is None:
                raise ValueError("this model clones a voice: give a reference clip (ref=...)")
            kw["speech"] = torch.from_numpy(load_reference(ref, self.fs, sr=ref_sr))
        elif ref is not None:
            logging.warning("this model has no reference encoder: the reference is ignored")
        if self.t2s.use_lids:
            lang = self.normalize_lang(lang) or self._default_lang()
            if lang not in self.lang2lid:
                raise ValueError(f"language {lang!r} not supported; this model has {self.languages}")
            kw["lids"] = torch.tensor([self.lang2lid[lang]])
        if self.t2s.use_sids:
            if speaker is None:
                if not self.speakers:
                    raise ValueError("this model is multi-speaker: give speaker=<id>")
                speaker = self.speakers[0]
            sid = self.spk2sid.get(str(speaker), None)
            if sid is None:
                if str(speaker).isdigit():
                    sid = int(speaker)
                else:
                    raise ValueError(f"unknown speaker {speaker!r}; known: {self.speakers[:20]}")
            kw["sids"] = torch.tensor([sid])
        return kw, used

    def synthesize(
        self,
        text: str,
        ref: Optional[AudioInput] = None,
        ref_sr: Optional[int] = None,
        lang: Optional[str] = None,
        speaker: Optional[Union[str, int]] = None,
        options: Optional[DecodeOptions] = None,
        voice: Optional[str] = None,
        **decode,
    ) -> SynthesisResult:
        """Synthesize one sentence or phrase.

        Args:
            text (str): Input text (phonemized with the model's front end), or its token
                ids (a 1-D LongTensor, as :meth:`text_to_ids` gives them).
            ref: Reference clip for the voice (path, array with ``ref_sr``, or tuple).
            lang (Optional[str]): Language (multilingual models), e.g. "es".
            speaker: Speaker name or id (multi-speaker models).
            voice (Optional[str]): A built-in voice (:attr:`voices`, aliases too) instead
                of ``ref``; with neither, the model's :attr:`default_voice` speaks.
            options (Optional[DecodeOptions]): How to decode (default: seed 0, the model's
                steps, temperature and solver).
            **decode: :class:`DecodeOptions` fields overriding ``options``:
                ``n_timesteps`` (diffusion steps), ``temperature`` (sampler noise scale),
                ``alpha`` (> 1 slower, < 1 faster), ``solver`` ("euler" or "midpoint"),
                ``seed`` (None: random).

        Returns:
            SynthesisResult: waveform, sample rate, mel, durations, elapsed time, RTF and
            the built-in voice used.

        Raises:
            ValueError: bad text, voice (see :meth:`voice_inputs`) or decode option.
        """
        options = DecodeOptions.of(options, **decode)
        ids = text if isinstance(text, torch.Tensor) else self.text_to_ids(text, lang)
        kw, used = self._voice_inputs(ref, ref_sr, lang, speaker, voice)
        decode_conf = options.model_kwargs() if is_mvc(self.t2s.tts) else {}
        start = time.perf_counter()
        with torch.no_grad():
            out = self.t2s(ids, decode_conf=decode_conf, **kw)
        elapsed = time.perf_counter() - start
        if out.get("wav") is None:
            raise RuntimeError("the model produced no waveform (no vocoder available)")
        wav = out["wav"].detach().cpu().float().numpy().reshape(-1)
        seconds = max(len(wav) / self.fs, 1e-9)
        mel = out.get("feat_gen")
        dur = out.get("duration")
        return SynthesisResult(
            wav=wav,
            fs=self.fs,
            mel=None if mel is None else mel.detach().cpu().numpy(),
            durations=None if dur is None else dur.detach().cpu().numpy(),
            elapsed=elapsed,
            rtf=elapsed / seconds,
            voice=used,
        )

    def synthesize_long(
        self,
        text: str,
        out_path: Optional[Union[str, Path]] = None,
        max_chars: int = 200,
        pause_seconds: float = 0.15,
        progress: bool = True,
        max_tokens: Optional[int] = None,
        **kwargs,
    ) -> SynthesisResult:
        """Synthesize paragraphs or chapters phrase by phrase.

        Each phrase is synthesized on its own, so memory per step is bounded by one
        phrase; with ``out_path`` audio is appended to the file as it is made and the
        returned ``wav`` is empty, so memory does not grow with the text at all. Phrases
        are joined with a short pause, faded in and out over 5 ms so that no seam clicks.

        Args:
            text (str): Any length of text.
            out_path (Optional[path]): Stream the audio into this WAV file.
            max_chars (int): Longest phrase in characters.
            pause_seconds (float): Silence between phrases.
            progress (bool): Show a progress bar.
            max_tokens (Optional[int]): Longest phrase in tokens (default ``max_chars``):
                longer phrases, such as text without breaks, are cut by phonemes
                (:meth:`phrase_ids`).
            **kwargs: Options of :meth:`synthesize` (ref, voice, lang, speaker, options
                and decode options).
        """
        import soundfile as sf
        from tqdm import tqdm

        phrases = self.phrase_ids(text, max_chars, kwargs.get("lang"), max_tokens)
        if not phrases:
            raise ValueError("empty text: nothing to synthesize")
        fs = self.fs
        fade = fade_ramp(fs)
        pause = np.zeros(int(pause_seconds * fs), dtype=np.float32)
        writer = sf.SoundFile(str(out_path), "w", fs, 1, "PCM_16") if out_path else None
        pieces: List[np.ndarray] = []
        boundaries: List[int] = []  # first sample of every phrase
        total_samples, elapsed, voice = 0, 0.0, None
        try:
            for i, phrase in enumerate(tqdm(phrases, desc="phrases", disable=not progress)):
                res = self.synthesize(phrase, **kwargs)
                wav = faded(res.wav, fade)
                chunk = np.concatenate([wav, pause]) if i < len(phrases) - 1 else wav
                boundaries.append(total_samples)
                total_samples += len(chunk)
                elapsed += res.elapsed
                voice = res.voice
                if writer is not None:
                    writer.write(chunk)
                else:
                    pieces.append(chunk)
        finally:
            if writer is not None:
                writer.close()
        wav = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        seconds = max(total_samples / fs, 1e-9)
        return SynthesisResult(
            wav=wav, fs=fs, elapsed=elapsed, rtf=elapsed / seconds, voice=voice,
            extra=dict(phrases=len(phrases), samples=total_samples, boundaries=boundaries),
        )

    def stream_long(
        self,
        text: str,
        max_chars: int = 200,
        pause_seconds: float = 0.15,
        chunked: bool = True,
        chunk_seconds: float = 0.25,
        first_chunk_seconds: Optional[float] = None,
        *,
        max_tokens: Optional[int] = None,
        ref: Optional[AudioInput] = None,
        ref_sr: Optional[int] = None,
        lang: Optional[str] = None,
        speaker: Optional[Union[str, int]] = None,
        voice: Optional[str] = None,
        options: Optional[DecodeOptions] = None,
        **decode,
    ) -> Iterator[np.ndarray]:
        """Any length of text as audio pieces, phrase by phrase, checked before any audio.

        The text is cut into phrases as :meth:`synthesize_long` cuts it. Every phrase is
        tokenized and the voice options (reference, language, speaker) and decode options
        are checked before this returns, so empty or unpronounceable text (in any phrase), a
        bad reference or a bad option raise here rather than half way through the audio: a
        server can still answer with an error status. Each phrase is faded in and out over
        5 ms and followed (except the last) by ``pause_seconds`` of silence, as in
        :meth:`synthesize_long`.

        Args:
            text (str): Any length of text.
            max_chars (int): Longest phrase in characters.
            pause_seconds (float): Silence between phrases.
            chunked (bool): True: every phrase is streamed by :meth:`stream` and the pieces
                are its chunks (the first one comes after one chunk of work). False: every
                phrase is one piece made by :meth:`synthesize`, and the pieces concatenate to
                exactly the ``wav`` of :meth:`synthesize_long` with the same options.
            chunk_seconds, first_chunk_seconds: :meth:`stream`'s chunk length and first
                chunk length in seconds (chunked only; the first chunk of every phrase).
            max_tokens (Optional[int]): Longest phrase in tokens, as in
                :meth:`synthesize_long`.
            ref, ref_sr, lang, speaker, voice: The voice, as in :meth:`synthesize`.
            options (Optional[DecodeOptions]): How to decode; ``lookahead`` is
                :meth:`stream`'s look-ahead (chunked only).
            **decode: :class:`DecodeOptions` fields overriding ``options``.

        Returns:
            Iterator[np.ndarray]: float32 waveform pieces at :attr:`fs`.

        Raises:
            ValueError: empty or unpronounceable text, a reference that cannot be used
                (:class:`espnet_mvc.audio.ReferenceAudioError`), an unknown voice, language
                or speaker, a decode option out of range.
        """
        options = DecodeOptions.of(options, **decode)
        phrases = self.phrase_ids(text, max_chars, lang, max_tokens)  # every phrase checked
        if not phrases:
            raise ValueError("empty text: nothing to synthesize")
        # the checks synthesize() makes on every phrase, made once up front
        self.voice_inputs(ref, ref_sr, lang, speaker, voice)
        voice_kw = dict(ref=ref, ref_sr=ref_sr, lang=lang, speaker=speaker, voice=voice)
        fade = fade_ramp(self.fs)
        pause = np.zeros(int(pause_seconds * self.fs), dtype=np.float32)

        def pieces() -> Iterator[np.ndarray]:
            for i, phrase in enumerate(phrases):
                gap = pause if i < len(phrases) - 1 else pause[:0]
                if chunked:
                    chunks = self.stream(phrase, chunk_seconds=chunk_seconds,
                                         first_chunk_seconds=first_chunk_seconds,
                                         options=options, **voice_kw)
                    yield from _faded_chunks(chunks, fade, gap)
                    continue
                wav = faded(self.synthesize(phrase, options=options, **voice_kw).wav, fade)
                yield np.concatenate([wav, gap])

        return pieces()

    def reference_features(self, speech: torch.Tensor) -> torch.Tensor:
        """The model's normalised features (T_ref, n_mels) of a reference waveform at
        :attr:`fs` (``voice_inputs(...)["speech"]``), as ESPnet feeds them to the style
        encoder."""
        model = self.t2s.model
        with torch.no_grad():
            feats, _ = model.feats_extract(speech[None])
            if model.normalize is not None:
                feats, _ = model.normalize(feats)
        return feats[0]

    def streamer(self):
        """An :class:`espnet_mvc.streaming.MVCStreamer` for this model and its vocoder."""
        from espnet_mvc.streaming import MVCStreamer

        if not is_mvc(self.t2s.tts):
            raise ValueError("streaming needs an MVC model")
        model = self.t2s.model
        denorm = None
        if model.normalize is not None:
            def denorm(mel):
                return model.normalize.inverse(mel.clone()[None])[0][0]
        tts = self.t2s.tts
        if hasattr(tts, "generator"):
            vocoder = tts.generator["vocoder"].inference
            denorm = None  # joint models vocode the normalised features they generate
        else:
            vocoder = self.t2s.vocoder
        hop = int(model.feats_extract.get_parameters().get("n_shift", 256))
        return MVCStreamer(self.mvc, vocoder, denormalize=denorm, hop_length=hop, fs=self.fs)

    def stream(
        self,
        text: str,
        ref: Optional[AudioInput] = None,
        ref_sr: Optional[int] = None,
        lang: Optional[str] = None,
        speaker: Optional[Union[str, int]] = None,
        chunk_seconds: float = 0.25,
        first_chunk_seconds: Optional[float] = None,
        options: Optional[DecodeOptions] = None,
        voice: Optional[str] = None,
        **decode,
    ) -> Iterator[np.ndarray]:
        """Yield audio chunks as they are ready (finite look-ahead ``lookahead`` seconds).

        The voice is :meth:`synthesize`'s (``ref``, or the built-in ``voice``, or the
        default voice). ``first_chunk_seconds`` makes the first chunk shorter than
        ``chunk_seconds``: the first audio comes as early as with short chunks, while longer
        later chunks recompute less look-ahead per second of audio. ``options`` and
        ``**decode`` are :meth:`synthesize`'s, plus ``lookahead`` (seconds; ``inf``: the
        offline result). ``text`` may also be token ids, as for :meth:`synthesize`. See
        :class:`espnet_mvc.streaming.MVCStreamer`.
        """
        options = DecodeOptions.of(options, **decode)
        streamer = self.streamer()
        ids = text if isinstance(text, torch.Tensor) else self.text_to_ids(text, lang)
        kw = self.voice_inputs(ref, ref_sr, lang, speaker, voice)
        ref_feats = self.reference_features(kw["speech"]) if "speech" in kw else None
        first = None
        if first_chunk_seconds is not None:
            first = max(1, streamer.seconds_to_frames(first_chunk_seconds))
        yield from streamer.stream(
            ids, ref_feats=ref_feats, sids=kw.get("sids"), lids=kw.get("lids"),
            chunk_seconds=chunk_seconds, first_chunk_frames=first, options=options,
        )

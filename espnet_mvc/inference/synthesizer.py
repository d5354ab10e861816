"""The synthesizer: load a trained MVC model and synthesize, with every MVC option exposed.

    >>> from espnet_mvc.api import MVCSynthesizer          # (the public import)
    >>> tts = MVCSynthesizer.from_pretrained("exp/tts_mvc/packed.zip")
    >>> out = tts.synthesize("Hello there.", ref="voice.wav", n_timesteps=4)
    >>> out.wav, out.fs, out.rtf
    >>> tts = MVCSynthesizer.from_pretrained("kokoro_en_mvc")     # it has built-in voices:
    >>> tts.synthesize("Hello there.").voice == tts.default_voice  # with no ref, the default
    >>> tts.synthesize("Hello there.", voice="alloy")              # a name (OpenAI's too)

Any ESPnet TTS model loads: MVC models as ESPnet's ``Text2Speech`` builds them but without
ESPnet's task stack (:class:`espnet_mvc.espnet.text2speech.MVCText2Speech`, a fast start),
every other model through ESPnet's ``Text2Speech`` itself; the synthesizer holds either as
``t2s``. Archives are checked and unpacked by :mod:`espnet_mvc.inference.loading`;
long-form text is :mod:`espnet_mvc.inference.long_form`, streaming
:mod:`espnet_mvc.inference.streaming`.
"""

import logging
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Union

import numpy as np
import torch

import espnet_mvc  # noqa: F401  (registers the plugin)
from espnet_mvc.espnet.checkpoints import UnsafeCheckpointError
from espnet_mvc.espnet.registry import is_mvc
from espnet_mvc.inference.builtin_voices import BuiltinVoices
from espnet_mvc.inference.id_maps import LanguagesAndSpeakers, read_id_map
from espnet_mvc.inference.loading import ModelLoadError, model_files
from espnet_mvc.inference.long_form import LongFormSynthesis
from espnet_mvc.inference.reference_audio import AudioInput, load_reference
from espnet_mvc.inference.result import SynthesisResult
from espnet_mvc.text.languages import normalize_lang, spoken_language
from espnet_mvc.text.phrases import phrase_token_ids
from espnet_mvc.text.tokens import check_token_ids
from espnet_mvc.tts.mvc.decode_options import DecodeOptions

# g2p names ESPnet's own tokenizer handles; anything else means the recipe phonemized text
# itself (e.g. the multilingual espeak front end), and so does this API.
_SELF_PHONEMIZED = {"espeak_ng_multilingual", "none", None}
# espeak-ng (behind the kokoro_en and espeak front ends) keeps global state and is not
# thread-safe: a server that synthesizes from several threads runs text front ends one at a time.
_FRONTEND_LOCK = threading.Lock()


class MVCSynthesizer(LongFormSynthesis, LanguagesAndSpeakers):
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
            (:mod:`espnet_mvc.inference.builtin_voices`; :meth:`from_pretrained` finds
            them); None: none, a reference clip is needed.
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
        from espnet_mvc.espnet.text2speech import load_text2speech

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
        self.lang2lid = read_id_map(Path(lang2lid) if lang2lid else self._find("lang2lid"))
        self.spk2sid = read_id_map(Path(spk2sid) if spk2sid else self._find("spk2sid"))
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
                model's built-in voices (:mod:`espnet_mvc.inference.builtin_voices`).
        """
        from espnet_mvc import pretrained

        if isinstance(model, str) and not Path(model).exists() and "/" not in model:
            try:
                model = pretrained.path(model) / "packed.zip"
            except KeyError as e:
                raise ModelLoadError(str(e.args[0])) from e
        with model_files(model) as files:
            return cls(device=device, **files)

    # ------------------------------------------------------------------ properties
    @property
    def fs(self) -> int:
        """Sample rate of the synthesized audio."""
        return int(self.t2s.fs)

    @property
    def tts(self):
        """ESPnet's TTS module of the model (an MVC, a joint model, VITS, ...)."""
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
        """Whether the model clones the voice of a reference clip (``use_gst``)."""
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
        loaded (:func:`espnet_mvc.inference.reference_audio.load_reference`); read once and
        kept.

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

        :func:`espnet_mvc.text.languages.normalize_lang` maps it onto the model's languages
        when the exact name is not one of them.

        Raises:
            ValueError: a language the model does not have.
        """
        if lang is None or not self.lang2lid or lang in self.lang2lid:
            return lang
        short = normalize_lang(lang)
        if short in self.lang2lid:
            return short
        raise ValueError(f"language {lang!r} not supported; this model has {self.languages}")

    def _default_lang(self) -> str:
        """The language of a call that names none
        (:func:`~espnet_mvc.text.languages.spoken_language`)."""
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
                raise ValueError(
                    f"language {lang!r} not supported; this model has {self.languages}")
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
        options = DecodeOptions.of(options, **decode)  # the API's edge: checked once
        ids = text if isinstance(text, torch.Tensor) else self.text_to_ids(text, lang)
        kw, used = self._voice_inputs(ref, ref_sr, lang, speaker, voice)
        # the object itself goes down to the solver (ESPnet forwards decode_conf's keywords
        # to the model's inference); other models take no MVC options
        decode_conf = dict(options=options) if is_mvc(self.t2s.tts) else {}
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
        """An :class:`espnet_mvc.inference.streaming.MVCStreamer` for this model and its
        vocoder."""
        from espnet_mvc.inference.streaming import MVCStreamer

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
        :class:`espnet_mvc.inference.streaming.MVCStreamer`.
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

"""Text to waveform with onnxruntime and numpy: an exported MVC model without PyTorch.

    >>> tts = OnnxSynthesizer("exported/")              # espnet-mvc export --onnx exported/
    >>> res = tts.synthesize("Hello there.")           # the default built-in voice
    >>> res = tts.synthesize("Hello there.", ref="me.wav", n_timesteps=4)
    >>> res.wav, res.fs, res.rtf

The same calls, options and errors as
:class:`espnet_mvc.inference.synthesizer.MVCSynthesizer` (``synthesize``, ``synthesize_long``,
``stream_long``, ``choose_voice``, ``text_to_ids``), and the same stages as
:meth:`espnet_mvc.tts.mvc.MVC.inference`: style, token states and durations, frames (repeat),
condition mu, the flow-matching solver, the vocoder and its inverse STFT.

Differences from PyTorch, by design: the starting noise comes from numpy's generator (the
same ``seed`` gives other numbers than torch's; the shipped model decodes at temperature 0,
where the noise plays no part), and streaming is by phrase (:meth:`stream_long`), not by
window within a phrase.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Union

import numpy as np

from espnet_mvc.inference.fades import fade_ramp, faded
from espnet_mvc.inference.id_maps import LanguagesAndSpeakers
from espnet_mvc.inference.reference_audio import AudioInput, load_reference
from espnet_mvc.inference.result import SynthesisResult
from espnet_mvc.inference.wav_file import atomic_wav_writer
from espnet_mvc.onnx_runtime import dsp
from espnet_mvc.text.languages import normalize_lang, spoken_language
from espnet_mvc.text.phrases import phrase_token_ids
from espnet_mvc.text.tokens import check_token_ids
from espnet_mvc.tts.mvc.decode_options import DecodeOptions, check_solver

FORMAT = "espnet-mvc-onnx/1"  # as espnet_mvc.export.onnx writes it
_GRAPHS = ("text", "prosody", "estimator", "vocoder")
_FRONTEND_LOCK = threading.Lock()  # espeak-ng is not thread-safe


class OnnxModelError(RuntimeError):
    """An export directory that cannot be loaded."""


def _session(model_dir: Path, name: str, threads: Optional[int], ort_version: Optional[str]):
    """An onnxruntime session of graph ``name``: its optimized ``.ort`` copy when this
    onnxruntime wrote it (it loads in about a quarter of the time), else the ``.onnx`` graph."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    # worker threads sleep between ops instead of spinning: on shared or busy cores the
    # spinning pool made a short sentence 3x slower at 2 threads (one core busy elsewhere)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    path = model_dir / f"{name}.ort"
    if path.is_file() and ort_version == ort.__version__:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    else:
        path = model_dir / f"{name}.onnx"
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxSynthesizer(LanguagesAndSpeakers):
    """An exported MVC model (``espnet-mvc export --onnx DIR``), run by onnxruntime.

    Args:
        model_dir: The export directory (``model.json`` and the ``*.onnx`` graphs).
        threads (Optional[int]): onnxruntime's intra-op threads (default: its own choice,
            one per core).
    """

    def __init__(self, model_dir: Union[str, Path], threads: Optional[int] = None):
        model_dir = Path(model_dir)
        meta_path = model_dir / "model.json"
        if not meta_path.is_file():
            raise OnnxModelError(
                f"{model_dir}: no model.json; export a model first: "
                f"espnet-mvc export --onnx {model_dir} --model <model>"
            )
        with open(meta_path, encoding="utf-8") as f:
            self.meta = json.load(f)
        if self.meta.get("format") != FORMAT:
            raise OnnxModelError(f"{meta_path}: format {self.meta.get('format')!r}, this "
                                 f"runtime reads {FORMAT!r}; export the model again")
        names = list(_GRAPHS) + (["style"] if self.meta["style_inputs"] else [])
        missing = [n for n in names if not (model_dir / f"{n}.onnx").is_file()]
        if missing:
            raise OnnxModelError(f"{model_dir}: missing {', '.join(m + '.onnx' for m in missing)}")
        self.model_dir = model_dir
        self.threads = threads
        # the style graph is loaded on first use: built-in voices do not need it
        self.sessions = {n: _session(model_dir, n, threads, self.meta.get("onnxruntime"))
                         for n in _GRAPHS}
        self.token_list: List[str] = list(self.meta["token_list"])
        self.token_to_id = {t: i for i, t in enumerate(self.token_list)}
        self.unk_id = int(self.meta.get("unk_id", self.token_to_id.get("<unk>", 1)))
        self.g2p = self.meta.get("g2p")
        self.lang2lid: Dict[str, int] = dict(self.meta.get("languages") or {})
        self.spk2sid: Dict[str, int] = dict(self.meta.get("speakers") or {})
        self._g2p_fn = None

    # ------------------------------------------------------------------ description
    @property
    def fs(self) -> int:
        return int(self.meta["fs"])

    @property
    def uses_reference(self) -> bool:
        return "ref" in self.meta["style_inputs"]

    @property
    def voices(self) -> Dict[str, Dict[str, object]]:
        """Built-in voices: name -> ``{"style", "description"}``."""
        return dict(self.meta.get("voices") or {})

    @property
    def default_voice(self) -> Optional[str]:
        return self.meta.get("default_voice")

    @property
    def default_alpha(self) -> float:
        return float(self.meta["decode"].get("alpha") or 1.0)

    def choose_voice(self, ref: Optional[AudioInput] = None,
                     voice: Optional[str] = None) -> Optional[str]:
        """As :meth:`espnet_mvc.inference.synthesizer.MVCSynthesizer.choose_voice`."""
        if voice is None:
            return None if ref is not None or not self.voices else self.default_voice
        if ref is not None:
            raise ValueError(f"give a reference clip or a voice ({voice!r}), not both")
        if not self.voices:
            raise ValueError(f"unknown voice {voice!r}: this model has no built-in voices"
                             + ("; give a reference clip of the voice to clone (ref=...)"
                                if self.uses_reference else ""))
        name = (self.meta.get("voice_aliases") or {}).get(voice, voice)
        if name not in self.voices:
            known = sorted(self.voices) + sorted(self.meta.get("voice_aliases") or {})
            raise ValueError(f"unknown voice {voice!r}; this model's voices: {', '.join(known)}")
        return name

    # ------------------------------------------------------------------ text
    def _g2p(self):
        if self._g2p_fn is None and self.g2p is not None:
            from espnet_mvc.text.g2p import plugin_g2p

            self._g2p_fn = plugin_g2p(self.g2p)
        return self._g2p_fn

    def text_to_ids(self, text: str, lang: Optional[str] = None) -> np.ndarray:
        """Token ids (T_text,) int64 of ``text``, read as the model was trained.

        Raises:
            ValueError: empty text, text that gives no phonemes, or only unknown symbols.
        """
        if not text or not text.strip():
            raise ValueError("empty text: nothing to synthesize")
        g2p = self._g2p()
        if g2p is not None:
            if lang is not None and self.g2p == "kokoro_en":
                if normalize_lang(lang) != "en":
                    raise ValueError(f"language {lang!r} not supported; this model speaks "
                                     "English (g2p kokoro_en)")
            with _FRONTEND_LOCK:
                tokens = g2p(text)
        else:
            from espnet_mvc.text.espeak import EspeakError, phonemize

            try:
                with _FRONTEND_LOCK:
                    tokens = phonemize(text, self._lang(lang))
            except EspeakError as e:
                raise ValueError(f"cannot phonemize the text: {e}") from e
        ids = [self.token_to_id.get(t, self.unk_id) for t in tokens]
        unknown = sorted({t for t in tokens if t not in self.token_to_id})
        return np.asarray(check_token_ids(text, ids, self.unk_id, unknown), dtype=np.int64)

    def _lang(self, lang: Optional[str]) -> str:
        """The model's name of ``lang``; when None, the language PyTorch's synthesizer
        speaks then (:func:`~espnet_mvc.text.languages.spoken_language`)."""
        if lang is None:
            return spoken_language(self.g2p, self.languages)
        if not self.lang2lid or lang in self.lang2lid:
            return lang
        short = normalize_lang(lang)
        if short in self.lang2lid:
            return short
        raise ValueError(f"language {lang!r} not supported; this model has {self.languages}")

    def phrase_ids(self, text: str, max_chars: int = 200, lang: Optional[str] = None,
                   max_tokens: Optional[int] = None) -> List[np.ndarray]:
        """As :meth:`espnet_mvc.inference.synthesizer.MVCSynthesizer.phrase_ids`."""
        return phrase_token_ids(text, lambda p: self.text_to_ids(p, lang), self.token_to_id,
                                max_chars, max_chars if max_tokens is None else int(max_tokens))

    # ------------------------------------------------------------------ voice
    def voice_inputs(self, ref: Optional[AudioInput] = None, ref_sr: Optional[int] = None,
                     voice: Optional[str] = None, lang: Optional[str] = None,
                     speaker: Optional[Union[str, int]] = None) -> Dict[str, np.ndarray]:
        """The voice of a call, checked, as the style graph's inputs: ``ref`` (a waveform at
        :attr:`fs`; its features are made by :meth:`style`), ``lids``, ``sids``; or
        ``style`` itself for a built-in voice. Empty for a model without style sources.

        Raises:
            ValueError: as :meth:`espnet_mvc.inference.synthesizer.MVCSynthesizer.voice_inputs`.
        """
        inputs = self.meta["style_inputs"]
        if not inputs:
            return {}
        used = self.choose_voice(ref, voice)
        if used is not None:
            if inputs != ["ref"]:
                raise ValueError("built-in voices of a model with other style sources are "
                                 "not exported; give a reference clip (ref=...)")
            return dict(style=np.asarray([self.voices[used]["style"]], dtype=np.float32))
        feeds: Dict[str, np.ndarray] = {}
        if "ref" in inputs:
            if ref is None:
                raise ValueError("this model clones a voice: give a reference clip (ref=...)")
            feeds["ref"] = load_reference(ref, self.fs, sr=ref_sr)
        if "lids" in inputs:
            feeds["lids"] = np.asarray([self.lang2lid[self._lang(lang)]], dtype=np.int64)
        if "sids" in inputs:
            if speaker is None:
                if not self.speakers:
                    raise ValueError("this model is multi-speaker: give speaker=<id>")
                speaker = self.speakers[0]
            sid = self.spk2sid.get(str(speaker))
            if sid is None:
                if not str(speaker).isdigit():
                    raise ValueError(f"unknown speaker {speaker!r}; known: {self.speakers[:20]}")
                sid = int(speaker)
            feeds["sids"] = np.asarray([sid], dtype=np.int64)
        if "spembs" in inputs:
            raise ValueError("models that take speaker embeddings (spembs) are not supported "
                             "by the ONNX runtime")
        return feeds

    def style(self, inputs: Dict[str, np.ndarray]) -> Optional[np.ndarray]:
        """The style vector (1, S) of :meth:`voice_inputs`; None for a model without style
        sources.

        Raises:
            ValueError: a reference too short or silent for the style encoder.
        """
        if not inputs:
            return None
        if "style" in inputs:
            return inputs["style"]
        feeds = dict(inputs)
        if "ref" in feeds:
            feeds["ref"] = self.reference_features(feeds["ref"])[None]
        if "style" not in self.sessions:
            self.sessions["style"] = _session(self.model_dir, "style", self.threads,
                                              self.meta.get("onnxruntime"))
        return self.sessions["style"].run(None, feeds)[0]

    def reference_features(self, wav: np.ndarray) -> np.ndarray:
        """Normalised log-mel (T_ref, n_mels) of a reference at :attr:`fs`, checked as the
        style encoder checks it.

        Raises:
            ValueError: a reference too short or silent for the style encoder.
        """
        feats = dsp.log_mel(wav, self.meta["features"])
        if not np.all(np.isfinite(feats)):
            raise ValueError("reference features contain NaN or Inf (corrupt audio?)")
        need = self.meta.get("min_reference_frames")
        if need and len(feats) < need:
            raise ValueError(f"reference too short: {len(feats)} frames, the style encoder "
                             f"needs at least {need} frames")
        if float(((feats - feats.mean(0)) ** 2).mean()) < 1e-6:
            raise ValueError("reference is silent or constant: no voice to clone")
        return feats

    # ------------------------------------------------------------------ synthesis
    def _decode(self, options: DecodeOptions):
        d = self.meta["decode"]
        steps = d["n_timesteps"] if options.n_timesteps is None else options.n_timesteps
        temperature = d["temperature"] if options.temperature is None else options.temperature
        solver = options.solver or d["solver"]
        check_solver(solver)
        alpha = self.default_alpha if options.alpha is None else options.alpha
        return int(steps), float(temperature), solver, float(alpha)

    def mel(self, ids: np.ndarray, style: Optional[np.ndarray],
            options: Optional[DecodeOptions] = None):
        """The normalised mel (T_feats, odim) and durations (T_text,) of token ids."""
        options = DecodeOptions() if options is None else options
        steps, temperature, solver, alpha = self._decode(options)
        ids = np.asarray(ids, dtype=np.int64).reshape(1, -1)
        if ids.size == 0:
            raise ValueError("empty text: nothing to synthesize")
        if int(ids.max()) >= len(self.token_list) or int(ids.min()) < 0:
            raise ValueError(f"token ids must be in [0, {len(self.token_list)}), got "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        styled = {} if style is None else dict(style=style.astype(np.float32))
        states, durations = self.sessions["text"].run(
            None, dict(text=ids, alpha=np.asarray([alpha], np.float32), **styled))
        frames = np.repeat(states[0], durations[0], axis=0)[None]  # the length regulator
        mu = self.sessions["prosody"].run(None, dict(frames=frames, **styled))[0]
        mu = np.ascontiguousarray(mu.transpose(0, 2, 1))  # (1, odim, T)
        if steps == 0:  # the prior mean (a diagnostic), as CFMDecoder.sample
            return mu[0].T, durations[0]
        rng = np.random.default_rng(options.seed)
        x = rng.standard_normal(mu.shape, dtype=np.float32) * np.float32(temperature)
        if self.meta["decode"]["prior"] == "mu":
            x = x + mu
        ts = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
        estimator = self.sessions["estimator"]

        def v(x, t):
            return estimator.run(None, dict(x=x, mu=mu, t=np.asarray([t], np.float32),
                                            **styled))[0]

        for i in range(steps):
            t, dt = ts[i], ts[i + 1] - ts[i]
            velocity = v(x, t)
            if solver == "midpoint":
                velocity = v(x + np.float32(0.5) * dt * velocity, t + np.float32(0.5) * dt)
            x = x + dt * velocity
        return x[0].T, durations[0]

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        """Waveform of a normalised mel (T_feats, odim)."""
        log_mel = dsp.denormalize(mel, self.meta["features"])
        real, imag = self.sessions["vocoder"].run(
            None, dict(mel=np.ascontiguousarray(log_mel.T[None], dtype=np.float32)))
        voc = self.meta["vocoder"]
        return dsp.istft(real[0], imag[0], voc["n_fft"], voc["hop_length"])

    def synthesize(self, text: Union[str, np.ndarray], ref: Optional[AudioInput] = None,
                   ref_sr: Optional[int] = None, lang: Optional[str] = None,
                   speaker: Optional[Union[str, int]] = None,
                   options: Optional[DecodeOptions] = None, voice: Optional[str] = None,
                   **decode) -> SynthesisResult:
        """As :meth:`espnet_mvc.inference.synthesizer.MVCSynthesizer.synthesize`: one sentence
        or phrase."""
        options = DecodeOptions.of(options, **decode)
        ids = text if isinstance(text, np.ndarray) else self.text_to_ids(text, lang)
        used = self.choose_voice(ref, voice)
        inputs = self.voice_inputs(ref, ref_sr, voice, lang, speaker)
        start = time.perf_counter()  # as PyTorch's: from the reference waveform on
        style = self.style(inputs)
        mel, durations = self.mel(ids, style, options)
        wav = self.vocode(mel)
        elapsed = time.perf_counter() - start
        return SynthesisResult(wav=wav, fs=self.fs, mel=mel, durations=durations,
                               elapsed=elapsed, rtf=elapsed / max(len(wav) / self.fs, 1e-9),
                               voice=used)

    def stream_long(self, text: str, max_chars: int = 200, pause_seconds: float = 0.15,
                    max_tokens: Optional[int] = None, **kwargs) -> Iterator[np.ndarray]:
        """Long text phrase by phrase, each phrase's audio (faded, with the pause after it)
        as soon as it is made. Every phrase is read and the voice checked before the first
        is synthesized, so bad input fails before any audio."""
        phrases = self.phrase_ids(text, max_chars, kwargs.get("lang"), max_tokens)
        if not phrases:
            raise ValueError("empty text: nothing to synthesize")
        options = DecodeOptions.of(kwargs.pop("options", None),
                                   **DecodeOptions.pick(kwargs))
        voice_kw = {k: kwargs.get(k) for k in ("ref", "ref_sr", "lang", "speaker", "voice")}
        style = self.style(self.voice_inputs(**voice_kw))  # one reference for all phrases
        fade = fade_ramp(self.fs)
        pause = np.zeros(int(pause_seconds * self.fs), dtype=np.float32)

        def pieces() -> Iterator[np.ndarray]:
            for i, ids in enumerate(phrases):
                mel, _ = self.mel(ids, style, options)
                gap = pause if i < len(phrases) - 1 else pause[:0]
                yield np.concatenate([faded(self.vocode(mel), fade), gap])

        return pieces()

    def synthesize_long(self, text: str, out_path: Optional[Union[str, Path]] = None,
                        max_chars: int = 200, pause_seconds: float = 0.15,
                        progress: bool = False, max_tokens: Optional[int] = None,
                        **kwargs) -> SynthesisResult:
        """As :meth:`espnet_mvc.inference.synthesizer.MVCSynthesizer.synthesize_long`
        (``progress`` is accepted for the same calls; nothing is shown)."""
        used = self.choose_voice(kwargs.get("ref"), kwargs.get("voice"))
        start = time.perf_counter()
        pieces, total, n_phrases = [], 0, 0
        # the text and the voice are checked here, before the output file exists
        stream = self.stream_long(text, max_chars, pause_seconds, max_tokens, **kwargs)
        with ExitStack() as stack:
            # with out_path, the file appears only once every phrase is written
            writer = (stack.enter_context(atomic_wav_writer(out_path, self.fs)) if out_path
                      else None)
            for piece in stream:
                total += len(piece)
                n_phrases += 1
                if writer is not None:
                    writer.write(piece)
                else:
                    pieces.append(piece)
        elapsed = time.perf_counter() - start
        wav = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        return SynthesisResult(wav=wav, fs=self.fs, elapsed=elapsed,
                               rtf=elapsed / max(total / self.fs, 1e-9), voice=used,
                               extra=dict(samples=total, phrases=n_phrases))

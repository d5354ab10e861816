"""Long-form synthesis: any length of text, phrase by phrase, faded and joined with pauses.

The phrases come from :func:`espnet_mvc.text.phrases.phrase_token_ids` (bounded in
characters and in tokens) and are joined with the fades of :mod:`espnet_mvc.inference.fades`.
"""

from contextlib import ExitStack
from pathlib import Path
from typing import Iterator, List, Optional, Union

import numpy as np

from espnet_mvc.inference.fades import fade_ramp, faded, faded_chunks
from espnet_mvc.inference.reference_audio import AudioInput
from espnet_mvc.inference.result import SynthesisResult
from espnet_mvc.inference.wav_file import atomic_wav_writer
from espnet_mvc.tts.mvc.decode_options import DecodeOptions


class LongFormSynthesis:
    """:meth:`synthesize_long` and :meth:`stream_long` of
    :class:`~espnet_mvc.inference.synthesizer.MVCSynthesizer` (a base class of it: they use
    its ``phrase_ids``, ``voice_inputs``, ``synthesize``, ``stream`` and ``fs``)."""

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
            out_path (Optional[path]): Stream the audio into this WAV file (it appears
                when the last phrase is written; a failure leaves an earlier file as it was).
            max_chars (int): Longest phrase in characters.
            pause_seconds (float): Silence between phrases.
            progress (bool): Show a progress bar.
            max_tokens (Optional[int]): Longest phrase in tokens (default ``max_chars``):
                longer phrases, such as text without breaks, are cut by phonemes
                (:meth:`phrase_ids`).
            **kwargs: Options of :meth:`synthesize` (ref, voice, lang, speaker, options
                and decode options).
        """
        from tqdm import tqdm

        # the decode options, checked once for every phrase
        decode = {k: kwargs.pop(k) for k in DecodeOptions.names() if k in kwargs}
        kwargs["options"] = DecodeOptions.of(kwargs.pop("options", None), **decode)
        phrases = self.phrase_ids(text, max_chars, kwargs.get("lang"), max_tokens)
        if not phrases:
            raise ValueError("empty text: nothing to synthesize")
        fs = self.fs
        fade = fade_ramp(fs)
        pause = np.zeros(int(pause_seconds * fs), dtype=np.float32)
        pieces: List[np.ndarray] = []
        boundaries: List[int] = []  # first sample of every phrase
        total_samples, elapsed, voice = 0, 0.0, None
        with ExitStack() as stack:
            # with out_path, the file appears only once every phrase is written
            writer = stack.enter_context(atomic_wav_writer(out_path, fs)) if out_path else None
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
                (:class:`espnet_mvc.inference.reference_audio.ReferenceAudioError`), an
                unknown voice, language or speaker, a decode option out of range.
        """
        options = DecodeOptions.of(options, **decode)  # checked once for every phrase
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
                    yield from faded_chunks(chunks, fade, gap)
                    continue
                wav = faded(self.synthesize(phrase, options=options, **voice_kw).wav, fade)
                yield np.concatenate([wav, gap])

        return pieces()

"""Streaming synthesis with a finite look-ahead: audio chunks as soon as they are ready.

    >>> streamer = MVCStreamer(mvc, vocoder, denormalize=denorm, hop_length=256, fs=22050)
    >>> for wav_chunk in streamer.stream(ids, ref_feats=ref, lookahead_seconds=0.5):
    ...     play(wav_chunk)
    >>> streamer.last_stats.first_chunk_latency_s

How the work is cut (C = chunk frames, La = look-ahead frames, T = utterance frames):

The streamer runs the model's own inference stages (those :meth:`MVC.inference` is made
of), the frame-level ones window by window:

* **Text side, once per sentence** (the text is known up front; O(T_text)):
  :meth:`MVC.encode_style` and :meth:`MVC.text_side` (Bi-Mamba text encoder, Temporal
  Bi-Mamba durations, length regulator). This fixes T, so the starting noise of the whole
  utterance is drawn once from the seed, exactly as :meth:`MVC.inference` draws it: every
  chunk uses the noise frames offline sampling uses.
* **Frame side, chunk by chunk** over windows ``[s, s + C + La)``, of which the first C
  frames are committed (:meth:`MVC.decoder_condition_chunk`, :meth:`MVC.sample_mel_chunk`;
  each module runs its offline code through a
  :class:`~espnet_mvc.tts.mvc.streaming_cache.StreamingConvCache`):

  - Expressive Mamba prosody stack: ``forward_chunk`` of every gated Bi-Mamba block; each
    block's forward-direction :class:`MambaState` is carried across chunks, its backward
    direction is recomputed over the window from a zero state at the window's end. The F0 /
    energy embedding convs take their left context from cached committed frames.
  - Diffusion decoder: every solver evaluation (Euler step, or each half of a midpoint step)
    runs ``BiMambaUNet1d.forward_chunk`` with its own cache (forward Mamba states and the
    left-context frames of every conv, the stride-2 downsample and the transposed-conv
    upsample; C is even so window starts stay aligned with the half-rate level).
  - Vocoder: overlapping mel windows ``[a - left, b + right)`` (left context from committed
    mel, right context from the decoder's provisional look-ahead frames), context samples
    dropped, and a short crossfade over the first ``crossfade`` samples past each seam.

Exactness: with a look-ahead that covers the rest of the utterance (``lookahead_seconds =
inf``) every window reaches the end of the utterance, so every backward scan and every
right-hand conv padding is the offline one, and the streamed mel equals the offline mel of
:meth:`MVC.inference` with the same seed up to float rounding (the tests check max abs
difference < 1e-4). With a finite look-ahead the committed frames see only La frames of the
future (per layer), so the result is close to, not equal to, the offline output.
"""

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from espnet_mvc.inference.fades import crossfade_ramps
from espnet_mvc.tts.mvc.decode_options import DecodeOptions

MelFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class StreamStats:
    """What one :meth:`MVCStreamer.stream` call did, and how fast.

    Times are wall-clock seconds from the start of the generator (its first ``next``).
    """

    n_frames: int = 0
    n_chunks: int = 0
    chunk_frames: int = 0
    lookahead_frames: Optional[int] = None  # None: unlimited (the whole utterance)
    hop_length: int = 256
    fs: int = 22050
    n_evaluations: int = 0
    text_side_s: float = 0.0
    prosody_s: float = 0.0
    decoder_s: float = 0.0
    vocoder_s: float = 0.0
    first_chunk_latency_s: float = float("nan")
    total_s: float = 0.0
    # process CPU time (all threads) up to the first chunk / in total: on a shared machine
    # this is what the work costs regardless of how much of the CPU the process was given
    first_chunk_cpu_s: float = float("nan")
    total_cpu_s: float = 0.0
    chunk_ready_s: List[float] = field(default_factory=list)
    chunk_samples: List[int] = field(default_factory=list)
    mel: Optional[torch.Tensor] = None  # streamed (committed) mel (T_feats, odim)
    duration: Optional[torch.Tensor] = None  # (T_text,)

    @property
    def audio_s(self) -> float:
        return self.n_frames * self.hop_length / self.fs

    @property
    def rtf(self) -> float:
        return self.total_s / max(self.audio_s, 1e-9)

    def summary(self) -> dict:
        la = "inf" if self.lookahead_frames is None else self.lookahead_frames
        return dict(
            n_frames=self.n_frames, n_chunks=self.n_chunks, chunk_frames=self.chunk_frames,
            lookahead_frames=la, audio_s=round(self.audio_s, 4),
            first_chunk_latency_ms=round(1e3 * self.first_chunk_latency_s, 2),
            first_chunk_cpu_ms=round(1e3 * self.first_chunk_cpu_s, 2),
            total_s=round(self.total_s, 4), rtf=round(self.rtf, 4),
            total_cpu_s=round(self.total_cpu_s, 4),
            text_side_ms=round(1e3 * self.text_side_s, 2),
            prosody_ms=round(1e3 * self.prosody_s, 2),
            decoder_ms=round(1e3 * self.decoder_s, 2),
            vocoder_ms=round(1e3 * self.vocoder_s, 2),
        )


def to_wave(out, n_samples: int) -> np.ndarray:
    """A vocoder's output (Tensor/array, any of (N,), (N, 1), (1, N), (1, 1, N)) as a 1-D
    float32 array of exactly ``n_samples`` (cropped / zero-padded at the end)."""
    if isinstance(out, dict):  # ESPnet-style dict outputs
        out = out.get("wav", next(iter(out.values())))
    if isinstance(out, torch.Tensor):
        out = out.detach().to("cpu", torch.float32).numpy()
    wav = np.asarray(out, dtype=np.float32).reshape(-1)
    if len(wav) >= n_samples:
        return wav[:n_samples]
    return np.concatenate([wav, np.zeros(n_samples - len(wav), dtype=np.float32)])


class _VocoderStream:
    """Vocode committed mel chunk by chunk with context windows and crossfaded seams."""

    def __init__(self, vocoder, denormalize, hop, left, right, crossfade, kind):
        self.vocoder, self.denormalize, self.hop = vocoder, denormalize, hop
        self.left, self.right, self.crossfade = left, right, crossfade
        self.kind = kind
        self.tail: Optional[np.ndarray] = None  # samples past the last seam, to crossfade
        self.done_frames = 0

    def push(
        self, mel: torch.Tensor, end: int, ahead: torch.Tensor, next_frames: int
    ) -> np.ndarray:
        """Audio for frames ``[done, end)``.

        Args:
            mel (Tensor): Committed mel so far (>= end frames, odim).
            end (int): Committed frames.
            ahead (Tensor): Provisional frames after ``end`` (La', odim) (may be empty).
            next_frames (int): Frames the next chunk will commit (0 at the end).
        """
        start = self.done_frames
        lc = min(self.left, start)
        rc = min(self.right, ahead.shape[0]) if next_frames > 0 else 0
        window = torch.cat([mel[start - lc : end], ahead[:rc]], dim=0)
        if self.denormalize is not None:
            window = self.denormalize(window)
        wav = to_wave(self.vocoder(window), window.shape[0] * self.hop)
        xf = min(self.crossfade, rc * self.hop, next_frames * self.hop)
        seg = wav[lc * self.hop : (lc + end - start) * self.hop + xf].copy()
        if self.tail is not None and len(self.tail):
            n = len(self.tail)
            fin, fout = crossfade_ramps(n, self.kind)
            seg[:n] = self.tail * fout + seg[:n] * fin
        body, self.tail = (seg[: len(seg) - xf], seg[len(seg) - xf :]) if xf else (seg, None)
        self.done_frames = end
        return body


class MVCStreamer:
    """Chunked synthesis with an MVC model and a finite look-ahead.

    Args:
        model (MVC): The text2mel model (put in eval mode).
        vocoder (Optional[callable]): ``mel (T, odim) -> wav (T * hop,)``: ESPnet's
            Griffin-Lim ``Spectrogram2Waveform``, a HiFi-GAN generator's ``inference``, a
            ``Text2Speech.vocoder`` ... None: :meth:`stream` yields mel chunks instead.
        denormalize (Optional[callable]): ``mel -> mel`` applied before the vocoder (e.g.
            the inverse of ESPnet's ``global_mvn``).
        hop_length (int): Samples per mel frame.
        fs (int): Sample rate (for the seconds -> frames conversions and the RTF).
    """

    def __init__(
        self,
        model,
        vocoder: Optional[MelFn] = None,
        denormalize: Optional[MelFn] = None,
        hop_length: int = 256,
        fs: int = 22050,
    ):
        if hop_length < 1 or fs < 1:
            raise ValueError(f"hop_length and fs must be positive, got {hop_length}, {fs}")
        self.model = model.eval()
        self.vocoder = vocoder
        self.denormalize = denormalize
        self.hop_length = int(hop_length)
        self.fs = int(fs)
        self.last_stats: Optional[StreamStats] = None

    # ------------------------------------------------------------------ helpers
    def seconds_to_frames(self, seconds: float) -> int:
        return int(math.ceil(seconds * self.fs / self.hop_length - 1e-9))

    def chunk_frames(
        self, chunk_seconds: Optional[float], chunk_frames: Optional[int] = None
    ) -> int:
        """Frames per chunk (``chunk_frames``, else ``chunk_seconds`` rounded), made even."""
        if chunk_frames is None:
            if not chunk_seconds > 0 or math.isinf(chunk_seconds):
                raise ValueError(f"chunk_seconds must be finite and > 0, got {chunk_seconds}")
            chunk_frames = max(1, int(round(chunk_seconds * self.fs / self.hop_length)))
        chunk_frames = int(chunk_frames)
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        # even, so every window starts on the decoder's half-rate grid
        return chunk_frames + (chunk_frames % 2)

    def _lookahead_frames(self, options: DecodeOptions, lookahead_frames) -> Optional[int]:
        if lookahead_frames is not None:
            if lookahead_frames < 0:
                raise ValueError(f"lookahead_frames must be >= 0, got {lookahead_frames}")
            return int(lookahead_frames)
        if options.lookahead_is_unlimited:
            return None
        return self.seconds_to_frames(options.lookahead)

    @staticmethod
    def _as_tensor(x, dtype=None, device=None):
        if x is None:
            return None
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        return x.to(device=device, dtype=dtype) if dtype is not None else x.to(device)

    @torch.no_grad()
    def style(self, ref_feats=None, sids=None, spembs=None, lids=None) -> Optional[torch.Tensor]:
        """The style vector (1, S) (or None) of a voice (:meth:`MVC.encode_style`); pass it to
        :meth:`stream` as ``style=`` to skip the reference encoder on every sentence of the
        same voice."""
        device = next(self.model.parameters()).device

        def one(x, dtype):
            x = self._as_tensor(x, dtype, device)
            return None if x is None else x.view(1, -1)

        ref = self._as_tensor(ref_feats, torch.float32, device)
        return self.model.encode_style(ref, None, one(sids, torch.long),
                                       one(spembs, torch.float32), one(lids, torch.long))

    @torch.no_grad()
    def text_side(self, text_ids, ref_feats=None, sids=None, spembs=None, lids=None,
                  options: Optional[DecodeOptions] = None,
                  style: Optional[torch.Tensor] = None) -> dict:
        """Everything computed once per sentence (:meth:`MVC.text_side`), as
        :meth:`MVC.inference` computes it.

        Returns:
            dict: ``style`` (1, S) or None, ``frames`` (1, T, D) (the frame states, the
            prosody stack's input), ``duration`` (T_text,), ``noise`` (1, T, odim) (the
            utterance's starting noise, from ``options.seed``).
        """
        device = next(self.model.parameters()).device
        text = self._as_tensor(text_ids, torch.long, device)
        if style is None:
            style = self.style(ref_feats, sids, spembs, lids)
        else:
            style = self._as_tensor(style, torch.float32, device).view(1, -1)
        side = self.model.text_side(text, style, options)
        return dict(style=style, frames=side.frames, duration=side.durations, noise=side.noise)

    # ------------------------------------------------------------------ streaming
    def stream(
        self,
        text_ids,
        ref_feats=None,
        sids=None,
        spembs=None,
        lids=None,
        chunk_seconds: float = 0.25,
        lookahead_seconds: Optional[float] = None,
        vocoder_context_frames: Union[int, Sequence[int]] = (8, 8),
        crossfade_samples: Optional[int] = None,
        crossfade: str = "linear",
        chunk_frames: Optional[int] = None,
        lookahead_frames: Optional[int] = None,
        first_chunk_frames: Optional[int] = None,
        style: Optional[torch.Tensor] = None,
        options: Optional[DecodeOptions] = None,
        **decode,
    ) -> Iterator[np.ndarray]:
        """Synthesize ``text_ids`` and yield audio chunks as soon as each is ready.

        Args:
            text_ids: Token ids (T_text,) (Tensor, array or list).
            ref_feats (Optional[Tensor]): Reference mel (T_ref, odim), normalised like the
                training features (models with a reference encoder).
            sids, spembs, lids: Speaker id (1,), speaker embedding (spk_embed_dim,),
                language id (1,), as the model needs.
            chunk_seconds (float): Audio committed per chunk (rounded to an even number of
                frames).
            lookahead_seconds (Optional[float]): Look-ahead L in seconds; ``float('inf')`` =
                the whole rest of the utterance (then the mel equals offline synthesis).
                None: ``options.lookahead``.
            vocoder_context_frames (int or (left, right)): Mel context around each vocoder
                window (right context comes from the provisional look-ahead frames).
            crossfade_samples (Optional[int]): Crossfade length at each seam (default one
                hop; bounded by the right context).
            crossfade (str): "linear" (default: the two sides are nearly the same signal) or
                "equal_power".
            chunk_frames, lookahead_frames (Optional[int]): Override the seconds (frames).
            first_chunk_frames (Optional[int]): A shorter first chunk (even) for a lower
                first-chunk latency; default = the chunk size.
            style (Optional[Tensor]): A precomputed :meth:`style` (then ``ref_feats``,
                ``sids``, ``spembs`` and ``lids`` are not used).
            options (Optional[DecodeOptions]): How to decode; its ``seed`` draws the same
                starting noise as :meth:`MVC.inference` with that seed.
            **decode: :class:`DecodeOptions` fields overriding ``options`` (``n_timesteps``,
                ``temperature``, ``alpha``, ``solver``, ``seed``, ``lookahead``).

        Yields:
            np.ndarray: Waveform chunks (float32, concatenating to T_feats * hop samples); or,
            without a vocoder, mel chunks (C_i, odim) (normalised, like ``feat_gen``).

        The generator returns (``StopIteration.value``) and stores in ``self.last_stats`` a
        :class:`StreamStats` with the first-chunk latency, per-stage times and the
        streamed mel.
        """
        # validate eagerly (before the first next()) where it is cheap
        if lookahead_seconds is not None:
            decode["lookahead"] = lookahead_seconds
        options = DecodeOptions.of(options, **decode)
        C = self.chunk_frames(chunk_seconds, chunk_frames)
        La = self._lookahead_frames(options, lookahead_frames)
        if isinstance(vocoder_context_frames, (int, np.integer)):
            vleft = vright = int(vocoder_context_frames)
        else:
            vleft, vright = (int(x) for x in vocoder_context_frames)
        if vleft < 0 or vright < 0:
            raise ValueError(f"vocoder_context_frames must be >= 0, got {vocoder_context_frames}")
        xf = self.hop_length if crossfade_samples is None else int(crossfade_samples)
        if xf < 0:
            raise ValueError(f"crossfade_samples must be >= 0, got {crossfade_samples}")
        crossfade_ramps(1, crossfade)  # (checks the name)
        C0 = C if first_chunk_frames is None else self.chunk_frames(None, first_chunk_frames)
        return self._stream(
            text_ids, ref_feats, sids, spembs, lids, C, C0, La, options, vleft, vright, xf,
            crossfade, style,
        )

    @torch.no_grad()
    def _stream(self, text_ids, ref_feats, sids, spembs, lids, C, C0, La, options, vleft,
                vright, xf, crossfade, style):
        m = self.model
        t0, c0 = time.perf_counter(), time.process_time()
        stats = StreamStats(chunk_frames=C, lookahead_frames=La, hop_length=self.hop_length,
                            fs=self.fs)
        self.last_stats = stats

        side = self.text_side(text_ids, ref_feats, sids, spembs, lids, options, style)
        style, frames, noise = side["style"], side["frames"], side["noise"]
        T = frames.shape[1]
        stats.n_frames, stats.duration = T, side["duration"]
        stats.text_side_s = time.perf_counter() - t0

        voc = None
        if self.vocoder is not None:
            voc = _VocoderStream(self.vocoder, self.denormalize, self.hop_length, vleft,
                                 vright, xf, crossfade)
        mel = frames.new_zeros(T, m.odim)
        pros_cache = dec_caches = None
        s = 0
        while s < T:
            size = C0 if s == 0 else C
            commit = min(size, T - s)
            e = T if La is None else min(T, s + commit + La)
            t1 = time.perf_counter()
            mu, _, _, pros_cache = m.decoder_condition_chunk(
                frames[:, s:e], commit, style, pros_cache
            )
            t2 = time.perf_counter()
            x, dec_caches = m.sample_mel_chunk(
                mu, noise[:, s:e], commit, style, dec_caches, options
            )
            x = x[0]  # (W, odim)
            mel[s : s + commit] = x[:commit]
            t3 = time.perf_counter()
            stats.prosody_s += t2 - t1
            stats.decoder_s += t3 - t2
            stats.n_evaluations = len(dec_caches)
            if voc is None:
                out = mel[s : s + commit].cpu().numpy().copy()
            else:
                nxt = 0 if s + commit >= T else min(C, T - s - commit)
                out = voc.push(mel, s + commit, x[commit:], nxt)
                stats.vocoder_s += time.perf_counter() - t3
            s += commit
            now = time.perf_counter() - t0
            cpu = time.process_time() - c0
            if stats.n_chunks == 0:
                stats.first_chunk_latency_s = now
                stats.first_chunk_cpu_s = cpu
            stats.n_chunks += 1
            stats.chunk_ready_s.append(now)
            stats.chunk_samples.append(int(out.shape[0]) if voc is not None else
                                       int(out.shape[0]) * self.hop_length)
            stats.mel = mel[:s]
            stats.total_s, stats.total_cpu_s = now, cpu
            yield out
        stats.mel = mel
        stats.total_s = time.perf_counter() - t0
        stats.total_cpu_s = time.process_time() - c0
        return stats

    def synthesize(self, text_ids, **kwargs) -> Tuple[np.ndarray, StreamStats]:
        """Run :meth:`stream` to the end; return the concatenated output and the stats."""
        chunks = list(self.stream(text_ids, **kwargs))
        return np.concatenate(chunks, axis=0), self.last_stats

"""MVC's decode options, declared once for the model, the API, the CLIs and streaming.

    >>> opts = DecodeOptions(n_timesteps=4, temperature=0.0, seed=0)
    >>> mvc.inference(text, feats=ref, options=opts)
    >>> tts.synthesize("Hello.", ref="voice.wav", options=opts, alpha=1.2)  # with overrides

``None`` means "the model's own": ``n_timesteps``, ``temperature`` and ``solver`` then come
from the trained model's ``decoder_conf`` (the shipped model decodes at temperature 0.0).

One object travels from the edge to the solver: an entry point (``espnet-mvc synth``'s
:meth:`DecodeOptions.from_args`, the API's :meth:`DecodeOptions.of`) builds and checks it
once, and ``MVCSynthesizer`` -> ``Text2Speech`` (``decode_conf=dict(options=...)``) ->
``MVC.inference`` -> ``CFMDecoder.sample`` pass it on as it is. The one other way in is
ESPnet's: ``MVC.inference`` called by ESPnet's own ``Text2Speech`` with ``decode_conf``
keywords (:meth:`DecodeOptions.from_decode_conf`). Filling the fields left None with the
model's defaults is ``CFMDecoder.resolve`` (and ``MVC.predict_durations`` for ``alpha``),
which reads the object and builds no other.

This module imports neither torch nor ESPnet, so the command line can build its parser from
it without paying for them.
"""

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence

SOLVERS = ("euler", "midpoint")


def check_solver(solver: str) -> None:
    """Raise ValueError unless ``solver`` is a known solver."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")


@dataclass(frozen=True)
class DecodeOptions:
    """How MVC turns text into speech; every field has a meaning in every entry point.

    Attributes:
        n_timesteps (Optional[int]): Flow-matching solver steps; 0 decodes the prior mean
            only (a diagnostic). None: the model's ``decoder_conf``.
        temperature (Optional[float]): Standard deviation of the sampler's starting noise.
            None: the model's ``decoder_conf`` (0.0 for the shipped model).
        alpha (Optional[float]): Duration scale (speaking rate): > 1 slower, < 1 faster.
            None: the model's ``duration_scale`` (1.0 unless the model was shipped to speak
            slower).
        solver (Optional[str]): "euler" or "midpoint" (two network calls per step). None:
            the model's ``decoder_conf``.
        seed (Optional[int]): Seed of the utterance's starting noise: the same seed gives
            the same audio, offline and streamed. None: a fresh draw every call.
        lookahead (Optional[float]): Streaming only: seconds of future frames every
            committed chunk sees; ``inf`` (or None) is the whole utterance, which makes the
            stream equal offline synthesis.
    """

    n_timesteps: Optional[int] = field(
        default=None, metadata=dict(type=int, help="diffusion (flow-matching) steps; 0: the "
                                                   "prior mean only (default: the model's)"))
    temperature: Optional[float] = field(
        default=None, metadata=dict(type=float, help="sampler noise scale (default: the model's "
                                                     "decoder_conf; 0.0 for kokoro_en_mvc)"))
    alpha: Optional[float] = field(
        default=None,
        metadata=dict(type=float, help="duration scale: >1 slower, <1 faster (default: the "
                                       "model's duration_scale)"))
    solver: Optional[str] = field(
        default=None, metadata=dict(choices=SOLVERS, help="ODE solver (default: the model's)"))
    seed: Optional[int] = field(
        default=0, metadata=dict(type=int, help="sampler seed (default 0)"))
    lookahead: Optional[float] = field(
        default=0.5, metadata=dict(type=float, help="streaming look-ahead in seconds (default "
                                                    "0.5; 'inf' = offline)"))

    def __post_init__(self):
        # coerce numbers (numpy scalars, YAML strings of ESPnet decode configs) and check them
        # here, so that every entry point fails before any work with the same message
        def coerce(name, kind):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, kind(value))

        coerce("n_timesteps", int)
        coerce("temperature", float)
        coerce("alpha", float)
        coerce("seed", int)
        coerce("lookahead", float)
        if self.n_timesteps is not None and self.n_timesteps < 0:
            raise ValueError(
                f"n_timesteps must be >= 0 (0: the prior mean only), got {self.n_timesteps}"
            )
        if self.temperature is not None and not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.alpha is not None and not self.alpha > 0:
            raise ValueError(f"alpha (speaking rate) must be > 0, got {self.alpha}")
        if self.solver is not None:
            check_solver(self.solver)
        if self.lookahead is not None and not self.lookahead >= 0:
            raise ValueError(f"lookahead must be >= 0 seconds, got {self.lookahead}")

    @classmethod
    def names(cls) -> Sequence[str]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, options: Optional["DecodeOptions"] = None, **overrides) -> "DecodeOptions":
        """``options`` (default: all defaults) with the given fields replaced: the API's edge.

        ``options`` itself is returned when nothing is replaced: it was checked when it was
        built, and is not built again.

        Raises:
            TypeError: a name that is not a decode option.
            ValueError: a value out of range.
        """
        unknown = sorted(set(overrides) - set(cls.names()))
        if unknown:
            raise TypeError(f"unknown decode option(s) {unknown}; choose from {list(cls.names())}")
        if options is None:
            return cls(**overrides)
        return dataclasses.replace(options, **overrides) if overrides else options

    @classmethod
    def pick(cls, kwargs: Mapping[str, Any]) -> Dict[str, Any]:
        """The decode options among ``kwargs`` (e.g. ESPnet's ``decode_conf``)."""
        return {k: kwargs[k] for k in cls.names() if k in kwargs}

    @classmethod
    def from_decode_conf(cls, decode_conf: Mapping[str, Any]) -> "DecodeOptions":
        """The options ESPnet's ``decode_conf`` keywords give (its other keywords ignored):
        ESPnet's edge. ``seed`` defaults to None there, a fresh draw every call, as ESPnet's
        ``Text2Speech`` expects of a sampler."""
        return cls(**dict(dict(seed=None), **cls.pick(decode_conf)))

    @property
    def lookahead_is_unlimited(self) -> bool:
        return self.lookahead is None or math.isinf(self.lookahead)

    # ------------------------------------------------------------------ command lines
    @classmethod
    def add_arguments(
        cls,
        parser: argparse.ArgumentParser,
        names: Sequence[str],
        flags: Optional[Mapping[str, str]] = None,
        helps: Optional[Mapping[str, str]] = None,
    ) -> None:
        """Add ``--<option>`` arguments for the decode options ``names``.

        Args:
            parser: A parser or argument group.
            names: Decode options to expose.
            flags: Flag per option where the command line has its own name (the
                ``espnet-mvc synth`` names ``--steps`` and ``--rate``); default ``--<name>``.
            helps: Help text per option where the command line says it differently.
        """
        flags, helps = dict(flags or {}), dict(helps or {})
        for f in dataclasses.fields(cls):
            if f.name not in names:
                continue
            flag = flags.get(f.name, f"--{f.name}")
            kw: Dict[str, Any] = dict(dest=f.name, default=f.default,
                                      help=helps.get(f.name, f.metadata["help"]))
            if f.name in flags:  # the user sees --steps STEPS, not --steps N_TIMESTEPS
                kw["metavar"] = flag.lstrip("-").upper()
            if "choices" in f.metadata:
                kw["choices"] = list(f.metadata["choices"])
            else:
                kw["type"] = f.metadata["type"]
            parser.add_argument(flag, **kw)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "DecodeOptions":
        """The options a parsed command line gives (those :meth:`add_arguments` added)."""
        return cls(**{k: getattr(args, k) for k in cls.names() if hasattr(args, k)})

"""Built-in voices of a model: named reference clips shipped beside it.

A model may carry a ``voices/`` directory: a shipped model's (``espnet_mvc/pretrained/<name>/
voices/``), or one beside a packed archive or inside an experiment directory. It holds one
reference clip per voice and ``voices.json``::

    {"default": "alpha",
     "voices": {"alpha": {"file": "alpha.flac", "description": "..."}, ...},
     "aliases": {"alloy": "alpha", "echo": "kumo", ...}}

``aliases`` map OpenAI's voice names (:data:`OPENAI_VOICES`) onto built-in voices, so that a
client written for OpenAI's speech API speaks without changes. No ``voices/`` directory: the
model has no built-in voices (a reference clip is then needed to clone one).

    >>> voices = BuiltinVoices.find("exp/tts_mvc/packed.zip")   # None without voices/
    >>> voices.resolve("alloy"), voices.clip(voices.default)

This module imports neither torch nor ESPnet.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

# The voice names of OpenAI's speech API (``audio/speech``'s ``voice``), in its order.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse")
VOICES_DIR = "voices"
VOICES_JSON = "voices.json"
# Voice names are file names and URL parts: no separators, no leading dot (the server's
# temporary files start with one).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_name(name: str) -> None:
    """Raises ValueError unless ``name`` is 1-64 letters, digits, '_' or '-'."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(
            f"invalid voice name {name!r}: use 1-64 letters, digits, '_' or '-', "
            f"starting with a letter or digit"
        )


def voices_dir_of(model: Union[str, Path]) -> Path:
    """Where the built-in voices of ``model`` are looked for (the directory may not exist).

    Args:
        model: A model's directory (a shipped model's: :func:`espnet_mvc.pretrained.locate`
            turns its name into it), a packed archive (``voices/`` beside it), an experiment
            directory (``voices/`` in it) or a ``config.yaml`` (``voices/`` beside it).
    """
    p = Path(model)
    return (p.parent if p.is_file() else p) / VOICES_DIR


@dataclass
class BuiltinVoices:
    """A model's built-in voices (``voices/voices.json`` and its clips).

    Attributes:
        dir (Path): The ``voices/`` directory.
        default (str): The voice used when none is asked for.
        entries (Dict[str, dict]): Voice name -> ``{"file", "description"}``.
        aliases (Dict[str, str]): Other name (OpenAI's) -> voice name.
    """

    dir: Path
    default: str
    entries: Dict[str, dict]
    aliases: Dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ reading
    @classmethod
    def read(cls, directory: Union[str, Path]) -> "BuiltinVoices":
        """Read and check ``directory/voices.json``.

        Raises:
            ValueError: no or unreadable ``voices.json``, a clip that is missing, an invalid
                name, a default or alias naming no voice, an alias that is a voice's name.
        """
        directory = Path(directory)
        index = directory / VOICES_JSON
        try:
            conf = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"built-in voices {index}: cannot read ({e})") from e
        entries = conf.get("voices") if isinstance(conf, dict) else None
        if not isinstance(entries, dict) or not entries:
            raise ValueError(f"built-in voices {index}: no 'voices' object")
        for name, entry in entries.items():
            check_name(name)
            if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                raise ValueError(f"built-in voices {index}: voice {name!r} names no 'file'")
            clip = directory / entry["file"]
            if Path(entry["file"]).name != entry["file"] or not clip.is_file():
                raise ValueError(f"built-in voices {index}: voice {name!r}: clip {clip} not "
                                 f"found (a file name in {directory})")
        voices = cls(directory, conf.get("default") or "", dict(entries),
                     dict(conf.get("aliases") or {}))
        voices.check(where=str(index))
        return voices

    @classmethod
    def find(cls, model: Union[str, Path]) -> Optional["BuiltinVoices"]:
        """The built-in voices of ``model`` (see :func:`voices_dir_of`); None if it has no
        ``voices/voices.json``.

        Raises:
            ValueError: a ``voices.json`` that is there but wrong (:meth:`read`).
        """
        d = voices_dir_of(model)
        return cls.read(d) if (d / VOICES_JSON).is_file() else None

    def check(self, where: str = "built-in voices") -> None:
        """Raises ValueError unless the default and every alias name a voice, and no alias
        is itself a voice's name."""
        if self.default not in self.entries:
            raise ValueError(f"{where}: the default voice {self.default!r} is not one of the "
                             f"voices ({', '.join(self.names)})")
        for alias, target in self.aliases.items():
            check_name(alias)
            if alias in self.entries:
                raise ValueError(f"{where}: alias {alias!r} is also a voice's name")
            if target not in self.entries:
                raise ValueError(f"{where}: alias {alias!r} names no voice ({target!r}); "
                                 f"voices: {', '.join(self.names)}")

    # ------------------------------------------------------------------ lookup
    @property
    def names(self) -> List[str]:
        """The voices' names, sorted (aliases not included)."""
        return sorted(self.entries)

    def resolve(self, name: str) -> str:
        """The voice called ``name`` (a voice's name or an alias).

        Raises:
            ValueError: no such voice; the message lists the voices and aliases.
        """
        if name in self.entries:
            return name
        if name in self.aliases:
            return self.aliases[name]
        raise ValueError(f"unknown voice {name!r}; this model's voices: "
                         f"{', '.join(self.names)}"
                         + (f" (aliases: {', '.join(sorted(self.aliases))})"
                            if self.aliases else ""))

    def __contains__(self, name: str) -> bool:
        return name in self.entries or name in self.aliases

    def clip(self, name: str) -> Path:
        """Path of the reference clip of the voice ``name`` (or of the voice it aliases)."""
        return self.dir / self.entries[self.resolve(name)]["file"]

    def clips(self) -> Dict[str, Path]:
        """Voice name -> clip path, for every voice and every alias (aliases resolved)."""
        out = {name: self.clip(name) for name in self.names}
        out.update({alias: out[target] for alias, target in sorted(self.aliases.items())})
        return out

    def describe(self) -> List[dict]:
        """One dict per voice: ``name``, ``description``, ``default``, ``aliases``."""
        return describe_voices(self.entries, self.default, self.aliases)

    # ------------------------------------------------------------------ writing
    @staticmethod
    def write(directory: Union[str, Path], entries: Mapping[str, dict], default: str,
              aliases: Optional[Mapping[str, str]] = None) -> "BuiltinVoices":
        """Write ``directory/voices.json`` for clips already in ``directory``, checked as
        :meth:`read` checks it (:mod:`espnet_mvc.recipe.ship_model` writes the clips)."""
        directory = Path(directory)
        conf = dict(default=default,
                    voices={k: dict(entries[k]) for k in sorted(entries)},
                    aliases={k: aliases[k] for k in sorted(aliases or {})})
        (directory / VOICES_JSON).write_text(json.dumps(conf, indent=2, ensure_ascii=False)
                                             + "\n", encoding="utf-8")
        return BuiltinVoices.read(directory)


def describe_voices(entries: Mapping[str, Mapping], default: Optional[str],
                    aliases: Mapping[str, str]) -> List[dict]:
    """One dict per voice, sorted by name: ``name``, ``description``, ``default`` and its
    ``aliases``; for a ``voices/`` directory (:meth:`BuiltinVoices.describe`) and an ONNX
    export's ``model.json`` alike."""
    return [dict(name=name, description=entries[name].get("description", ""),
                 default=name == default,
                 aliases=sorted(a for a, t in aliases.items() if t == name))
            for name in sorted(entries)]

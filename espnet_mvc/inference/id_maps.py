"""The id maps of multilingual and multi-speaker models (``lang2lid``, ``spk2sid``), shared by
the PyTorch and ONNX synthesizers. This module imports neither torch nor ESPnet."""

from pathlib import Path
from typing import Dict, List, Optional, Union


def read_id_map(path: Optional[Union[str, Path]]) -> Dict[str, int]:
    """``name id`` lines (a recipe's ``lang2lid`` / ``spk2sid``); empty without a file."""
    if path is None or not Path(path).is_file():
        return {}
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = int(parts[1])
    return out


class LanguagesAndSpeakers:
    """``languages`` and ``speakers`` of a synthesizer with ``lang2lid`` / ``spk2sid`` maps."""

    lang2lid: Dict[str, int]
    spk2sid: Dict[str, int]

    @property
    def languages(self) -> List[str]:
        """The model's language names (sorted; empty for a monolingual model)."""
        return sorted(k for k in self.lang2lid if k != "<unk>")

    @property
    def speakers(self) -> List[str]:
        """The model's speaker names (sorted; empty for a single-speaker model)."""
        return sorted(k for k in self.spk2sid if k != "<unk>")

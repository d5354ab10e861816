"""`python -m espnet_mvc.bin.train_vocoder`: train the plugin's Vocos-style vocoder.

Options, data layout, losses and outputs: see :mod:`espnet_mvc.vocoder.options`; the run:
:mod:`espnet_mvc.vocoder.trainer`. The result (``<outdir>/vocoder.pth`` + ``vocoder.yaml``)
loads with :func:`espnet_mvc.vocoder.load_vocoder` and in ESPnet's ``Text2Speech(...,
vocoder_file=".../vocoder.pth")`` once ``espnet_mvc`` is imported.
"""

import sys
from typing import Optional, Sequence

from espnet_mvc.vocoder.options import get_parser
from espnet_mvc.vocoder.trainer import train

__all__ = ["get_parser", "main"]


def main(cmd: Optional[Sequence[str]] = None) -> int:
    """Command-line entry; returns the exit status (128 + signal number if interrupted)."""
    args = get_parser().parse_args(cmd)
    result = train(args)
    return 128 + result["signum"] if result["signum"] is not None else 0


if __name__ == "__main__":
    sys.exit(main())

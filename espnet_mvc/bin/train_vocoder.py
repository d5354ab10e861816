"""`python -m espnet_mvc.bin.train_vocoder`: train the plugin's Vocos-style vocoder.

Options, data layout, losses and outputs: see :mod:`espnet_mvc.vocoder.train`. The result
(``<outdir>/vocoder.pth`` + ``vocoder.yaml``) loads with
:func:`espnet_mvc.vocoder.load_vocoder` and in ESPnet's ``Text2Speech(...,
vocoder_file=".../vocoder.pth")`` once ``espnet_mvc`` is imported.
"""

import sys

from espnet_mvc.vocoder.train import get_parser, main

__all__ = ["get_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())

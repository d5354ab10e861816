"""`python -m espnet_mvc.bin.tts_train`: ESPnet's `espnet2.bin.tts_train` with the MVC plugin registered.

Same arguments and behaviour as ESPnet's module; importing `espnet_mvc` first makes
`tts: mvc` (and the plugin's other classes) selectable. Checkpoints (`--resume`'s
`checkpoint.pth`, `--init_param` files, the epoch files averaged at the end) are loaded with
`torch.load(weights_only=True)`; see :mod:`espnet_mvc.checkpoints`.
"""

import espnet_mvc  # noqa: F401  (registers the plugin)
from espnet2.bin import tts_train as espnet_tts_train

from espnet_mvc.checkpoints import safe_checkpoint_loading

get_parser = espnet_tts_train.get_parser


def main(cmd=None):
    """ESPnet's ``tts_train.main`` with safe checkpoint loading."""
    with safe_checkpoint_loading():
        espnet_tts_train.main(cmd)


if __name__ == "__main__":
    main()

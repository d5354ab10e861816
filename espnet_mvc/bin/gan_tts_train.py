"""`python -m espnet_mvc.bin.gan_tts_train`: ESPnet's `espnet2.bin.gan_tts_train` with the MVC plugin registered.

Same arguments and behaviour as ESPnet's module; the plugin is registered into ESPnet's
task modules at once, so `tts: mvc` (and the plugin's other classes) is selectable.
Checkpoints (`--resume`'s `checkpoint.pth`, `--init_param` files, the epoch files averaged
at the end) are loaded with `torch.load(weights_only=True)`; see :mod:`espnet_mvc.checkpoints`.
A training run (not ``--collect_stats``) writes its CPU seconds per epoch into
``<output_dir>/cpu_seconds.json``; see :mod:`espnet_mvc.cpu_ledger`.
"""

# first: the package defers g2p_en (nltk downloads at import) before ESPnet imports it
from espnet_mvc import registry  # isort: skip
from espnet2.bin import gan_tts_train as espnet_gan_tts_train  # noqa: E402

import contextlib  # noqa: E402
import sys  # noqa: E402

from espnet_mvc.checkpoints import safe_checkpoint_loading  # noqa: E402
from espnet_mvc.cpu_ledger import ledger_for  # noqa: E402

registry.register_now()

get_parser = espnet_gan_tts_train.get_parser


def main(cmd=None):
    """ESPnet's ``gan_tts_train.main`` with safe checkpoint loading."""
    ledger = ledger_for(sys.argv[1:] if cmd is None else cmd)
    with safe_checkpoint_loading(), ledger or contextlib.nullcontext():
        espnet_gan_tts_train.main(cmd)


if __name__ == "__main__":
    main()

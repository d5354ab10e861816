"""``python -m espnet_mvc.espnet.tts_train --task {tts,gan_tts}``: ESPnet's trainers with MVC.

``--task tts`` (the default) is ESPnet's ``espnet2.bin.tts_train`` and ``--task gan_tts``
its ``espnet2.bin.gan_tts_train`` (joint text2mel + vocoder models), with the same arguments
and behaviour and the plugin registered into ESPnet's task modules at once, so that
``tts: mvc`` (and ``text2mel: mvc`` in ``joint_text2wav``) is selectable.

Checkpoints (``--resume``'s ``checkpoint.pth``, ``--init_param`` files, the epoch files
averaged at the end) are loaded with ``torch.load(weights_only=True)``; see
:mod:`espnet_mvc.espnet.checkpoints`. A training run (not ``--collect_stats``) writes its
CPU seconds per epoch into ``<output_dir>/cpu_seconds.json``; see
:mod:`espnet_mvc.espnet.cpu_ledger`.
"""

# first: the package defers g2p_en (nltk downloads at import) before ESPnet imports it
import espnet_mvc  # noqa: F401  # isort: skip

import argparse
import contextlib
import importlib
import sys
from typing import List, Optional, Sequence, Tuple

from espnet_mvc.espnet import registry
from espnet_mvc.espnet.checkpoints import safe_checkpoint_loading
from espnet_mvc.espnet.cpu_ledger import ledger_for

# --task -> ESPnet's entry point module
TASKS = {"tts": "espnet2.bin.tts_train", "gan_tts": "espnet2.bin.gan_tts_train"}


def split_task(argv: Sequence[str]) -> Tuple[str, List[str]]:
    """``--task NAME`` (default ``tts``) and the rest of the command line, ESPnet's."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--task", choices=sorted(TASKS), default="tts")
    known, rest = p.parse_known_args(list(argv))
    return known.task, rest


def _espnet_module(task: str):
    registry.register_now()
    return importlib.import_module(TASKS[task])


def get_parser(task: str = "tts") -> argparse.ArgumentParser:
    """ESPnet's parser of ``task``'s trainer (the plugin registered)."""
    return _espnet_module(task).get_parser()


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """ESPnet's ``<task>_train.main`` with safe checkpoint loading and the CPU ledger."""
    argv = sys.argv[1:] if cmd is None else list(cmd)
    task, argv = split_task(argv)
    espnet_main = _espnet_module(task).main
    ledger = ledger_for(argv)
    if cmd is None:  # ESPnet reads (and logs) sys.argv itself when given no command
        sys.argv[1:] = argv
    with safe_checkpoint_loading(), ledger or contextlib.nullcontext():
        espnet_main(None if cmd is None else argv)


if __name__ == "__main__":
    main()

"""Safe checkpoint loading for the plugin's ESPnet entry points.

ESPnet 202511 unpickles checkpoints with ``torch.load(..., weights_only=False)``, which runs
whatever callable a pickle names. On the paths of ``python -m espnet_mvc.espnet.tts_train``
(both tasks) and ``tts_inference`` it does so in four modules, and ``torch.load``
appears nowhere else in them:

* ``espnet2.train.trainer`` (``Trainer.resume``, inherited by ``GANTrainer``):
  ``<output_dir>/checkpoint.pth`` with ``--resume true``;
* ``espnet2.tasks.abs_task`` (``AbsTask.build_model_from_file``, both of its loads): the
  model file of ``Text2Speech`` / ``tts_inference --model_file``;
* ``espnet2.torch_utils.load_pretrained_model``: every ``--init_param`` file;
* ``espnet2.main_funcs.average_nbest_models``: the ``<output_dir>/<N>epoch.pth`` files
  averaged at the end of training.

:func:`safe_checkpoint_loading` (a context manager, used by those entry points around
ESPnet's ``main``) replaces the module-global name ``torch`` in exactly these four modules
with a proxy: its ``load`` is :func:`safe_load` for that call site, every other attribute is
torch's own. ``torch.load`` anywhere else, and the modules after the block, are untouched;
site-packages is not edited.

Policy:

* Every file is read with ``weights_only=True`` (the ``weights_only=False`` ESPnet passes
  is overridden): only tensors, plain Python containers and numbers are rebuilt.
* The trainer's ``checkpoint.pth`` also needs :data:`RESUME_SAFE_GLOBALS`, and only it gets
  them: ESPnet's ``Reporter`` state holds ``numpy.float64`` statistics (aggregated with
  ``np.nanmean``) and a ``datetime.timedelta`` per epoch. These are value types whose
  rebuilding runs no user code; the optimizer, scheduler and ``GradScaler`` states and the
  model need nothing more (checked on ``checkpoint.pth`` files of MVC ``tts`` and
  ``gan_tts`` runs and of ESPnet's JETS: AdamW / Adam, ``warmuplr`` / ``exponentiallr``).
* A file that holds anything else is refused with :class:`UnsafeCheckpointError`, naming
  the file, what it was loaded as and the objects that blocked it. There is no automatic
  fallback to ``weights_only=False``: not for model and ``--init_param`` files, and not for
  ``checkpoint.pth`` either, since an exp dir is often copied or downloaded and being in it
  does not show the file was written by this trainer; ESPnet's own checkpoints load under the
  allow-list, so a refusal means the file holds something the trainer does not write.
* The one way to unpickle a ``checkpoint.pth`` fully is explicit and per file: set
  ``ESPNET_MVC_TRUST_CHECKPOINT`` to that checkpoint's path (say, one written by a newer
  ESPnet that stores a new type). It is honoured only for the resume checkpoint, logged as a
  warning, and never for model, ``--init_param`` or epoch files.
"""

import contextlib
import logging
import os
import pickle
import threading
import types
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch

TRUST_ENV = "ESPNET_MVC_TRUST_CHECKPOINT"

# What each patched module's torch.load reads (used in error messages).
SITES: Dict[str, str] = {
    "espnet2.train.trainer": "the trainer's resume checkpoint (--resume)",
    "espnet2.tasks.abs_task": "a model file",
    "espnet2.torch_utils.load_pretrained_model": "an --init_param file",
    "espnet2.main_funcs.average_nbest_models": "an epoch checkpoint to average",
}
RESUME_SITE = "espnet2.train.trainer"


def _resume_safe_globals() -> List:
    import datetime

    import numpy as np
    from numpy._core.multiarray import scalar

    # np.float64(x) pickles as scalar(dtype("float64"), <8 bytes>); the dtype is rebuilt
    # with numpy.dtype(...) and then set up with Float64DType.__setstate__.
    return [scalar, np.dtype, np.dtypes.Float64DType, datetime.timedelta]


#: Globals allowed, on top of torch's weights-only defaults, in ``checkpoint.pth`` only.
RESUME_SAFE_GLOBALS: List = _resume_safe_globals()


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint that cannot be loaded with ``weights_only=True`` (it was not loaded)."""


def _blocking_globals(f, allowed: Sequence) -> List[str]:
    """Names of the globals in ``f``'s pickle that are not allowed (read, never executed)."""
    if not isinstance(f, (str, os.PathLike)):
        return []
    allowed_names = {f"{g.__module__}.{g.__qualname__}" for g in allowed}
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(f)
    except Exception:  # legacy (non-zip) format: torch's own reason is still reported
        return []
    return sorted(set(found) - allowed_names)


def _torch_reason(e: Exception) -> str:
    """torch's own reason for a weights-only refusal, without its advice to load anyway."""
    text = str(e)
    if "WeightsUnpickler error:" in text:
        text = text.rsplit("WeightsUnpickler error:", 1)[1]
    else:
        text = text.replace("Weights only load failed.", "")
        text = text.replace(getattr(torch.serialization, "UNSAFE_MESSAGE", "") or "\0", "")
    for cut in (" Please use `torch.serialization", "Check the documentation of torch.load"):
        text = text.split(cut, 1)[0]
    return " ".join(text.split()).rstrip(".") or type(e).__name__


def _trusted(f) -> bool:
    value = os.environ.get(TRUST_ENV)
    if not value or not isinstance(f, (str, os.PathLike)):
        return False
    return os.path.realpath(value) == os.path.realpath(f)


def safe_load(f, map_location=None, *, site: str = "", allowed: Sequence = (), **kwargs):
    """``torch.load(f, weights_only=True)`` with ``allowed`` globals; refusals name the file.

    Args:
        f: Checkpoint path (or file object).
        map_location: As for ``torch.load``.
        site: ESPnet module whose load this is (a key of :data:`SITES`).
        allowed: Extra safe globals for this load (``torch.serialization.safe_globals``).
        kwargs: Other ``torch.load`` arguments; ``weights_only`` is ignored (always True).

    Raises:
        UnsafeCheckpointError: the file holds objects that ``weights_only`` loading refuses.
    """
    kwargs.pop("weights_only", None)
    if site == RESUME_SITE and _trusted(f):
        logging.warning(
            f"{f}: loading with weights_only=False because {TRUST_ENV} names it; this "
            f"unpickles arbitrary objects and can run code from the file"
        )
        return torch.load(f, map_location=map_location, weights_only=False, **kwargs)
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(f, map_location=map_location, weights_only=True, **kwargs)
    except pickle.UnpicklingError as e:
        what = SITES.get(site, "a checkpoint")
        blocking = _blocking_globals(f, allowed)
        message = (
            f"{f}: refused to load {what}: it cannot be loaded with "
            f"torch.load(weights_only=True) ({_torch_reason(e)})"
        )
        if blocking:
            message += f"; objects it holds that are not allowed: {', '.join(blocking)}"
        message += (
            ". Loading it fully would unpickle arbitrary objects, which can run code "
            "from the file, so it was not loaded."
        )
        if site == RESUME_SITE:
            message += (
                f" ESPnet's own checkpoint.pth holds nothing more than tensors, numbers and "
                f"the allow-listed numpy float64 / datetime.timedelta values. Only if this "
                f"file was written by your own training run and you trust it, set "
                f"{TRUST_ENV}={os.path.realpath(f) if isinstance(f, (str, os.PathLike)) else f} "
                f"to load it with weights_only=False."
            )
        raise UnsafeCheckpointError(message) from e


class _TorchWithSafeLoad(types.ModuleType):
    """Stands for ``torch`` in one ESPnet module: ``load`` is safe, the rest is torch."""

    def __init__(self, site: str, load: Callable):
        super().__init__("torch")
        self.__dict__["load"] = load
        self.__dict__["_mvc_site"] = site

    def __getattr__(self, name):
        return getattr(torch, name)


def _site_loader(site: str) -> Callable:
    allowed = RESUME_SAFE_GLOBALS if site == RESUME_SITE else ()

    def load(f, map_location=None, **kwargs):
        return safe_load(f, map_location, site=site, allowed=allowed, **kwargs)

    return load


_lock = threading.Lock()
_depth = 0
_saved: Dict[str, object] = {}


def _install() -> None:
    import importlib

    for name in SITES:
        module = importlib.import_module(name)
        current = getattr(module, "torch", None)
        if current is not torch:
            raise RuntimeError(
                f"espnet_mvc: cannot make checkpoint loading safe: {name}.torch is "
                f"{current!r}, not the torch module (an ESPnet version this plugin does not "
                f"know?)"
            )
        _saved[name] = current
    for name in SITES:
        # why: ESPnet loads with weights_only=False; only while the block runs (restored)
        importlib.import_module(name).torch = _TorchWithSafeLoad(name, _site_loader(name))


def _uninstall() -> None:
    import sys

    for name, original in _saved.items():
        sys.modules[name].torch = original
    _saved.clear()


@contextlib.contextmanager
def safe_checkpoint_loading() -> Iterator[None]:
    """Within the block, ESPnet's checkpoint loads (see the module docstring) are safe.

    Re-entrant; the patched modules get ``torch`` back when the outermost block exits.
    """
    global _depth
    with _lock:
        if _depth == 0:
            _install()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _uninstall()


def is_active(module_name: Optional[str] = None) -> bool:
    """True while :func:`safe_checkpoint_loading` is in effect (for ``module_name``)."""
    import sys

    names = [module_name] if module_name else list(SITES)
    return all(isinstance(getattr(sys.modules.get(n), "torch", None), _TorchWithSafeLoad)
               for n in names)

"""One measurement per fresh child, forked from a forkserver that imported the models once.

A fresh child per measured point means no point inherits another's allocator state or
caches, and forking from a pre-imported server means import time is not paid per point.
The OpenMP wait policy of the children is set before the server starts (libgomp reads it
when the server imports torch); see :func:`set_omp_wait`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import Any, Dict, Sequence

_CTX = None
_CTX_OMP = None
OMP_CHOICES = ("default", "passive", "active", "inherit")


def set_omp_wait(choice: str) -> str:
    """Set OMP_WAIT_POLICY for the children (read by libgomp when the forkserver imports
    torch); returns the value in effect. The forkserver is started once per process."""
    global _CTX_OMP
    if choice == "default":
        os.environ.pop("OMP_WAIT_POLICY", None)
    elif choice in ("passive", "active"):
        os.environ["OMP_WAIT_POLICY"] = choice.upper()
    value = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    if _CTX is not None and _CTX_OMP is not None and value != _CTX_OMP:
        print(f"# note: the measuring server already runs with OMP_WAIT_POLICY={_CTX_OMP}")
        return _CTX_OMP
    _CTX_OMP = value
    return value


def _context(preload: Sequence[str]):
    """A forkserver whose server process has imported ``preload`` once (first call wins)."""
    global _CTX
    if _CTX is None:
        methods = mp.get_all_start_methods()
        if "forkserver" in methods:
            _CTX = mp.get_context("forkserver")
            try:
                _CTX.set_forkserver_preload(list(preload))
            except Exception:
                pass
        else:  # pragma: no cover (non-Linux)
            _CTX = mp.get_context("spawn")
    return _CTX


def run_in_child(target, spec: Dict[str, Any], timeout: float,
                 preload: Sequence[str] = ()) -> Dict[str, Any]:
    """Run ``target(spec, conn)`` in a fresh child; the dict it sends, or an error dict.

    Args:
        target: Module-level function (it is pickled by name); sends one dict on ``conn``.
        spec: Its argument; ``model`` and ``T`` are copied into an error dict.
        timeout: Seconds to wait for the dict; then the child is killed.
        preload: Modules the forkserver imports once, so that no child pays for them.

    Returns:
        The child's dict, or ``dict(ok=False, model, T, error)``.
    """
    ctx = _context(preload)
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(spec, child_conn), daemon=True)
    proc.start()
    child_conn.close()
    result = None
    try:
        if parent_conn.poll(timeout):
            result = parent_conn.recv()
    except EOFError:
        result = None
    finally:  # also on KeyboardInterrupt / SIGTERM: never leave the child running
        proc.join(5 if result is not None else 0.1)
        if proc.is_alive():
            proc.kill()  # only this child, by its own handle
            proc.join()
    if result is None:
        why = f"timed out after {timeout:.0f}s" if proc.exitcode in (None, -9) else (
            f"child exited with code {proc.exitcode} (killed for memory?)")
        result = dict(ok=False, model=spec.get("model"), T=spec.get("T"), error=why)
    return result

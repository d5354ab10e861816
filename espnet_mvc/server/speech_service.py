"""State shared by every request of the speech server, and the life of one speech request.

:class:`SpeechService` is created once by :func:`espnet_mvc.server.app.create_app` and kept
on ``app.state.service``; endpoints receive it through :func:`current_service`
(``Depends(current_service)``), so no route holds state of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import numpy as np
from starlette.requests import Request

from espnet_mvc.server.api_errors import APIError
from espnet_mvc.server.pool import Admission, ClientGone, QueueFull, QueueTimeout, WorkerPool
from espnet_mvc.server.server_config import ServerConfig
from espnet_mvc.server.voices import VoiceStore

log = logging.getLogger("espnet_mvc.server")


def model_id(model: str) -> str:
    """``kokoro_en_mvc`` for a shipped name; the directory's name for ``.../packed.zip``."""
    p = Path(model)
    if not p.exists():
        return model
    p = p.resolve()
    return p.parent.name if p.is_file() and p.name.startswith(("packed", "config")) else p.stem


class SpeechService:
    """The loaded model, its voices and the load control shared by all requests.

    Args:
        config (ServerConfig): Resolved settings (:meth:`ServerConfig.resolved`).
        tts (MVCSynthesizer): The loaded model; only its public members are used.
    """

    def __init__(self, config: ServerConfig, tts):
        import torch

        self.config = config
        self.tts = tts
        self.fs = int(tts.fs)
        self.model_id = model_id(config.model)
        self.started = int(time.time())
        threads = config.threads
        # each worker thread sets its own OpenMP team size (torch's setting is per thread)
        self.pool = WorkerPool(config.workers, init=lambda: torch.set_num_threads(threads))
        self.admission = Admission(config.max_active, config.queue_size)
        self.voices = VoiceStore(config.voices_dir, self.fs)
        self.voices.load_all()
        # the built-in voices' clips, read and checked once, at start
        self.builtin = {name: tts.voice_reference(name)
                        for name in (tts.builtin_voices.names if tts.builtin_voices else [])}
        self.counts: Dict[str, int] = dict(ok=0, rejected=0, client_errors=0, timed_out=0,
                                           cancelled=0, failed=0)

    def count_error(self, status: int) -> None:
        """Count an answer with an error ``status`` (499: the client went away)."""
        key = ("rejected" if status == 429 else "timed_out" if status == 408 else
               "cancelled" if status == 499 else "failed" if status >= 500 else
               "client_errors")
        self.counts[key] += 1

    async def admit(self, request: Request, deadline: float) -> float:
        """Take a place for ``request`` (see :class:`Admission`); returns the start time.

        Raises:
            APIError: 429 queue full, 408 the deadline passed, 499 the client went away.
        """
        try:
            await self.admission.enter(deadline, gone=request.is_disconnected)
        except QueueFull as e:
            raise APIError(429, f"server busy: {self.admission.active} requests running and "
                                f"{self.admission.waiting} waiting; retry after "
                                f"{e.retry_after} s", "queue_full",
                           headers={"Retry-After": str(e.retry_after)}) from None
        except QueueTimeout:
            raise APIError(408, f"request timed out after {self.config.request_timeout:g} s "
                                f"waiting in the queue (--request-timeout)",
                           "request_timeout") from None
        except ClientGone:  # nobody reads this answer; 499 as nginx logs it
            raise APIError(499, "client closed the request while it waited",
                           "client_closed") from None
        return time.monotonic()

    def release(self, started: float) -> None:
        """Give back the place taken at ``started`` (feeds the Retry-After estimate)."""
        self.admission.record(time.monotonic() - started)
        self.admission.leave()

    async def run_once(self, request: Request, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` as one admitted first-priority step (voice uploads)."""
        deadline = time.monotonic() + self.config.request_timeout
        started = await self.admit(request, deadline)
        try:
            return await asyncio.wrap_future(self.pool.submit(fn, first=True))
        finally:
            self.release(started)


async def current_service(request: Request) -> SpeechService:
    """The app's :class:`SpeechService`, for ``Depends`` (async: no thread-pool hop)."""
    return request.app.state.service


class Job:
    """One admitted speech request: its iterator of audio pieces, stepped on the pool.

    A step is one streamed chunk (or one phrase when not streaming); between steps the
    handler checks the client and the deadline. :meth:`close` gives the place back only
    once a step still running on a worker has finished, so that ``busy`` and ``active``
    never undercount work in flight.

    Args:
        service (SpeechService): Where the request was admitted.
        started (float): Its :meth:`SpeechService.admit` time.
    """

    def __init__(self, service: SpeechService, started: float):
        self.service = service
        self.started = started
        self.it: Optional[Iterator[np.ndarray]] = None
        self._running: Optional[concurrent.futures.Future] = None
        self._closed = False
        self.outcome: Optional[str] = None  # "ok", "timed_out", "failed"; None: cancelled

    async def _step(self, fn: Callable[[], Any], first: bool = False) -> Any:
        fut = self.service.pool.submit(fn, first=first)
        self._running = fut
        return await asyncio.wrap_future(fut)

    async def start(self, make_iter: Callable[[], Iterator[np.ndarray]]) -> Optional[np.ndarray]:
        """Build the iterator (this validates the text and voice) and make the first piece.

        Returns:
            Optional[np.ndarray]: The first piece of audio, shape (samples,); None: no audio.
        """

        def first_step():
            self.it = make_iter()
            return next(self.it, None)

        return await self._step(first_step, first=True)

    async def next(self) -> Optional[np.ndarray]:
        """The next piece, shape (samples,), or None at the end."""
        it = self.it
        return await self._step(lambda: next(it, None))

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Any other work of this request on the pool (encoding)."""
        return await self._step(fn)

    def close(self) -> None:
        """Stop the request: close its iterator and give its place back (idempotent)."""
        if self._closed:
            return
        self._closed = True
        service = self.service
        loop = asyncio.get_running_loop()
        if self.outcome is None:
            service.counts["cancelled"] += 1

        def finish(_=None):
            it, self.it = self.it, None
            if it is not None:
                try:
                    it.close()
                except Exception:  # pragma: no cover - a generator failing to close
                    log.exception("closing a synthesis iterator")
            loop.call_soon_threadsafe(service.release, self.started)

        fut = self._running
        if fut is not None and not fut.done():
            fut.add_done_callback(finish)  # runs on the worker once its step is over
        else:
            finish()

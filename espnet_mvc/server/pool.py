"""Load control of the speech server: a bounded worker pool and a bounded admission queue.

Synthesis is cut into *steps* (one streamed chunk, or one phrase), and every step of every
request runs on a fixed set of worker threads. Requests are admitted in two stages:

* at most ``max_active`` requests are being synthesized at once; their steps interleave on
  the workers, so a new request's first audio waits for about one step of each running
  request, not for whole utterances (first steps of new requests also go before the next
  steps of running ones);
* at most ``queue_size`` more requests wait for one of those places; beyond that a request
  is refused at once (:class:`QueueFull`, answered 429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import math
import queue
import threading
import time
from typing import Any, Awaitable, Callable, Deque, Optional

log = logging.getLogger("espnet_mvc.server")


class QueueFull(Exception):
    """The admission queue is full; ``retry_after`` is a suggested wait in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"server busy: retry after {retry_after} s")
        self.retry_after = retry_after


class QueueTimeout(Exception):
    """A request's time limit ran out while it waited for a place."""


class ClientGone(Exception):
    """The client disconnected while its request waited for a place."""


class WorkerPool:
    """``workers`` threads that run synthesis steps, first steps of new requests first.

    Args:
        workers (int): Number of threads (each runs one step at a time).
        init (Optional[callable]): Run once in each thread before its first step (torch's
            thread count is a per-thread setting of OpenMP).
    """

    def __init__(self, workers: int, init: Optional[Callable[[], None]] = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._queue: "queue.PriorityQueue" = queue.PriorityQueue()
        self._seq = itertools.count()  # FIFO among steps of the same priority
        self._lock = threading.Lock()
        self._busy = 0
        self._init = init
        self._threads = [
            threading.Thread(target=self._run, name=f"mvc-worker-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    @property
    def busy(self) -> int:
        """Threads running a step right now."""
        with self._lock:
            return self._busy

    def submit(self, fn: Callable[[], Any], first: bool = False) -> concurrent.futures.Future:
        """Run ``fn()`` on a worker; ``first`` puts it before every queued non-first step."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((0 if first else 1, next(self._seq), fut, fn))
        return fut

    def shutdown(self) -> None:
        """Stop the threads once the queued steps are done (does not wait)."""
        for _ in self._threads:
            self._queue.put((2, next(self._seq), None, None))

    def _run(self) -> None:
        if self._init is not None:
            try:
                self._init()
            except Exception:  # pragma: no cover - a worker must start anyway
                log.exception("worker init failed")
        while True:
            _, _, fut, fn = self._queue.get()
            if fut is None:
                return
            if not fut.set_running_or_notify_cancel():
                continue  # cancelled while queued: its client has gone
            with self._lock:
                self._busy += 1
            try:
                result = fn()
            except BaseException as e:  # handed to the awaiting request
                fut.set_exception(e)
            else:
                fut.set_result(result)
            finally:
                with self._lock:
                    self._busy -= 1


class Admission:
    """At most ``max_active`` requests at once and ``queue_size`` waiting (event-loop side).

    Args:
        max_active (int): Requests synthesized at the same time.
        queue_size (int): Requests allowed to wait for a place; more are refused.
    """

    def __init__(self, max_active: int, queue_size: int):
        if max_active < 1 or queue_size < 0:
            raise ValueError(f"need max_active >= 1 and queue_size >= 0, got "
                             f"{max_active}, {queue_size}")
        self.max_active = max_active
        self.queue_size = queue_size
        self.active = 0
        self._waiters: Deque[asyncio.Future] = collections.deque()
        # running mean of how long a request holds its place, for Retry-After
        self._mean_s = 1.0

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the queue ahead, served max_active at once."""
        ahead = self.waiting + 1
        return max(1, math.ceil(self._mean_s * ahead / self.max_active))

    def record(self, seconds: float) -> None:
        """Feed the Retry-After estimate with one request's time in its place."""
        self._mean_s = 0.8 * self._mean_s + 0.2 * max(0.0, seconds)

    async def enter(
        self,
        deadline: float,
        gone: Optional[Callable[[], Awaitable[bool]]] = None,
        poll_s: float = 0.25,
    ) -> None:
        """Take a place, waiting in FIFO order if none is free.

        Args:
            deadline (float): ``time.monotonic()`` after which waiting gives up.
            gone: Async predicate polled while waiting (the client disconnected): then
                waiting stops with :class:`ClientGone`.

        Raises:
            QueueFull: no place and the queue is full (at once).
            QueueTimeout: the deadline passed while waiting.
            ClientGone: ``gone()`` became true while waiting.
        """
        if self.active < self.max_active and not self.waiting:
            self.active += 1
            return
        if self.waiting >= self.queue_size:
            raise QueueFull(self.retry_after())
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QueueTimeout()
                try:
                    # shield: a poll timeout must not cancel the place we are waiting for
                    await asyncio.wait_for(asyncio.shield(fut), min(poll_s, left))
                    return  # leave() handed us its place (active unchanged)
                except asyncio.TimeoutError:
                    if gone is not None and await gone():
                        raise ClientGone()
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.leave()  # a place arrived as we gave up: pass it on
            else:
                fut.cancel()
            raise
        finally:
            try:
                self._waiters.remove(fut)
            except ValueError:
                pass

    def leave(self) -> None:
        """Give a place back: to the first waiter, or free it."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.active -= 1

"""ASGI middleware of the speech server: a request's body is read whole, within bounds, first.

Plain ASGI (no FastAPI), so that the limits hold before any endpoint buffers a body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Callable, List, Optional

from espnet_mvc.server.api_errors import error_body

log = logging.getLogger("espnet_mvc.server")


class BodyLimit:
    """ASGI middleware: reads a request's body before the app sees it, within bounds.

    * Size: ``Content-Length`` is checked up front; a chunked body is counted as it arrives.
      Over the limit: 413 before the app buffers it.
    * Time: a body that stalls (no bytes for ``body_timeout`` seconds) or that does not
      arrive whole within ``total_timeout`` seconds gets 408 with ``Connection: close``,
      and the connection is closed: a client that sends half a body and waits holds no
      connection for long.
    * Disconnects: a client that closes its connection before its body has arrived is
      counted by ``on_disconnect`` (the server's ``cancelled``), logged as such, and
      answered with nothing (nobody is there to read it). It is not the server's fault.

    The app then reads the whole body at once from memory; later ``receive`` calls (the
    app's disconnect checks) go to the server's own.

    Args:
        app: The ASGI app behind.
        limit_for (Callable[[str, str], int]): The byte limit of a request's body, from its
            method and path.
        on_reject, on_timeout, on_disconnect (Callable[[], None]): Called once for a body
            too large (413), a body that stalled (408), a client gone before its body came.
        body_timeout (float): Seconds allowed without body bytes.
        total_timeout (Optional[float]): Seconds allowed for the whole body.
    """

    def __init__(self, app, limit_for: Callable[[str, str], int], on_reject: Callable[[], None],
                 body_timeout: float = 10.0, total_timeout: Optional[float] = None,
                 on_timeout: Callable[[], None] = lambda: None,
                 on_disconnect: Callable[[], None] = lambda: None):
        self.app, self.limit_for, self.on_reject = app, limit_for, on_reject
        self.body_timeout, self.total_timeout = body_timeout, total_timeout
        self.on_timeout, self.on_disconnect = on_timeout, on_disconnect

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope.get("method"), scope.get("path"))
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            self.on_reject()
            return await _send_json(send, 413, _too_large(int(length), limit))
        if (length is None or not length.isdigit() or int(length) == 0) \
                and b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)  # no body to wait for
        expected = f" of {int(length)}" if length is not None and length.isdigit() else ""
        whole = await self._read_body(scope, receive, send, limit, expected)
        if whole is None:
            return  # answered (413, 408) or nobody is there any more
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, scope, receive, send, limit: int,
                         expected: str) -> Optional[bytes]:
        """The whole body, or None once the request has been answered or abandoned."""
        what = f"{scope.get('method')} {scope.get('path')}"
        chunks: List[bytes] = []
        seen = 0
        start = time.monotonic()
        while True:
            wait = self.body_timeout
            if self.total_timeout is not None:
                wait = min(wait, self.total_timeout - (time.monotonic() - start))
            try:
                if wait <= 0:
                    raise asyncio.TimeoutError
                message = await asyncio.wait_for(receive(), wait)
            except asyncio.TimeoutError:
                self.on_timeout()
                log.info("request body stalled (%d%s bytes after %.1f s) on %s: 408, "
                         "connection closed", seen, expected, time.monotonic() - start, what)
                await _send_json(send, 408, error_body(
                    408, f"the request body did not arrive in time: {seen}{expected} bytes "
                         f"after {time.monotonic() - start:.1f} s (at most "
                         f"{self.body_timeout:g} s without data, --body-timeout)",
                    "body_timeout"), close=True)
                return None
            if message["type"] == "http.disconnect":
                self.on_disconnect()
                log.info("client closed the connection before its request body arrived "
                         "(%d%s bytes) on %s: cancelled", seen, expected, what)
                return None
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:
                self.on_reject()
                await _send_json(send, 413, _too_large(seen, limit), close=True)
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(size: int, limit: int) -> dict:
    return error_body(413, f"request body too large: {size} bytes; the limit for this endpoint "
                           f"is {limit} bytes", "body_too_large")


async def _send_json(send, status: int, body: dict, close: bool = False) -> None:
    """A JSON answer; ``close``: with ``Connection: close`` (the server then closes the
    connection once it is sent: used when the request's body was not read to its end)."""
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(data)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})

"""The speech server tells a client's faults from its own (issue 25, item 2).

A real server (``espnet-mvc serve`` in a subprocess with the shipped model, on 127.0.0.1)
is spoken to over raw sockets:

* a client that sends half of its body and closes the connection is counted as
  ``cancelled``, logged as such, and not as an internal error;
* a client that sends half of its body and then stalls gets 408 after ``--body-timeout``
  (1 s here), and its connection is closed;
* 64 concurrent clients, some closing mid-body, some stalling, some hanging up after the
  first streamed chunk, the rest asking for a short phrase (served, or 429 when the queue is
  full): every request is counted once, and none under ``failed``.

The server log holds no traceback and no "internal error" line in any of them.
"""

import json
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from espnet_mvc.server.launch import ServerProcess  # noqa: E402

MODEL = "kokoro_en_mvc"
BODY_TIMEOUT = 1.0
SERVER_ARGS = [
    "--workers", "2", "--threads", "1", "--max-active", "2", "--queue-size", "4",
    "--max-chars", "60", "--chunk", "0.5", "--first-chunk", "0.25", "--lookahead", "0.5",
    "--body-timeout", str(BODY_TIMEOUT), "--log-level", "info",
]
LONG = " ".join(f"This is sentence number {i} of a text that takes a while to read."
                for i in range(6))
COUNTS = ("ok", "rejected", "client_errors", "timed_out", "cancelled", "failed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_faults")
    srv = ServerProcess(MODEL, root / "voices", SERVER_ARGS, log_path=root / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        print(srv.log_tail())


def _payload(text="Hi.", stream=True):
    return json.dumps(dict(input=text, steps=2, seed=0, stream=stream,
                           response_format="pcm" if stream else "wav")).encode()


def _head(port, body_len):
    return (f"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n").encode()


def _connect(server, timeout=30.0):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def half_body_then_close(server):
    body = _payload(LONG)
    with _connect(server) as s:
        s.sendall(_head(server.port, len(body)) + body[: len(body) // 2])
        time.sleep(0.05)
    return "closed"


def half_body_then_stall(server):
    """Returns (seconds until the answer, the answer, whether the server closed)."""
    body = _payload()
    with _connect(server) as s:
        s.sendall(_head(server.port, len(body)) + body[: len(body) // 2])
        t0 = time.monotonic()
        data = b""
        while True:  # the answer, then the end of the connection (b"")
            chunk = s.recv(65536)
            if not chunk:
                return time.monotonic() - t0, data, True
            data += chunk


def hang_up_after_first_chunk(server):
    body = _payload(LONG)
    with _connect(server, timeout=120) as s:
        s.sendall(_head(server.port, len(body)) + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return "no answer"
            data += chunk
        status = int(data.split(b" ", 2)[1])
        if status == 200 and len(data.split(b"\r\n\r\n", 1)[1]) == 0:
            s.recv(65536)  # the first audio chunk
    return status


def short_request(server):
    status, _, data = server.request("POST", "/v1/audio/speech", _payload(), timeout=300)
    return status


def _health(server):
    status, body = server.json("GET", "/health")
    assert status == 200
    return body


def _settled(server, want, timeout=60.0):
    """/health once no request is active or queued and ``want(counts)`` holds."""
    end = time.monotonic() + timeout
    while True:
        h = _health(server)
        if h["active"] == 0 and h["queued"] == 0 and h["busy_workers"] == 0 \
                and want(h["requests"]):
            return h["requests"]
        if time.monotonic() > end:
            raise AssertionError(f"server not settled after {timeout} s: {h}")
        time.sleep(0.1)


def _no_internal_errors(server):
    log = server.log_tail(10**7)
    for bad in ("internal error", "Traceback", "Exception in ASGI application"):
        assert bad not in log, log[-3000:]
    return log


def test_half_body_then_close_is_cancelled(server):
    before = _health(server)["requests"]
    half_body_then_close(server)
    after = _settled(server, lambda c: c["cancelled"] > before["cancelled"], timeout=20)
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["failed"] == 0
    assert "before its request body arrived" in _no_internal_errors(server)


def test_half_body_then_stall_gets_408_and_closed(server):
    before = _health(server)["requests"]
    seconds, answer, closed = half_body_then_stall(server)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "body_timeout"
    assert closed
    assert BODY_TIMEOUT * 0.9 <= seconds < BODY_TIMEOUT + 5
    after = _settled(server, lambda c: c["timed_out"] > before["timed_out"], timeout=20)
    assert after["timed_out"] == before["timed_out"] + 1 and after["failed"] == 0
    _no_internal_errors(server)
    # the server still serves
    assert short_request(server) == 200


def test_64_concurrent_clients_with_disconnects(server):
    n = 64
    kinds = {0: half_body_then_close, 1: hang_up_after_first_chunk, 2: short_request,
             3: short_request}
    # every eighth client stalls instead of closing
    plan = [half_body_then_stall if i % 8 == 4 else kinds[i % 4] for i in range(n)]
    before = _health(server)["requests"]
    barrier = threading.Barrier(n)
    results = [None] * n

    def client(i):
        barrier.wait()
        try:
            results[i] = plan[i](server)
        except Exception as e:  # recorded: a lost client fails the test below
            results[i] = repr(e)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert time.monotonic() - t0 < 300
    by_kind = {}
    for f, r in zip(plan, results):
        by_kind.setdefault(f.__name__, []).append(r)
    assert set(by_kind["half_body_then_close"]) == {"closed"}, by_kind
    assert all(r[0] < BODY_TIMEOUT + 5 and r[1].startswith(b"HTTP/1.1 408") and r[2]
               for r in by_kind["half_body_then_stall"]), by_kind["half_body_then_stall"]
    assert set(by_kind["hang_up_after_first_chunk"]) <= {200, 429}, by_kind
    assert set(by_kind["short_request"]) <= {200, 429}, by_kind
    assert 200 in by_kind["short_request"] + by_kind["hang_up_after_first_chunk"]
    n_close = len(by_kind["half_body_then_close"])
    n_stall = len(by_kind["half_body_then_stall"])
    after = _settled(server, lambda c: sum(c[k] for k in COUNTS)
                     >= sum(before[k] for k in COUNTS) + n, timeout=60)
    delta = {k: after[k] - before[k] for k in COUNTS}
    assert after["failed"] == 0, delta
    assert sum(delta.values()) == n, delta  # every request counted once
    assert delta["timed_out"] == n_stall, delta
    assert delta["cancelled"] >= n_close, delta
    assert delta["client_errors"] == 0, delta
    _no_internal_errors(server)

"""The speech server in a subprocess on 127.0.0.1, and a small HTTP client (stdlib only).

Used by ``tests/test_server.py`` and the ``serve`` benchmark: both talk to the real server
over TCP, as applications do.

    >>> with ServerProcess("kokoro_en_mvc", voices_dir) as srv:
    ...     status, headers, body = srv.request("GET", "/health")
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

Body = Union[bytes, str, dict, list, None]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m espnet_mvc.bin.cli serve`` on ``host`` and a free port.

    Args:
        model (str): ``--model`` (shipped name, archive or exp dir).
        voices_dir (Path): ``--voices-dir``.
        args (Sequence[str]): More ``serve`` options (``--workers 1`` ...).
        log_path (Optional[Path]): Where the server's output goes (default: beside the
            voices dir).
        startup_timeout (float): Seconds allowed for loading the model.
    """

    def __init__(self, model: str, voices_dir: Path, args: Sequence[str] = (),
                 log_path: Optional[Path] = None, host: str = "127.0.0.1",
                 startup_timeout: float = 600.0):
        self.model = model
        self.voices_dir = Path(voices_dir)
        self.args = list(args)
        self.host = host
        self.log_path = Path(log_path) if log_path else self.voices_dir.parent / "server.log"
        self.startup_timeout = startup_timeout
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> "ServerProcess":
        """Start the server and wait until ``/health`` answers."""
        self.port = free_port(self.host)
        cmd = [sys.executable, "-m", "espnet_mvc.bin.cli", "serve", "--model", self.model,
               "--host", self.host, "--port", str(self.port),
               "--voices-dir", str(self.voices_dir), *self.args]
        env = dict(os.environ)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads in the child
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        finally:
            log.close()
        end = time.monotonic() + self.startup_timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode} while "
                                   f"starting:\n{self.log_tail()}")
            try:
                status, _, _ = self.request("GET", "/health", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the server did not answer within {self.startup_timeout:g} s:\n"
                           f"{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> "ServerProcess":
        self.stop()
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ client
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connection(self, timeout: float = 120.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body: Body = None,
                headers: Optional[Dict[str, str]] = None,
                timeout: float = 120.0) -> Tuple[int, Dict[str, str], bytes]:
        """One request; a dict/list body is sent as JSON. Returns (status, headers, body)."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Body = None, **kw) -> Tuple[int, dict]:
        """A request whose answer is JSON: (status, decoded body)."""
        status, _, data = self.request(method, path, body, **kw)
        return status, json.loads(data)


def multipart(fields: Dict[str, str], files: Dict[str, Tuple[str, bytes, str]]
              ) -> Tuple[bytes, str]:
    """A multipart/form-data body: returns (body, content type)."""
    boundary = "espnet-mvc-" + os.urandom(8).hex()
    out = bytearray()
    for k, v in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n"
                f"{v}\r\n").encode()
    for k, (filename, data, ctype) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"

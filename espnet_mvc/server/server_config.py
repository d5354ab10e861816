"""Settings of the speech server (``espnet-mvc serve``) and their machine-dependent defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from espnet_mvc.server.voices import default_voices_dir


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass
class ServerConfig:
    """Everything ``espnet-mvc serve`` takes (see ``espnet-mvc serve --help``).

    ``workers`` defaults to ``min(cores, max_active)`` (more could never be busy: a request
    has one step in flight at a time) and ``threads`` (torch intra-op threads per worker) to
    ``cores // workers``, so that workers x threads = cores: two requests never start two
    threads each on two cores. On 2 cores that is 2 workers of 1 thread: with the shipped
    model (small matrices) two single-threaded requests side by side gave twice the
    throughput of one request on a 2-thread team, and a lower first-audio p95 (the serve
    benchmark, 8 clients: 812 vs 1446 ms).

    Streams start with a ``first_chunk`` (0.25 s) and go on in ``chunk`` (1 s) pieces: the
    first audio comes as early as with 0.25 s chunks, and the rest costs about 2.5x less
    CPU (every chunk recomputes its ``lookahead`` frames; measured with the shipped model:
    RTF 0.13 vs 0.34 per stream on one thread).
    """

    model: str
    host: str = "127.0.0.1"
    port: int = 8000
    device: str = "cpu"
    workers: Optional[int] = None
    threads: Optional[int] = None
    max_active: int = 8
    queue_size: int = 16
    voices_dir: Optional[Path] = None
    max_input_chars: int = 4096
    max_body_bytes: int = 64 * 1024
    max_upload_bytes: int = 16 * 1024 * 1024
    max_ref_seconds: float = 30.0
    max_steps: int = 32
    request_timeout: float = 300.0
    body_timeout: float = 10.0
    lookahead: float = 0.5
    chunk: float = 1.0
    first_chunk: Optional[float] = 0.25
    max_chars: int = 200
    log_level: str = "info"

    def resolved(self) -> "ServerConfig":
        """A copy with the defaults that depend on the machine filled in.

        Raises:
            ValueError: A setting out of its range.
        """
        cores = available_cores()
        workers = self.workers or max(1, min(cores, self.max_active))
        threads = self.threads or max(1, cores // workers)
        voices_dir = Path(self.voices_dir) if self.voices_dir else default_voices_dir()
        cfg = ServerConfig(**{**self.__dict__, "workers": workers, "threads": threads,
                              "voices_dir": voices_dir})
        for name in ("workers", "threads", "max_active", "max_input_chars", "max_body_bytes",
                     "max_upload_bytes", "max_chars"):
            if getattr(cfg, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
        if cfg.queue_size < 0 or cfg.max_steps < 0:
            raise ValueError("queue_size and max_steps must be >= 0")
        if not (cfg.max_ref_seconds > 0 and cfg.request_timeout > 0 and cfg.chunk > 0
                and cfg.body_timeout > 0
                and cfg.lookahead >= 0 and (cfg.first_chunk is None or cfg.first_chunk > 0)):
            raise ValueError("max_ref_seconds, request_timeout, body_timeout, chunk and "
                             "first_chunk must be > 0, lookahead >= 0")
        return cfg

    def body_limit(self, method: str, path: str) -> int:
        """The most bytes a request body may have: voice uploads get the larger limit."""
        if path == "/v1/voices" and method == "POST":
            return self.max_upload_bytes
        return self.max_body_bytes

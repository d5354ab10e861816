"""The speech server's FastAPI application: endpoints, limits and error answers.

Endpoints (all JSON errors are ``{"error": {"message", "type", "code", "param"}}``):

* ``POST /v1/audio/speech``: OpenAI's request shape (``model``, ``input``, ``voice``,
  ``response_format`` wav/pcm/flac, ``speed``, ``stream``) plus MVC's ``steps``,
  ``temperature`` and ``seed``. Text of any length up to ``max_input_chars`` is read phrase
  by phrase as :meth:`MVCSynthesizer.synthesize_long` reads it; with ``stream: true`` the
  audio is sent chunk by chunk as the streamer makes it.
* ``POST /v1/voices`` (multipart ``file`` + ``name``, or the clip as the body with
  ``?name=``), ``GET /v1/voices``, ``DELETE /v1/voices/{name}``.
* ``GET /health``, ``GET /v1/models``.

Voices: a request's ``voice`` is a stored voice, else one of the model's built-in voices
(:mod:`espnet_mvc.builtin_voices`), else an alias (OpenAI's names: ``alloy``, ``echo``, ...)
of a built-in voice; without ``voice`` the model's default voice speaks. A stored voice
takes the place of a built-in voice or alias of its name (stored voices are the operator's
own, and stay as they were when a model gains built-in voices): ``GET /v1/voices`` marks
that built-in voice ``shadowed``, and deleting the stored voice brings it back. Built-in
voices cannot be deleted. The answer's ``X-Voice`` header names the voice that spoke.

Status codes: 400 a request that does not follow the schema (bad JSON, unknown field or
``response_format``, out-of-range number, bad voice name); 404 unknown voice or route;
408 the request's time limit ran out, or its body stalled for ``body_timeout`` seconds
(the connection is then closed); 409 deleting a built-in voice; 413 body, text or
reference too large or too long; 415 not JSON / not audio; 422 well-formed but unusable
content (empty or unpronounceable text, silent or too short reference); 429 queue full,
with ``Retry-After``. A client that disconnects (before its body has arrived, while it
waits, or mid-stream) is counted under ``cancelled`` in ``/health``, not ``failed``.
"""

# (no "from __future__ import annotations": FastAPI reads the endpoints' annotations, and
# Request is imported inside create_app, where only evaluated annotations can see it)
import asyncio
import concurrent.futures
import contextlib
import io
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Literal, Optional, Tuple

import numpy as np

from espnet_mvc.server.formats import FORMATS, STREAMABLE, encode, media_type, pcm16, wav_header
from espnet_mvc.server.pool import Admission, ClientGone, QueueFull, QueueTimeout, WorkerPool
from espnet_mvc.server.voices import VoiceStore, check_name, default_voices_dir

log = logging.getLogger("espnet_mvc.server")


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
        """A copy with the defaults that depend on the machine filled in."""
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


class APIError(Exception):
    """An error answered as JSON with ``status``; ``code`` is a short machine-readable name."""

    def __init__(self, status: int, message: str, code: str, param: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers


def error_body(status: int, message: str, code: str, param: Optional[str] = None) -> dict:
    kind = ("server_busy" if status == 429 else
            "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def _sf_reason(e: Exception) -> str:
    """libsndfile's reason without the "Error opening <_io.BytesIO object at 0x...>:" part."""
    return re.sub(r"^Error opening <[^>]*>:\s*", "", str(e)).strip() or type(e).__name__


def _model_id(model: str) -> str:
    """``kokoro_en_mvc`` for a shipped name; the directory's name for ``.../packed.zip``."""
    p = Path(model)
    if not p.exists():
        return model
    p = p.resolve()
    return p.parent.name if p.is_file() and p.name.startswith(("packed", "config")) else p.stem


# ---------------------------------------------------------------------------------- service
class SpeechService:
    """The loaded model, its voices and the load control shared by all requests."""

    def __init__(self, config: ServerConfig, tts):
        import torch

        self.config = config
        self.tts = tts
        self.fs = int(tts.fs)
        self.model_id = _model_id(config.model)
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
        key = ("rejected" if status == 429 else "timed_out" if status == 408 else
               "cancelled" if status == 499 else "failed" if status >= 500 else
               "client_errors")
        self.counts[key] += 1

    async def admit(self, request, deadline: float) -> float:
        """Take a place for ``request`` (see :class:`Admission`); returns the start time."""
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
        self.admission.record(time.monotonic() - started)
        self.admission.leave()

    async def run_once(self, request, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` as one admitted first-priority step (voice uploads)."""
        deadline = time.monotonic() + self.config.request_timeout
        started = await self.admit(request, deadline)
        try:
            return await asyncio.wrap_future(self.pool.submit(fn, first=True))
        finally:
            self.release(started)


class Job:
    """One admitted speech request: its iterator of audio pieces, stepped on the pool.

    A step is one streamed chunk (or one phrase when not streaming); between steps the
    handler checks the client and the deadline. :meth:`close` gives the place back only
    once a step still running on a worker has finished, so that ``busy`` and ``active``
    never undercount work in flight.
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
        """Build the iterator (this validates the text and voice) and make the first piece."""

        def first_step():
            self.it = make_iter()
            return next(self.it, None)

        return await self._step(first_step, first=True)

    async def next(self) -> Optional[np.ndarray]:
        """The next piece, or None at the end."""
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


# ---------------------------------------------------------------------------------- schema
def _speech_request_model(max_steps: int):
    from pydantic import BaseModel, ConfigDict, Field

    class SpeechRequest(BaseModel):
        """``POST /v1/audio/speech`` body (OpenAI's fields plus MVC's)."""

        model_config = ConfigDict(extra="forbid")

        model: Optional[str] = Field(None, description="ignored: the server has one model")
        input: str = Field(..., description="text to speak, any length up to the limit")
        voice: Optional[str] = Field(None, description="name of a voice from /v1/voices")
        response_format: Literal["wav", "pcm", "flac"] = "wav"
        speed: float = Field(1.0, ge=0.25, le=4.0, description="speaking rate")
        stream: bool = Field(False, description="send audio chunk by chunk (wav or pcm)")
        steps: Optional[int] = Field(None, ge=0, le=max_steps,
                                     description="flow-matching steps (default: the model's)")
        temperature: Optional[float] = Field(None, ge=0.0, le=2.0,
                                             description="sampler noise (default: the model's)")
        seed: Optional[int] = Field(0, ge=0, le=2**63 - 1, description="null: random")
        instructions: Optional[str] = Field(None, description="OpenAI's; ignored")
        stream_format: Optional[Literal["audio"]] = Field(None, description="only 'audio'")

    return SpeechRequest


def _validation_message(err) -> Tuple[str, Optional[str]]:
    parts, param = [], None
    for e in err.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        param = param or loc or None
        parts.append(f"{loc or 'body'}: {e.get('msg')}")
    return "; ".join(parts), param


# ---------------------------------------------------------------------------------- app
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
    """

    def __init__(self, app, limit_for: Callable[[dict], int], on_reject: Callable[[], None],
                 body_timeout: float = 10.0, total_timeout: Optional[float] = None,
                 on_timeout: Callable[[], None] = lambda: None,
                 on_disconnect: Callable[[], None] = lambda: None):
        self.app, self.limit_for, self.on_reject = app, limit_for, on_reject
        self.body_timeout, self.total_timeout = body_timeout, total_timeout
        self.on_timeout, self.on_disconnect = on_timeout, on_disconnect

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            self.on_reject()
            return await _send_json(send, 413, _too_large(int(length), limit))
        if (length is None or not length.isdigit() or int(length) == 0) \
                and b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)  # no body to wait for
        what = f"{scope.get('method')} {scope.get('path')}"
        expected = f" of {int(length)}" if length is not None and length.isdigit() else ""
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
                return await _send_json(send, 408, error_body(
                    408, f"the request body did not arrive in time: {seen}{expected} bytes "
                         f"after {time.monotonic() - start:.1f} s (at most "
                         f"{self.body_timeout:g} s without data, --body-timeout)",
                    "body_timeout"), close=True)
            if message["type"] == "http.disconnect":
                self.on_disconnect()
                log.info("client closed the connection before its request body arrived "
                         "(%d%s bytes) on %s: cancelled", seen, expected, what)
                return
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:
                self.on_reject()
                return await _send_json(send, 413, _too_large(seen, limit), close=True)
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        del chunks
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


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


def create_app(config: ServerConfig, tts=None):
    """The FastAPI app serving ``config.model`` (loaded here unless ``tts`` is given).

    Args:
        config (ServerConfig): Server settings (machine defaults are filled in).
        tts (Optional[MVCSynthesizer]): An already loaded model.

    Returns:
        fastapi.FastAPI: the application; ``app.state.service`` is its :class:`SpeechService`.
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"the server needs the 'serve' extra ({e}): "
                           f"pip install 'espnet-mvc[serve]'") from e
    import soundfile as sf
    import torch
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from pydantic import ValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import ClientDisconnect

    from espnet_mvc.api import MVCSynthesizer
    from espnet_mvc.audio import ReferenceAudioError, load_reference

    cfg = config.resolved()
    torch.set_num_threads(cfg.threads)
    if tts is None:
        tts = MVCSynthesizer.from_pretrained(cfg.model, device=cfg.device)
    service = SpeechService(cfg, tts)
    SpeechRequest = _speech_request_model(cfg.max_steps)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.pool.shutdown()

    app = FastAPI(title="espnet-mvc speech server", version="1", lifespan=lifespan,
                  description="MambaVoiceCloning text-to-speech: OpenAI-shaped /v1/audio/speech "
                              "with voice cloning and streaming.")
    app.state.service = service

    def limit_for(scope) -> int:
        if scope.get("path") == "/v1/voices" and scope.get("method") == "POST":
            return cfg.max_upload_bytes
        return cfg.max_body_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for, on_reject=lambda: service.count_error(413),
                       body_timeout=cfg.body_timeout, total_timeout=cfg.request_timeout,
                       on_timeout=lambda: service.count_error(408),
                       on_disconnect=lambda: service.count_error(499))

    # ------------------------------------------------------------------ errors
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        service.count_error(exc.status)
        return JSONResponse(error_body(exc.status, exc.message, exc.code, exc.param),
                            status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        service.count_error(exc.status_code)
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error")
        return JSONResponse(error_body(exc.status_code, str(exc.detail), code),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        service.count_error(400)
        msg, param = _validation_message(exc)
        return JSONResponse(error_body(400, msg, "invalid_request", param), status_code=400)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect):
        # the body is read by BodyLimit first, so this is a fallback: a client gone is
        # cancelled, not the server's fault, and nobody reads the answer
        service.count_error(499)
        log.info("client disconnected during %s %s: cancelled", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        service.count_error(500)
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, f"internal error: {type(exc).__name__}: {exc}",
                                       "internal_error"), status_code=500)

    # ------------------------------------------------------------------ info
    @app.get("/health")
    async def health():
        """Liveness and load: workers busy, requests active and waiting, counters."""
        adm = service.admission
        return dict(status="ok", model=service.model_id, sample_rate=service.fs,
                    workers=cfg.workers, torch_threads=cfg.threads,
                    busy_workers=service.pool.busy, active=adm.active, max_active=adm.max_active,
                    queued=adm.waiting, queue_size=adm.queue_size, voices=len(service.voices),
                    builtin_voices=len(service.builtin), requests=dict(service.counts))

    @app.get("/v1/models")
    async def models():
        """The one model this server speaks with (OpenAI's list shape)."""
        return dict(object="list", data=[dict(
            id=service.model_id, object="model", created=service.started,
            owned_by="espnet-mvc", sample_rate=service.fs,
            uses_reference_audio=tts.uses_reference, languages=tts.languages,
            speakers=tts.speakers, default_voice=tts.default_voice, formats=list(FORMATS),
        )])

    # ------------------------------------------------------------------ voices
    def _voice_entry(name: str) -> dict:
        wav = service.voices.get(name)
        return dict(object="voice", name=name, seconds=round(len(wav) / service.fs, 3),
                    sample_rate=service.fs, built_in=False)

    def _builtin_entries() -> List[dict]:
        out = []
        for entry in tts.builtin_voices.describe() if tts.builtin_voices else []:
            name = entry["name"]
            out.append(dict(
                object="voice", name=name,
                seconds=round(len(service.builtin[name]) / service.fs, 3),
                sample_rate=service.fs, built_in=True, default=entry["default"],
                description=entry["description"],
                # aliases that a stored voice of the same name does not take
                aliases=[a for a in entry["aliases"] if a not in service.voices],
                shadowed=name in service.voices))
        return out

    @app.get("/v1/voices")
    async def list_voices():
        """The model's built-in voices (``built_in: true``, with their aliases and the
        default marked), then the stored voices."""
        return dict(object="list", default=tts.default_voice,
                    data=_builtin_entries() + [_voice_entry(n) for n in service.voices.names()])

    def _check_clip(data: bytes, name: str) -> np.ndarray:
        """Decode an upload, check it as the CLI checks --ref, and store it (on a worker)."""
        try:
            info = sf.info(io.BytesIO(data))
        except Exception as e:  # libsndfile: unknown container, not audio
            raise APIError(415, f"the upload is not a readable audio file "
                                f"({_sf_reason(e)}); send WAV, FLAC or OGG",
                           "unsupported_audio", "file") from None
        if info.samplerate > 0 and info.frames / info.samplerate > cfg.max_ref_seconds:
            raise APIError(413, f"reference too long: {info.frames / info.samplerate:.1f} s; "
                                f"at most {cfg.max_ref_seconds:g} s (--max-ref-seconds)",
                           "reference_too_long", "file")
        try:
            wav, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except Exception as e:
            raise APIError(415, f"the audio cannot be decoded (corrupt or truncated?): "
                                f"{_sf_reason(e)}", "corrupt_audio", "file") from None
        try:
            clip = load_reference((wav, sr), service.fs)
        except ReferenceAudioError as e:
            raise APIError(422, str(e).replace("reference audio <array>:", "reference audio:"),
                           "invalid_reference", "file") from None
        return service.voices.write(name, clip)

    @app.post("/v1/voices", status_code=201, openapi_extra={"requestBody": {"content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file", "name"],
                                           "properties": {"file": {"type": "string",
                                                                   "format": "binary"},
                                                          "name": {"type": "string"}}}},
        "audio/*": {"schema": {"type": "string", "format": "binary"}}}}})
    async def create_voice(request: Request, name: Optional[str] = None):
        """Store a reference clip as a voice: multipart ``file`` + ``name``, or the clip as
        the body with ``?name=``. The clip is checked as ``espnet-mvc synth --ref`` checks
        it; an existing voice of the same name is replaced."""
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith("multipart/form-data"):
            from starlette.datastructures import UploadFile

            try:
                form = await request.form(max_files=1, max_fields=4)
            except StarletteHTTPException:
                raise
            except Exception as e:
                raise APIError(400, f"bad multipart body: {e}", "invalid_multipart") from None
            try:
                upload = form.get("file")
                name = form.get("name") or name
                if not isinstance(upload, UploadFile):
                    raise APIError(400, "the multipart body needs a 'file' part with the clip",
                                   "missing_file", "file")
                data = await upload.read()
            finally:
                await form.close()
        elif ctype.startswith(("application/json", "text/", "application/x-www-form")):
            raise APIError(415, "send the clip as multipart/form-data (file, name) or as the "
                                "raw body (audio/wav, audio/flac, ...) with ?name=",
                           "unsupported_media_type")
        else:
            data = await request.body()
        if not name:
            raise APIError(400, "give the voice a name: form field 'name' or ?name=",
                           "missing_name", "name")
        try:
            check_name(name)
        except ValueError as e:
            raise APIError(400, str(e), "invalid_name", "name") from None
        if not data:
            raise APIError(400, "the upload is empty: send a reference clip", "missing_file",
                           "file")
        stored = await service.run_once(request, lambda: _check_clip(data, name))
        service.voices.put(name, stored)
        service.counts["ok"] += 1
        log.info("voice %s stored (%.2f s)", name, len(stored) / service.fs)
        return _voice_entry(name)

    @app.delete("/v1/voices/{name}")
    async def delete_voice(name: str):
        """Forget a stored voice (its file too); built-in voices stay."""
        if not service.voices.delete(name):
            if tts.builtin_voices is not None and name in tts.builtin_voices:
                raise APIError(409, f"{name!r} is a built-in voice of the model; only stored "
                                    f"voices can be deleted", "builtin_voice", "name")
            raise APIError(404, f"unknown voice {name!r}", "voice_not_found", "name")
        return dict(object="voice", name=name, deleted=True)

    # ------------------------------------------------------------------ speech
    async def _parse_speech(request: Request):
        ctype = request.headers.get("content-type", "")
        if ctype and ctype.split(";")[0].strip().lower() != "application/json":
            raise APIError(415, f"send the request as JSON (Content-Type: application/json), "
                                f"not {ctype.split(';')[0]}", "unsupported_media_type")
        raw = await request.body()
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise APIError(400, f"the request body is not valid JSON ({e})",
                           "invalid_json") from None
        if not isinstance(obj, dict):
            raise APIError(400, "the request body must be a JSON object", "invalid_json")
        try:
            return SpeechRequest.model_validate(obj)
        except ValidationError as e:
            msg, param = _validation_message(e)
            raise APIError(400, msg, "invalid_request", param) from None

    def _options(req) -> Tuple[Dict[str, Any], Optional[str]]:
        """MVCSynthesizer options of a request and the voice that will speak (None: a
        single-voice model); voices and limits checked here."""
        if len(req.input) > cfg.max_input_chars:
            raise APIError(413, f"input too long: {len(req.input)} characters; this server "
                                f"reads at most {cfg.max_input_chars} per request "
                                f"(--max-input-chars)", "input_too_long", "input")
        if req.stream and req.response_format not in STREAMABLE:
            raise APIError(400, f"response_format {req.response_format!r} cannot be streamed "
                                f"(its header holds the total length); stream "
                                f"{' or '.join(STREAMABLE)}", "unstreamable_format",
                           "response_format")
        opts: Dict[str, Any] = dict(n_timesteps=req.steps, temperature=req.temperature,
                                    seed=req.seed)
        if req.speed != 1.0:  # relative to the model's own rate (its duration_scale)
            opts["alpha"] = tts.default_alpha / req.speed
        voice = req.voice
        if voice is not None and voice in service.voices:
            opts["ref"] = (service.voices.get(voice), service.fs)
        elif tts.uses_reference:
            if voice is None and tts.default_voice is None:
                raise APIError(400, "voice is required: this model clones the voice of a "
                                    "reference clip and has no built-in voices; store one with "
                                    "POST /v1/voices and pass its name", "missing_voice", "voice")
            try:  # a built-in voice, an alias of one, or (no voice) the default
                opts["voice"] = voice = tts.choose_voice(voice=voice)
            except ValueError:
                builtin = tts.builtin_voices
                known = service.voices.names()
                raise APIError(404, f"unknown voice {voice!r}; "
                                    + (f"built-in voices: {', '.join(builtin.names)} (aliases: "
                                       f"{', '.join(sorted(builtin.aliases)) or 'none'}); "
                                       if builtin else "")
                                    + f"stored voices: {', '.join(known[:20]) or 'none'} (add "
                                      f"one with POST /v1/voices)", "voice_not_found",
                               "voice") from None
        elif voice is not None and tts.speakers:
            if voice not in tts.speakers:
                raise APIError(404, f"unknown voice {voice!r}; this model's speakers: "
                                    f"{', '.join(tts.speakers[:20])}", "voice_not_found",
                               "voice")
            opts["speaker"] = voice
        else:  # a single-voice model without reference encoder ignores the voice name
            voice = None
        return opts, voice

    @app.post("/v1/audio/speech", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": SpeechRequest.model_json_schema()}}}})
    async def speech(request: Request):
        """Speak ``input`` with ``voice``; see the module documentation."""
        req = await _parse_speech(request)
        opts, voice_name = _options(req)
        deadline = time.monotonic() + cfg.request_timeout
        started = await service.admit(request, deadline)
        job = Job(service, started)

        def make_iter():
            return tts.stream_long(req.input, max_chars=cfg.max_chars, chunked=req.stream,
                                   lookahead=cfg.lookahead, chunk_seconds=cfg.chunk,
                                   first_chunk_seconds=cfg.first_chunk, **opts)

        try:
            first = await job.start(make_iter)
        except ValueError as e:  # text or voice the model cannot use (the API's checks)
            job.outcome = "failed"
            job.close()
            raise APIError(422, str(e), "invalid_input", "input") from None
        except BaseException:
            job.outcome = job.outcome or "failed"
            job.close()
            raise
        fmt = req.response_format
        headers = {"X-Sample-Rate": str(service.fs), "Cache-Control": "no-store"}
        if voice_name is not None:
            headers["X-Voice"] = voice_name
        if req.stream:
            return _stream(request, job, first, fmt, deadline, headers)
        try:
            pieces: List[np.ndarray] = [] if first is None else [first]
            while True:
                if await request.is_disconnected():
                    return Response(status_code=204)  # nobody is listening any more
                if time.monotonic() > deadline:
                    job.outcome = "timed_out"
                    raise APIError(408, f"request timed out after {cfg.request_timeout:g} s "
                                        f"(--request-timeout); send shorter input",
                                   "request_timeout")
                piece = await job.next()
                if piece is None:
                    break
                pieces.append(piece)
            wav = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
            body = await job.run(lambda: encode(wav, service.fs, fmt))
            job.outcome = "ok"
            service.counts["ok"] += 1
        except APIError:
            raise
        except BaseException:
            job.outcome = job.outcome or "failed"
            raise
        finally:
            job.close()
        return Response(body, media_type=media_type(fmt, service.fs), headers=headers)

    class JobStream(StreamingResponse):
        """A streaming response that closes its job however the response ends."""

        def __init__(self, content, job: Job, **kw):
            super().__init__(content, **kw)
            self.job = job

        async def __call__(self, scope, receive, send):
            try:
                await super().__call__(scope, receive, send)
            finally:
                self.job.close()

    def _stream(request, job: Job, first, fmt: str, deadline: float, headers):
        async def body():
            try:
                head = wav_header(service.fs) if fmt == "wav" else b""
                yield head + (b"" if first is None else pcm16(first))
                while True:
                    # a client that has gone frees its place and worker: stop generating
                    if await request.is_disconnected():
                        log.info("client disconnected mid-stream: stopped")
                        return
                    if time.monotonic() > deadline:
                        job.outcome = "timed_out"
                        service.counts["timed_out"] += 1
                        log.warning("stream cut at the time limit (%g s)", cfg.request_timeout)
                        return
                    try:
                        piece = await job.next()
                    except Exception:
                        job.outcome = "failed"
                        service.counts["failed"] += 1
                        log.exception("synthesis failed mid-stream")
                        return
                    if piece is None:
                        break
                    yield pcm16(piece)
                job.outcome = "ok"
                service.counts["ok"] += 1
            finally:
                job.close()

        return JobStream(body(), job, media_type=media_type(fmt, service.fs), headers=headers)

    return app


def serve(config: ServerConfig) -> None:
    """Load the model and serve until interrupted (``espnet-mvc serve``)."""
    import uvicorn

    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    service: SpeechService = app.state.service
    cfg = service.config
    log.info("model %s (%d Hz); %d worker(s) x %d torch thread(s); %d active + %d queued "
             "requests; voices in %s (%d)", service.model_id, service.fs, cfg.workers,
             cfg.threads, cfg.max_active, cfg.queue_size, cfg.voices_dir, len(service.voices))
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=cfg.log_level,
                timeout_graceful_shutdown=5)

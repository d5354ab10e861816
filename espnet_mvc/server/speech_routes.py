"""``POST /v1/audio/speech``: text in, audio out, whole or streamed chunk by chunk.

The request takes a place (:meth:`SpeechService.admit`), then its synthesis runs step by
step on the worker pool (:class:`Job`); between steps the client and the time limit are
checked, so a client that has gone frees its place and worker.
"""

# (no "from __future__ import annotations": FastAPI reads the endpoint's annotations)
import functools
import logging
import time
from typing import Dict, List, Optional

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from espnet_mvc.server.api_errors import APIError
from espnet_mvc.server.formats import encode, media_type, pcm16, wav_header
from espnet_mvc.server.speech_request import (read_speech_request, speech_request_model,
                                              synthesis_options)
from espnet_mvc.server.speech_service import Job, SpeechService, current_service

log = logging.getLogger("espnet_mvc.server")


def speech_router(max_steps: int) -> APIRouter:
    """The speech route, its documented body schema that of a server allowing ``max_steps``.

    The body is read by :func:`read_speech_request` (for the server's own error answers),
    so FastAPI learns its schema from ``openapi_extra`` only.
    """
    schema = speech_request_model(max_steps).model_json_schema()
    router = APIRouter()
    router.add_api_route("/v1/audio/speech", speech, methods=["POST"], openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}})
    return router


async def speech(request: Request, service: SpeechService = Depends(current_service)):
    """Speak ``input`` with ``voice``; see the module documentation."""
    cfg = service.config
    req = await read_speech_request(request, cfg.max_steps)
    opts, voice_name = synthesis_options(service, req)
    deadline = time.monotonic() + cfg.request_timeout
    started = await service.admit(request, deadline)
    job = Job(service, started)
    make_iter = functools.partial(
        service.tts.stream_long, req.input, max_chars=cfg.max_chars, chunked=req.stream,
        lookahead=cfg.lookahead, chunk_seconds=cfg.chunk, first_chunk_seconds=cfg.first_chunk,
        **opts)
    try:
        first = await job.start(make_iter)
    except ValueError as e:  # text or voice the model cannot use (the synthesizer's checks)
        job.outcome = "failed"
        job.close()
        raise APIError(422, str(e), "invalid_input", "input") from None
    except BaseException:
        job.outcome = job.outcome or "failed"
        job.close()
        raise
    headers = {"X-Sample-Rate": str(service.fs), "Cache-Control": "no-store"}
    if voice_name is not None:
        headers["X-Voice"] = voice_name
    if req.stream:
        return _streamed(request, job, first, req.response_format, deadline, headers)
    return await _whole(request, job, first, req.response_format, deadline, headers)


async def _whole(request: Request, job: Job, first: Optional[np.ndarray], fmt: str,
                 deadline: float, headers: Dict[str, str]) -> Response:
    """All pieces of ``job`` (``first`` already made), encoded as one ``fmt`` answer."""
    service = job.service
    try:
        pieces: List[np.ndarray] = [] if first is None else [first]
        while True:
            if await request.is_disconnected():
                return Response(status_code=204)  # nobody is listening any more
            if time.monotonic() > deadline:
                job.outcome = "timed_out"
                raise APIError(408, f"request timed out after "
                                    f"{service.config.request_timeout:g} s "
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


def _streamed(request: Request, job: Job, first: Optional[np.ndarray], fmt: str,
              deadline: float, headers: Dict[str, str]) -> JobStream:
    """``job``'s pieces sent as they are made (a ``wav`` of unknown length, or raw pcm).

    The status line has gone out with the first piece, so a later failure or the time
    limit ends the stream early instead of turning into an error answer.
    """
    service = job.service

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
                    log.warning("stream cut at the time limit (%g s)",
                                service.config.request_timeout)
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

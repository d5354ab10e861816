"""The speech server's FastAPI application: the routers, the body limits and the error answers.

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
(:mod:`espnet_mvc.inference.builtin_voices`), else an alias (OpenAI's names: ``alloy``,
``echo``, ...) of a built-in voice; without ``voice`` the model's default voice speaks. A
stored voice takes the place of a built-in voice or alias of its name (stored voices are the
operator's own, and stay as they were when a model gains built-in voices): ``GET /v1/voices``
marks that built-in voice ``shadowed``, and deleting the stored voice brings it back.
Built-in voices cannot be deleted. The answer's ``X-Voice`` header names the voice that spoke.

Status codes: 400 a request that does not follow the schema (bad JSON, unknown field or
``response_format``, out-of-range number, bad voice name); 404 unknown voice or route;
408 the request's time limit ran out, or its body stalled for ``body_timeout`` seconds
(the connection is then closed); 409 deleting a built-in voice; 413 body, text or
reference too large or too long; 415 not JSON / not audio; 422 well-formed but unusable
content (empty or unpronounceable text, silent or too short reference); 429 queue full,
with ``Retry-After``. A client that disconnects (before its body has arrived, while it
waits, or mid-stream) is counted under ``cancelled`` in ``/health``, not ``failed``.

Where each part lives:

* :mod:`~espnet_mvc.server.speech_routes`, :mod:`~espnet_mvc.server.voice_routes`,
  :mod:`~espnet_mvc.server.info_routes`: the endpoints, one router per concern;
* :mod:`~espnet_mvc.server.speech_request`: the speech request's schema and checks;
* :mod:`~espnet_mvc.server.speech_service`: the state every request shares
  (``app.state.service``, handed to endpoints by ``Depends(current_service)``);
* :mod:`~espnet_mvc.server.error_handlers`, :mod:`~espnet_mvc.server.api_errors`: the JSON
  error answers; :mod:`~espnet_mvc.server.body_limit`: body size and time limits.

FastAPI is imported by :func:`create_app` only, so that this module (and ``espnet-mvc
serve --help``) loads without the ``serve`` extra.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from espnet_mvc.server.server_config import ServerConfig

log = logging.getLogger("espnet_mvc.server")


def create_app(config: ServerConfig, tts=None):
    """The FastAPI app serving ``config.model`` (loaded here unless ``tts`` is given).

    Args:
        config (ServerConfig): Server settings (machine defaults are filled in).
        tts (Optional[MVCSynthesizer]): An already loaded model.

    Returns:
        fastapi.FastAPI: the application; ``app.state.service`` is its
        :class:`~espnet_mvc.server.speech_service.SpeechService`.

    Raises:
        RuntimeError: FastAPI or uvicorn is not installed.
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"the server needs the 'serve' extra ({e}): "
                           f"pip install 'espnet-mvc[serve]'") from e
    import torch
    from fastapi import FastAPI

    from espnet_mvc.inference.synthesizer import MVCSynthesizer
    from espnet_mvc.server import info_routes, speech_routes, voice_routes
    from espnet_mvc.server.body_limit import BodyLimit
    from espnet_mvc.server.error_handlers import add_error_handlers
    from espnet_mvc.server.speech_service import SpeechService

    cfg = config.resolved()
    torch.set_num_threads(cfg.threads)
    if tts is None:
        tts = MVCSynthesizer.from_pretrained(cfg.model, device=cfg.device)
    service = SpeechService(cfg, tts)

    app = FastAPI(title="espnet-mvc speech server", version="1", lifespan=_stop_workers_at_exit,
                  description="MambaVoiceCloning text-to-speech: OpenAI-shaped /v1/audio/speech "
                              "with voice cloning and streaming.")
    app.state.service = service
    app.add_middleware(BodyLimit, limit_for=cfg.body_limit,
                       on_reject=functools.partial(service.count_error, 413),
                       body_timeout=cfg.body_timeout, total_timeout=cfg.request_timeout,
                       on_timeout=functools.partial(service.count_error, 408),
                       on_disconnect=functools.partial(service.count_error, 499))
    add_error_handlers(app)
    app.include_router(info_routes.router)
    app.include_router(voice_routes.router)
    app.include_router(speech_routes.speech_router(cfg.max_steps))
    return app


@contextlib.asynccontextmanager
async def _stop_workers_at_exit(app):
    """The app's lifespan: the worker threads stop once the server shuts down."""
    yield
    app.state.service.pool.shutdown()


def serve(config: ServerConfig) -> None:
    """Load the model and serve until interrupted (``espnet-mvc serve``)."""
    import uvicorn

    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    service = app.state.service
    cfg = service.config
    log.info("model %s (%d Hz); %d worker(s) x %d torch thread(s); %d active + %d queued "
             "requests; voices in %s (%d)", service.model_id, service.fs, cfg.workers,
             cfg.threads, cfg.max_active, cfg.queue_size, cfg.voices_dir, len(service.voices))
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=cfg.log_level,
                timeout_graceful_shutdown=5)

"""``espnet-mvc serve``: a speech server (FastAPI + uvicorn; ``pip install 'espnet-mvc[serve]'``).

    espnet-mvc serve --model kokoro_en_mvc --port 8000
    curl -F name=anna -F file=@anna.wav http://127.0.0.1:8000/v1/voices
    curl -d '{"input": "Hello there.", "voice": "anna"}' -H 'Content-Type: application/json' \\
        http://127.0.0.1:8000/v1/audio/speech -o hello.wav

* :mod:`espnet_mvc.server.app`: the app factory (assembles the routers; the endpoint list).
* :mod:`espnet_mvc.server.server_config`: the server's settings.
* :mod:`espnet_mvc.server.speech_routes`, :mod:`espnet_mvc.server.voice_routes`,
  :mod:`espnet_mvc.server.info_routes`: the endpoints, one router per concern.
* :mod:`espnet_mvc.server.speech_request`: the speech request's schema and checks.
* :mod:`espnet_mvc.server.speech_service`: the state all requests share; one request's job.
* :mod:`espnet_mvc.server.api_errors`, :mod:`espnet_mvc.server.error_handlers`: JSON errors.
* :mod:`espnet_mvc.server.body_limit`: request bodies read within size and time limits.
* :mod:`espnet_mvc.server.pool`: the worker pool and the bounded admission queue.
* :mod:`espnet_mvc.server.voices`: voices stored in a directory, written atomically.
* :mod:`espnet_mvc.server.formats`: wav / pcm / flac encoding, streamed WAV headers.
* :mod:`espnet_mvc.server.launch`: the server in a subprocess (tests, the benchmark).

FastAPI and uvicorn are imported only when an app is built, so the package imports without
the ``serve`` extra.
"""

from espnet_mvc.server.api_errors import APIError
from espnet_mvc.server.app import create_app, serve
from espnet_mvc.server.server_config import ServerConfig

__all__ = ["APIError", "ServerConfig", "create_app", "serve"]

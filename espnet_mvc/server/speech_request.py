"""The body of ``POST /v1/audio/speech``: its schema, how it is read, and what it asks for.

A request is checked here, before it takes a place in the queue: the JSON and its fields
(400), the limits (413), the voice (404); what only the model can judge (text it cannot
speak) is answered 422 once synthesis starts.
"""

import functools
import json
from typing import Any, Dict, Literal, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from espnet_mvc.server.api_errors import APIError, validation_message
from espnet_mvc.server.formats import STREAMABLE
from espnet_mvc.server.speech_service import SpeechService


@functools.lru_cache(maxsize=None)
def speech_request_model(max_steps: int) -> type:
    """The request schema of a server that allows at most ``max_steps`` flow steps.

    Cached, so that the schema in the OpenAPI document and the one that validates requests
    are the same class.
    """

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


async def read_speech_request(request: Request, max_steps: int) -> BaseModel:
    """The request's JSON body, validated against :func:`speech_request_model`.

    Raises:
        APIError: 415 not JSON, 400 bad JSON or a field out of the schema.
    """
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
        return speech_request_model(max_steps).model_validate(obj)
    except ValidationError as e:
        msg, param = validation_message(e)
        raise APIError(400, msg, "invalid_request", param) from None


def synthesis_options(service: SpeechService, req) -> Tuple[Dict[str, Any], Optional[str]]:
    """The synthesizer's options for a request, and the voice that will speak.

    Args:
        service (SpeechService): The server (its model, stored voices and limits).
        req: A validated :func:`speech_request_model` instance.

    Returns:
        Tuple[Dict[str, Any], Optional[str]]: Keyword arguments of
        ``MVCSynthesizer.stream_long`` and the voice's name (None: a single-voice model).

    Raises:
        APIError: 413 input too long, 400 a format that cannot stream or a voice missing,
            404 an unknown voice.
    """
    cfg, tts = service.config, service.tts
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
        opts["voice"] = voice = _builtin_voice(service, voice)
    elif voice is not None and tts.speakers:
        if voice not in tts.speakers:
            raise APIError(404, f"unknown voice {voice!r}; this model's speakers: "
                                f"{', '.join(tts.speakers[:20])}", "voice_not_found",
                           "voice")
        opts["speaker"] = voice
    else:  # a single-voice model without reference encoder ignores the voice name
        voice = None
    return opts, voice


def _builtin_voice(service: SpeechService, voice: Optional[str]) -> str:
    """A built-in voice of a voice-cloning model: by name, by alias, or (None) the default."""
    tts = service.tts
    if voice is None and tts.default_voice is None:
        raise APIError(400, "voice is required: this model clones the voice of a "
                            "reference clip and has no built-in voices; store one with "
                            "POST /v1/voices and pass its name", "missing_voice", "voice")
    try:
        return tts.choose_voice(voice=voice)
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

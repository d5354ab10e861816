"""``/v1/voices``: list the voices, store a reference clip as a voice, delete a stored voice.

A stored voice takes the place of a built-in voice or alias of its name (stored voices are
the operator's own); built-in voices cannot be deleted.
"""

# (no "from __future__ import annotations": FastAPI reads the endpoints' annotations)
import io
import logging
import re
from typing import List, Optional, Tuple

import numpy as np
import soundfile as sf
from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from espnet_mvc.inference.reference_audio import ReferenceAudioError, load_reference
from espnet_mvc.server.api_errors import APIError
from espnet_mvc.server.speech_service import SpeechService, current_service
from espnet_mvc.server.voices import check_name

log = logging.getLogger("espnet_mvc.server")

router = APIRouter()

# an upload is multipart (file + name) or the clip itself as the body
_UPLOAD_BODY = {"requestBody": {"content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file", "name"],
                                       "properties": {"file": {"type": "string",
                                                               "format": "binary"},
                                                      "name": {"type": "string"}}}},
    "audio/*": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/v1/voices")
async def list_voices(service: SpeechService = Depends(current_service)):
    """The model's built-in voices (``built_in: true``, with their aliases and the
    default marked), then the stored voices."""
    return dict(object="list", default=service.tts.default_voice,
                data=_builtin_entries(service)
                + [_stored_entry(service, n) for n in service.voices.names()])


@router.post("/v1/voices", status_code=201, openapi_extra=_UPLOAD_BODY)
async def create_voice(request: Request, name: Optional[str] = None,
                       service: SpeechService = Depends(current_service)):
    """Store a reference clip as a voice: multipart ``file`` + ``name``, or the clip as
    the body with ``?name=``. The clip is checked as ``espnet-mvc synth --ref`` checks
    it; an existing voice of the same name is replaced."""
    data, name = await _read_upload(request, name)
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
    stored = await service.run_once(request, lambda: _check_and_write(service, data, name))
    service.voices.put(name, stored)
    service.counts["ok"] += 1
    log.info("voice %s stored (%.2f s)", name, len(stored) / service.fs)
    return _stored_entry(service, name)


@router.delete("/v1/voices/{name}")
async def delete_voice(name: str, service: SpeechService = Depends(current_service)):
    """Forget a stored voice (its file too); built-in voices stay."""
    if not service.voices.delete(name):
        builtin = service.tts.builtin_voices
        if builtin is not None and name in builtin:
            raise APIError(409, f"{name!r} is a built-in voice of the model; only stored "
                                f"voices can be deleted", "builtin_voice", "name")
        raise APIError(404, f"unknown voice {name!r}", "voice_not_found", "name")
    return dict(object="voice", name=name, deleted=True)


def _stored_entry(service: SpeechService, name: str) -> dict:
    wav = service.voices.get(name)
    return dict(object="voice", name=name, seconds=round(len(wav) / service.fs, 3),
                sample_rate=service.fs, built_in=False)


def _builtin_entries(service: SpeechService) -> List[dict]:
    builtin = service.tts.builtin_voices
    out = []
    for entry in builtin.describe() if builtin else []:
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


async def _read_upload(request: Request, name: Optional[str]) -> Tuple[bytes, Optional[str]]:
    """The uploaded clip's bytes and the voice's name (a form field wins over ``?name=``).

    Raises:
        APIError: 400 a bad multipart body or one without a file, 415 a text body.
    """
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith(("application/json", "text/", "application/x-www-form")):
        raise APIError(415, "send the clip as multipart/form-data (file, name) or as the "
                            "raw body (audio/wav, audio/flac, ...) with ?name=",
                       "unsupported_media_type")
    if not ctype.startswith("multipart/form-data"):
        return await request.body(), name
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
        return await upload.read(), name
    finally:
        await form.close()


def _check_and_write(service: SpeechService, data: bytes, name: str) -> np.ndarray:
    """Decode an upload, check it as the CLI checks --ref, and store it (on a worker).

    Returns:
        np.ndarray: The clip as it was stored, shape (samples,), at the model's rate.
    """
    max_seconds = service.config.max_ref_seconds
    try:
        info = sf.info(io.BytesIO(data))
    except Exception as e:  # libsndfile: unknown container, not audio
        raise APIError(415, f"the upload is not a readable audio file "
                            f"({_soundfile_reason(e)}); send WAV, FLAC or OGG",
                       "unsupported_audio", "file") from None
    if info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
        raise APIError(413, f"reference too long: {info.frames / info.samplerate:.1f} s; "
                            f"at most {max_seconds:g} s (--max-ref-seconds)",
                       "reference_too_long", "file")
    try:
        wav, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:
        raise APIError(415, f"the audio cannot be decoded (corrupt or truncated?): "
                            f"{_soundfile_reason(e)}", "corrupt_audio", "file") from None
    try:
        clip = load_reference((wav, sr), service.fs)
    except ReferenceAudioError as e:
        raise APIError(422, str(e).replace("reference audio <array>:", "reference audio:"),
                       "invalid_reference", "file") from None
    return service.voices.write(name, clip)


def _soundfile_reason(e: Exception) -> str:
    """libsndfile's reason without the "Error opening <_io.BytesIO object at 0x...>:" part."""
    return re.sub(r"^Error opening <[^>]*>:\s*", "", str(e)).strip() or type(e).__name__

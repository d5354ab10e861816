"""``GET /health`` (liveness, load and request counters) and ``GET /v1/models``."""

# (no "from __future__ import annotations": FastAPI reads the endpoints' annotations)
from fastapi import APIRouter, Depends

from espnet_mvc.server.formats import FORMATS
from espnet_mvc.server.speech_service import SpeechService, current_service

router = APIRouter()


@router.get("/health")
async def health(service: SpeechService = Depends(current_service)):
    """Liveness and load: workers busy, requests active and waiting, counters."""
    cfg, adm = service.config, service.admission
    return dict(status="ok", model=service.model_id, sample_rate=service.fs,
                workers=cfg.workers, torch_threads=cfg.threads,
                busy_workers=service.pool.busy, active=adm.active, max_active=adm.max_active,
                queued=adm.waiting, queue_size=adm.queue_size, voices=len(service.voices),
                builtin_voices=len(service.builtin), requests=dict(service.counts))


@router.get("/v1/models")
async def models(service: SpeechService = Depends(current_service)):
    """The one model this server speaks with (OpenAI's list shape)."""
    tts = service.tts
    return dict(object="list", data=[dict(
        id=service.model_id, object="model", created=service.started,
        owned_by="espnet-mvc", sample_rate=service.fs,
        uses_reference_audio=tts.uses_reference, languages=tts.languages,
        speakers=tts.speakers, default_voice=tts.default_voice, formats=list(FORMATS),
    )])

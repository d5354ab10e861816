"""How the speech server answers errors: JSON bodies (:func:`error_body`), each one counted.

Every error answer goes through :meth:`SpeechService.count_error`, so that ``/health`` tells
the client's faults (``client_errors``, ``rejected``, ``timed_out``, ``cancelled``) from the
server's own (``failed``).
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from espnet_mvc.server.api_errors import APIError, error_body, validation_message

log = logging.getLogger("espnet_mvc.server")

# codes of the errors that FastAPI / Starlette raise themselves
_HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as JSON (``app.state.service`` counts them)."""
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _internal_error)


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    request.app.state.service.count_error(exc.status)
    return JSONResponse(error_body(exc.status, exc.message, exc.code, exc.param),
                        status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    request.app.state.service.count_error(exc.status_code)
    code = _HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    return JSONResponse(error_body(exc.status_code, str(exc.detail), code),
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    request.app.state.service.count_error(400)
    msg, param = validation_message(exc)
    return JSONResponse(error_body(400, msg, "invalid_request", param), status_code=400)


async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
    # the body is read by BodyLimit first, so this is a fallback: a client gone is
    # cancelled, not the server's fault, and nobody reads the answer
    request.app.state.service.count_error(499)
    log.info("client disconnected during %s %s: cancelled", request.method, request.url.path)
    return Response(status_code=400)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    request.app.state.service.count_error(500)
    log.exception("internal error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body(500, f"internal error: {type(exc).__name__}: {exc}",
                                   "internal_error"), status_code=500)

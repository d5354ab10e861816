"""The speech server's JSON errors: ``{"error": {"message", "type", "code", "param"}}``.

Plain Python (no FastAPI), so that :class:`APIError` imports without the ``serve`` extra.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple


class APIError(Exception):
    """An error answered as JSON with ``status``; ``code`` is a short machine-readable name.

    Args:
        status (int): The HTTP status.
        message (str): What went wrong and, where it helps, what to do.
        code (str): A short machine-readable name (``voice_not_found``).
        param (Optional[str]): The request field at fault.
        headers (Optional[Dict[str, str]]): Extra answer headers (``Retry-After``).
    """

    def __init__(self, status: int, message: str, code: str, param: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers


def error_body(status: int, message: str, code: str, param: Optional[str] = None) -> dict:
    """The JSON body of an error answer; its ``type`` follows from ``status`` as OpenAI's."""
    kind = ("server_busy" if status == 429 else
            "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def validation_message(err) -> Tuple[str, Optional[str]]:
    """A pydantic validation error as one message and the first field at fault.

    Args:
        err: A ``pydantic.ValidationError`` or FastAPI's ``RequestValidationError``.

    Returns:
        Tuple[str, Optional[str]]: ``"loc: msg; ..."`` (the first five) and the first loc.
    """
    parts, param = [], None
    for e in err.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        param = param or loc or None
        parts.append(f"{loc or 'body'}: {e.get('msg')}")
    return "; ".join(parts), param


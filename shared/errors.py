"""The one error shape every service answers with.

    PivotwatchError (status, code)
    ├── InvalidInput          422  a field is wrong; names the field and the reason
    ├── Unauthorized          401
    ├── Forbidden             403
    ├── NotFound              404
    ├── Conflict              409
    ├── PayloadTooLarge       413
    ├── UnsupportedMediaType  415
    ├── RateLimited           429  + Retry-After
    └── DependencyUnavailable 503  + Retry-After

Body: `{"error": "<code>", "detail": "<reason>", "field": "<dotted path or null>"}`. FastAPI's
request validation errors and Starlette's HTTP errors are rendered in the same shape; anything
unexpected becomes a 500 with no traceback in the body (it is logged with the correlation id).
A Redis or broker outage becomes a DependencyUnavailable in one way: `with unavailable(...)`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from kombu.exceptions import OperationalError as BrokerUnreachable
from pydantic import BaseModel, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError as RedisRefused
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.responses import JSONResponse

log = logging.getLogger("pivotwatch.errors")


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """The one error shape, as a model for OpenAPI documents (`responses={...: ...}`)."""

    error: str
    detail: str
    field: str | None = None
    errors: list[FieldError] | None = None


# FastAPI documents a 422 with its own HTTPValidationError; ours have the one shape above. A
# router's `responses=` with these makes its document say what clients really receive.
INVALID_ANSWER: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "A field is wrong: `field` names it, `detail` why"}
}
KEY_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No API key, or an unknown or revoked one"},
    403: {"model": ErrorBody, "description": "The key lacks the scope"},
}


class PivotwatchError(Exception):
    status = 500
    code = "internal"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.retry_after = retry_after
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, "field": self.field, **self.extra}


class InvalidInput(PivotwatchError):
    status = 422
    code = "invalid"


class Unauthorized(PivotwatchError):
    status = 401
    code = "unauthorized"


class Forbidden(PivotwatchError):
    status = 403
    code = "forbidden"


class NotFound(PivotwatchError):
    status = 404
    code = "not_found"


class Conflict(PivotwatchError):
    status = 409
    code = "conflict"


class PayloadTooLarge(PivotwatchError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(PivotwatchError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(PivotwatchError):
    status = 429
    code = "rate_limited"


class DependencyUnavailable(PivotwatchError):
    status = 503
    code = "unavailable"


# What "Redis (or the Celery broker) cannot serve this request now" looks like: redis-py wraps
# socket failures in its ConnectionError/TimeoutError, though a bare OSError still escapes some
# paths; a refused command (OOM under `noeviction`, a read-only replica, MASTERDOWN) is a
# ResponseError; a publish to an unreachable broker is kombu's OperationalError. Not all of
# RedisError: its client-side errors (a DataError for a bad argument) are bugs, answered as 500s.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    RedisRefused,
    OSError,
    BrokerUnreachable,
)
UNAVAILABLE_RETRY_AFTER = 2  # seconds; a restarted Redis answers again within a few


@contextmanager
def unavailable(detail: str = "Redis is unreachable; try again") -> Iterator[None]:
    """Inside, an outage of Redis or the broker is answered 503 with `detail` and Retry-After."""
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        raise DependencyUnavailable(detail, retry_after=UNAVAILABLE_RETRY_AFTER) from exc


_REQUEST_PARTS = ("body", "query", "path", "header", "cookie")


def field_path(loc: tuple[Any, ...] | list[Any], request: bool = False) -> str:
    """pydantic's error location as a dotted path. FastAPI prepends the request part (`body`,
    `query`...) to a request's locations: only that leading element is dropped, so that a field
    itself named `body` (an event's `data.body`) keeps its name."""
    parts = list(loc)
    if request and parts and parts[0] in _REQUEST_PARTS:
        parts = parts[1:]
    return ".".join(str(p) for p in parts)


# A model-level check names its field at the start of its message ("sources: at least one ...");
# pydantic places such errors on the model, so the field is taken from the message.
_NAMED = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*): (?P<reason>.+)$", re.DOTALL)


def _located(loc: Any, msg: Any, prefix: str, request: bool = False) -> tuple[str, str]:
    path = field_path(tuple(loc or ()), request)
    reason = str(msg or "invalid input").removeprefix("Value error, ")
    named = _NAMED.match(reason)
    if named:
        path = f"{path}.{named['field']}" if path else named["field"]
        reason = named["reason"]
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    return path, reason


def from_validation_error(
    exc: ValidationError | RequestValidationError, prefix: str = ""
) -> InvalidInput:
    errors = exc.errors()
    request = isinstance(exc, RequestValidationError)
    first = errors[0] if errors else {"loc": (), "msg": "invalid input"}
    if request and first.get("type") == "json_invalid":
        # FastAPI locates a JSON syntax error at ("body", <character offset>): the field is
        # the body itself, and the offset belongs in the reason.
        offset = (first.get("loc") or ("body", "?"))[-1]
        reason = f"body is not valid JSON (at character {offset}): {first.get('msg')}"
        return InvalidInput(reason, field="body")
    path, msg = _located(first.get("loc"), first.get("msg"), prefix, request)
    detail = msg if len(errors) == 1 else f"{msg} (and {len(errors) - 1} more)"
    return InvalidInput(
        detail, field=path or None, extra={"errors": _compact(errors, prefix, request)}
    )


def _compact(errors: Any, prefix: str, request: bool) -> list[dict[str, str]]:
    out = []
    for e in errors[:20]:
        path, reason = _located(e.get("loc"), e.get("msg"), prefix, request)
        out.append({"field": path, "reason": reason})
    return out


def error_response(exc: PivotwatchError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PivotwatchError)
        return error_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(from_validation_error(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        if exc.status_code == 400:
            # FastAPI's "There was an error parsing the body": the body is not the JSON it
            # should be. Said in the one shape, as the invalid input it is.
            body = {"error": "invalid", "detail": f"body: {exc.detail}", "field": "body"}
            return JSONResponse(body, status_code=422)
        body = {"error": codes.get(exc.status_code, "http_error"), "detail": str(exc.detail)}
        return JSONResponse({**body, "field": None}, status_code=exc.status_code)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        body = {"error": "internal", "detail": "internal error", "field": None}
        # Sent from outside every middleware (Starlette's ServerErrorMiddleware), so it carries
        # the header the hardening middleware gives every other response itself.
        return JSONResponse(body, status_code=500, headers={"X-Content-Type-Options": "nosniff"})

    app.add_exception_handler(PivotwatchError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)

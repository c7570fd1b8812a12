"""One error shape for every non-2xx response: CAMARA's `{"status", "code", "message"}`.

Domain refusals keep their stable code under the `REALNAME.` namespace; protocol errors use
CAMARA's common codes. Messages are English, or Chinese when `Accept-Language` asks for it.
Nothing a client sends is echoed back, and no traceback ever leaves the process.
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from realname.errors import CodedError, wants_chinese

log = logging.getLogger("realname.api")


class ErrorInfo(BaseModel):
    """CAMARA Commonalities ErrorInfo."""

    status: int = Field(examples=[409])
    code: str = Field(examples=["REALNAME.CAP_EXCEEDED"])
    message: str = Field(
        examples=["This identity already holds the maximum number of lines at this operator."]
    )


def refusals(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A router's documented refusals for OpenAPI, each with the one error body (`ErrorInfo`)."""
    return {
        status: {"model": ErrorInfo, "description": text} for status, text in descriptions.items()
    }


class HttpErrorCode(StrEnum):
    """The codes the HTTP layer itself answers with, as they travel (CAMARA's common codes,
    and the `REALNAME.` ones of idempotency and consent capture)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    CONSENT_EXPIRED = "REALNAME.CONSENT_EXPIRED"
    IDEMPOTENCY_IN_PROGRESS = "REALNAME.IDEMPOTENCY_IN_PROGRESS"
    IDEMPOTENCY_KEY_REUSED = "REALNAME.IDEMPOTENCY_KEY_REUSED"


class ApiError(CodedError):
    """A refusal raised by the HTTP layer itself (authentication, roles, idempotency): its
    status and message are given where it is raised, not looked up in a table. It is never an
    idempotent answer (the request did not reach the work)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        message_zh: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        self.status = status
        self._english, self._chinese = message, message_zh or message
        self.headers = headers or {}
        super().__init__(HttpErrorCode(code), retry_after=retry_after)

    @property
    def http_status(self) -> int:
        return self.status

    @property
    def wire_code(self) -> str:
        return str(self.code)

    def message_in(self, language: str) -> str:
        return self._chinese if wants_chinese(language) else self._english

    def response_headers(self) -> dict[str, str]:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers | self.headers


_PROTOCOL: dict[int, tuple[str, str, str]] = {
    400: ("INVALID_ARGUMENT", "Client specified an invalid argument.", "请求参数无效。"),
    401: ("UNAUTHENTICATED", "Request not authenticated.", "请求未认证。"),
    403: ("PERMISSION_DENIED", "Not allowed for this caller.", "无权执行此操作。"),
    404: ("NOT_FOUND", "The specified resource is not found.", "资源不存在。"),
    405: ("METHOD_NOT_ALLOWED", "This method is not allowed here.", "不支持该请求方法。"),
    406: ("NOT_ACCEPTABLE", "The requested media type is not available.", "无法提供所请求的格式。"),
    409: ("CONFLICT", "The request conflicts with the current state.", "请求与当前状态冲突。"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Send application/json.", "请使用 application/json。"),
    422: ("UNPROCESSABLE_CONTENT", "The request cannot be processed.", "请求无法处理。"),
    429: ("TOO_MANY_REQUESTS", "Too many requests; retry later.", "请求过多，请稍后再试。"),
    500: (
        "INTERNAL",
        "Unknown server error; nothing was changed.",
        "服务器内部错误，未做任何更改。",
    ),
    503: ("UNAVAILABLE", "Service unavailable; retry later.", "服务暂不可用，请稍后再试。"),
}


def language_of(request: Request) -> str:
    return "zh" if wants_chinese(request.headers.get("accept-language", "")) else "en"


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    response = JSONResponse(
        {"status": status, "code": code, "message": message}, status_code=status, headers=headers
    )
    correlator = getattr(request.state, "correlator", None)
    if correlator:
        response.headers["x-correlator"] = correlator
    return response


def protocol_error(request: Request, status: int, message: str | None = None) -> JSONResponse:
    code, english, chinese = _PROTOCOL.get(status, _PROTOCOL[500 if status >= 500 else 400])
    text = chinese if language_of(request) == "zh" else (message or english)
    return error_response(request, status, code, text)


def _field_path(location: tuple[Any, ...]) -> str:
    """The field as the caller wrote it: without where it travelled, nor the tag a union's
    choice carries in parentheses (`registry.schemas.CounterPersonIn`)."""
    parts = [
        str(p)
        for p in location
        if p not in ("body", "query", "path", "header") and not str(p).startswith("(")
    ]
    return ".".join(parts) or "body"


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {"loc": ("body",), "msg": "invalid"}
    field = _field_path(tuple(first.get("loc", ())))
    # Our own validators' hints ("give a time zone, …") are written for users and carry no
    # input; pydantic's own messages are cut at the first clause.
    raw = str(first.get("msg", "invalid"))
    ours = raw.startswith("Value error, ")
    reason = raw.removeprefix("Value error, ") if ours else raw.split(",")[0]
    if language_of(request) == "zh":
        message = f"请求参数无效：{field}"
    else:
        message = f"Invalid {field}: {reason}."
    return error_response(request, 400, "INVALID_ARGUMENT", message)


def coded_error_body(request: Request, error: CodedError) -> tuple[int, dict[str, object]]:
    """The status and body a domain refusal is answered with (also stored for replays)."""
    status = error.http_status
    message = error.message_in(language_of(request))
    return status, {"status": status, "code": error.wire_code, "message": message}


async def _on_coded_error(request: Request, error: Exception) -> JSONResponse:
    """Every refusal: a domain's, the HTTP layer's own (`ApiError`), CAMARA's."""
    assert isinstance(error, CodedError)
    status, body = coded_error_body(request, error)
    headers = error.response_headers() or None
    return error_response(request, status, str(body["code"]), str(body["message"]), headers)


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    response = protocol_error(request, error.status_code)
    for name, value in (error.headers or {}).items():  # e.g. `Allow` on a 405 (RFC 9110)
        response.headers[name] = value
    if error.status_code == 405:
        response.headers["Allow"] = _allowed(request) or response.headers.get("Allow", "")
    return response


def _allowed(request: Request) -> str:
    """Every documented method at this path: Starlette names only the first route's, and the
    `GET` and `POST` of one path are two routes (`/v1/channels`: list, create). A literal
    path (`/v1/lines/lookup`) is not also the template `/v1/lines/{line_id}`."""
    paths = request.app.openapi().get("paths", {})
    path = request.url.path
    if path in paths:
        return ", ".join(sorted(method.upper() for method in paths[path]))
    methods: set[str] = set()
    for template, operations in paths.items():
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


async def _on_conflict(request: Request, error: Exception) -> JSONResponse:
    """A unique constraint lost a race (two clerks, one kit): the loser retries or reports."""
    return protocol_error(request, 409)


async def _on_out_of_range(request: Request, error: Exception) -> JSONResponse:
    """A value the database cannot hold (an id past its column's range) is the caller's input,
    not a server fault; the schemas bound ids, this is the net under them."""
    return protocol_error(request, 400, "A value is out of range.")


async def _on_database_unavailable(request: Request, error: Exception) -> JSONResponse:
    """The database is down, busy or chose this transaction as a deadlock victim: nothing was
    committed, so the client may retry (with its Idempotency-Key) after a moment."""
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.warning("database unavailable", extra={"route": route, "error_type": type(error).__name__})
    response = protocol_error(request, 503)
    response.headers["Retry-After"] = "1"
    return response


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("unhandled error", extra={"route": route, "error_type": type(error).__name__})
    return protocol_error(request, 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(CodedError, _on_coded_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(IntegrityError, _on_conflict)
    app.add_exception_handler(OperationalError, _on_database_unavailable)
    app.add_exception_handler(RedisError, _on_database_unavailable)  # the hot counters' store
    # The async KYC Match read's own pool (psycopg without SQLAlchemy): down or exhausted.
    app.add_exception_handler(psycopg.OperationalError, _on_database_unavailable)
    app.add_exception_handler(PoolTimeout, _on_database_unavailable)
    app.add_exception_handler(DataError, _on_out_of_range)
    app.add_exception_handler(Exception, _on_unexpected)

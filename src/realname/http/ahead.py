"""Routes served ahead of FastAPI: the route's own work, in the route's order, without the
routing, dependency solving and response handling around it (the hot paths' shape in
../shared/perf-calibration.md; py-spy put FastAPI's share of a registration at about 40 % of
a worker's Python time, docs/benchmarks.md).

`ServedAhead` is an ASGI middleware inside the app's request context (`api.middleware`: the
x-correlator refused, echoed and logged, the metrics by route template) and ahead of FastAPI's
exception middleware. For one exact method and path, while the app says so
(`app.state.<flag>`), it reads the body, sets the route's own object in the scope (so metrics,
logs and idempotency name its template) and calls the handler; everything else goes on to
FastAPI, and so does the route when the flag is off (the route stays: the OpenAPI document,
and the path the tests compare it with). A refusal or failure is answered by the app's own
exception handler for it, so every error body, status, code and header is the route's.

The helpers repeat FastAPI's reading of a JSON body parameter: the body parsed as JSON with a
JSON content type (`json_invalid` first), validated by the route's model, with the errors
FastAPI would report (`loc` starting at `body`).
"""

from __future__ import annotations

import email.message
import json
from typing import Any, ClassVar, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

Model = TypeVar("Model", bound=BaseModel)
NO_BODY = object()  # nothing was sent (FastAPI: the body parameter is missing)


class ServedAhead:
    """`method path`, while `app.state.<flag>` is true, served by `serve` (see the module)."""

    method: ClassVar[str]
    path: ClassVar[str]
    flag: ClassVar[str]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: object | None = None

    async def serve(
        self, fastapi_app: Any, scope: Scope, receive: Receive, send: Send, raw: bytes
    ) -> None:
        """Answer the request whose body is `raw` (sent whole), or raise what the route would
        raise (answered by the app's exception handler for it)."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != self.path
            or scope["method"] != self.method
            or not getattr(scope["app"].state, self.flag, False)
        ):
            await self.app(scope, receive, send)
            return
        fastapi_app = scope["app"]
        scope["route"] = self._route or self._find_route(fastapi_app)
        try:
            raw = await read_body(receive)
            if raw is None:  # the client went away
                return
            await self.serve(fastapi_app, scope, receive, send, raw)
        except Exception as error:  # answered as FastAPI's exception middleware would
            handlers = fastapi_app.exception_handlers
            kind = next(kind for kind in type(error).__mro__ if kind in handlers)
            if kind is Exception:
                # Unexpected: raised on, as from the route, to Starlette's server-error
                # middleware (it answers 500 with the app's handler, then re-raises to the
                # server, which logs it).
                raise
            response = await handlers[kind](Request(scope, receive), error)
            await response(scope, receive, send)

    def _find_route(self, fastapi_app: Any) -> object:
        """The route's own object (the metrics and logs name its path template)."""
        for context in iter_route_contexts(fastapi_app.routes):
            route = context.route
            if getattr(route, "path", None) == self.path and self.method in getattr(
                route, "methods", ()
            ):
                self._route = route
                return route
        raise LookupError(f"{self.method} {self.path}")


async def read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a header (`name` in lower case, as ASGI gives names), as Starlette's
    `Headers.get` reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def json_document(raw: bytes, content_type: str | None) -> object:
    """The body as FastAPI reads it for a JSON body parameter: nothing sent is `NO_BODY`; a
    JSON content type (strict: none given is not JSON) parsed with the standard library's
    rules (orjson first, `json` again where it refuses, so every answer and error is the
    standard library's); any other content type the raw bytes (refused by validation)."""
    if not raw:
        return NO_BODY
    if not _is_json(content_type):
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ]
        ) from None
    except Exception:  # not text at all (FastAPI's answer: 400)
        raise StarletteHTTPException(400, "There was an error parsing the body") from None


def _is_json(content_type: str | None) -> bool:
    """FastAPI's test of a JSON body's content type (`application/json`, `application/*+json`)."""
    if not content_type:
        return False
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def validated(model: type[Model], document: object) -> Model:
    """The body parameter as FastAPI validates it, or the RequestValidationError it raises."""
    if document is NO_BODY:
        problems: list[Any] = [
            {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        ]
    else:
        try:
            return model.model_validate(document, from_attributes=True)
        except ValidationError as error:
            problems = [
                {**problem, "loc": ("body", *problem.get("loc", ()))}
                for problem in error.errors(include_url=False)
            ]
    raise RequestValidationError(problems)

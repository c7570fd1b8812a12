"""KYC Match served ahead of FastAPI: the route's work, in the route's order, without the
routing, dependency solving and response validation around it (the hot path's shape in
../shared/perf-calibration.md). The route in `endpoints.py` stays for the OpenAPI document
and the service path."""

from __future__ import annotations

import email.message
import json
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from realname.http.deps import Runtime, authenticate
from realname.verification.endpoints import KYC_MATCHER, camara_refusal, kyc_match_async
from realname.verification.schemas import KycMatchRequest, KycMatchResponse

KYC_MATCH_PATH = "/kyc-match/v0.4/match"
# KycMatchResponse's fields in its order: the answer's keys as the route's response model
# writes them (exclude_none).
_ANSWER_FIELDS = tuple(KycMatchResponse.model_fields)


class KycMatchAhead:
    """An ASGI middleware inside the app's request context (`api.middleware`: the
    x-correlator refused, echoed and logged, the metrics by route template) and ahead of
    FastAPI's exception middleware, routing and dependency solving: when the app answers KYC
    Match on the event loop (`app.state.verification_kyc`), it serves exactly
    `POST /kyc-match/v0.4/match` itself; everything else, and KYC Match on the service path,
    goes on to FastAPI (`app.state.verification_kyc_ahead` false: the route serves it).
    py-spy put FastAPI's routing, dependency solving and response validation at about a
    tenth of a call (docs/benchmarks.md).

    It does what the route does, in the same order, with the same functions: the body read
    and parsed as JSON (`json_invalid` first, as FastAPI), the bearer token
    (`deps.authenticate`, the verified-token cache) and the relying party's scope
    (`KYC_MATCHER`), the body validated by `KycMatchRequest` (a value past a bound `400
    OUT_OF_RANGE`: `camara_refusal`), then `kyc_match_async`. A refusal or failure is
    answered by the app's own exception handler for it, so every error body, status, code
    and header is the route's. The route stays for the OpenAPI document and the service path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: object | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != KYC_MATCH_PATH
            or scope["method"] != "POST"
            or not getattr(scope["app"].state, "verification_kyc_ahead", False)
        ):
            await self.app(scope, receive, send)
            return
        fastapi_app = scope["app"]
        scope["route"] = self._route or self._find_route(fastapi_app)
        try:
            raw = await _body(receive)
            if raw is None:  # the client went away
                return
            answer = await self._answer(fastapi_app, scope, raw)
        except Exception as error:  # answered as FastAPI's exception middleware would
            await _refuse(fastapi_app, scope, receive, send, error)
            return
        body = orjson.dumps({k: answer[k] for k in _ANSWER_FIELDS if answer.get(k) is not None})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, fastapi_app: Any, scope: Scope, raw: bytes) -> dict[str, object]:
        document = _json_document(raw, _header(scope, b"content-type"))
        state = fastapi_app.state
        rt: Runtime = state.runtime
        principal = KYC_MATCHER.admit(
            await authenticate(rt, _header(scope, b"authorization") or None)
        )
        body = _validated(document)
        return await kyc_match_async(state.verification_kyc, state, rt, principal, body)

    def _find_route(self, fastapi_app: Any) -> object:
        """The route's own object (the metrics and logs name its path template)."""
        for context in iter_route_contexts(fastapi_app.routes):
            if getattr(context.route, "path", None) == KYC_MATCH_PATH:
                self._route = context.route
                return context.route
        raise LookupError(KYC_MATCH_PATH)


_NO_BODY = object()


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _json_document(raw: bytes, content_type: str | None) -> object:
    """The body as FastAPI reads it for a JSON body parameter: nothing sent is no body; a
    JSON content type (strict: none given is not JSON) parsed with the standard library's
    rules (orjson first, `json` again where it refuses, so every answer and error is the
    standard library's); any other content type the raw bytes (refused by validation)."""
    if not raw:
        return _NO_BODY
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


def _validated(document: object) -> KycMatchRequest:
    if document is _NO_BODY:
        problems: list[Any] = [
            {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        ]
    else:
        try:
            return KycMatchRequest.model_validate(document, from_attributes=True)
        except ValidationError as error:
            problems = [
                {**problem, "loc": ("body", *problem.get("loc", ()))}
                for problem in error.errors(include_url=False)
            ]
    raise camara_refusal(RequestValidationError(problems))


async def _refuse(
    fastapi_app: Any, scope: Scope, receive: Receive, send: Send, error: Exception
) -> None:
    """The app's exception handler for this error (the nearest class in its MRO), as
    FastAPI's exception middleware (or, for anything unexpected, its server-error
    middleware) would call it."""
    handlers = fastapi_app.exception_handlers
    handler = next(handlers[kind] for kind in type(error).__mro__ if kind in handlers)
    response = await handler(Request(scope, receive), error)
    await response(scope, receive, send)

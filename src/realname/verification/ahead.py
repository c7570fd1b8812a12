"""KYC Match served ahead of FastAPI (`http.ahead`): the route's work, in the route's order,
without the routing, dependency solving and response validation around it. The route in
`endpoints.py` stays for the OpenAPI document and the service path."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.types import Receive, Scope, Send

from realname.http.ahead import ServedAhead, header, json_document, validated
from realname.http.deps import Runtime, authenticate
from realname.verification.endpoints import KYC_MATCHER, camara_refusal, kyc_match_async
from realname.verification.schemas import KycMatchRequest, KycMatchResponse

KYC_MATCH_PATH = "/kyc-match/v0.4/match"
# KycMatchResponse's fields in its order: the answer's keys as the route's response model
# writes them (exclude_none).
_ANSWER_FIELDS = tuple(KycMatchResponse.model_fields)


class KycMatchAhead(ServedAhead):
    """`POST /kyc-match/v0.4/match` when the app answers KYC Match on the event loop
    (`app.state.verification_kyc` set, `verification_kyc_ahead` true); KYC Match on the
    service path goes on to FastAPI's route.

    It does what the route does, in the same order, with the same functions: the body read
    and parsed as JSON (`json_invalid` first, as FastAPI), the bearer token
    (`deps.authenticate`, the verified-token cache) and the relying party's scope
    (`KYC_MATCHER`), the body validated by `KycMatchRequest` (a value past a bound `400
    OUT_OF_RANGE`: `camara_refusal`), then `kyc_match_async`."""

    method = "POST"
    path = KYC_MATCH_PATH
    flag = "verification_kyc_ahead"

    async def serve(
        self, fastapi_app: Any, scope: Scope, receive: Receive, send: Send, raw: bytes
    ) -> None:
        answer = await self._answer(fastapi_app, scope, raw)
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
        document = json_document(raw, header(scope, b"content-type"))
        state = fastapi_app.state
        rt: Runtime = state.runtime
        principal = KYC_MATCHER.admit(
            await authenticate(rt, header(scope, b"authorization") or None)
        )
        try:
            body = validated(KycMatchRequest, document)
        except RequestValidationError as error:
            raise camara_refusal(error) from None
        return await kyc_match_async(state.verification_kyc, state, rt, principal, body)

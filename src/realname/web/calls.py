"""The pages' one way to the data: the JSON API, called in process (no socket) with a
short-lived token of the API client the signed-in account acts as. What the API refuses, the
page refuses, with the same code; what it masks stays masked; what it audits is audited."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        return str(self.body.get("code", "")) if isinstance(self.body, dict) else ""

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


class ApiFailedError(Exception):
    """The API failed inside (its 500): the page cannot go on, and shows its error page
    (`pages.install`). Carries no request data: the API has logged what it may."""


class Api:
    """The app's own API as this caller: `await api.get("/v1/enterprises")`."""

    def __init__(self, request: Request, token: str | None, locale: str) -> None:
        """`token`: the signed-in staff's; None for the public pages (一证通查), which call
        only the API's public routes."""
        self._request = request
        # The API sees the browser's address, not this process's: per-address limits (the
        # 一证通查 code requests, sign-in throttling) count the person, not the server.
        client = (request.client.host, request.client.port) if request.client else None
        # An exception inside the API is its own 500 answer (its handler has logged it), not
        # an exception raised through this page: the page then shows its error page.
        self._transport = httpx.ASGITransport(
            app=request.app, raise_app_exceptions=False, client=client or ("127.0.0.1", 123)
        )
        self._headers = {"Accept-Language": "zh-CN" if locale == "zh-CN" else "en"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"

    async def _call(
        self, method: str, path: str, extra_headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Answer:
        headers = self._headers | (extra_headers or {})
        async with httpx.AsyncClient(
            transport=self._transport, base_url="http://realname.internal"
        ) as client:
            response = await client.request(method, path, headers=headers, **kwargs)
        if response.status_code == 500:
            raise ApiFailedError(f"{method} {path.split('?', 1)[0]}: 500")
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Answer(response.status_code, body)

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Answer:
        return await self._call("GET", path, params=params)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Answer:
        """A write on behalf of the page's form: keyed by the form's random id and the API
        path (one page holds several forms), so the form sent again is answered once by the
        API's Idempotency-Key store. Nothing of what the form holds goes into the key."""
        form_id = (await self._request.form()).get("form_id")
        headers = None
        if isinstance(form_id, str) and form_id:
            key = hashlib.sha256(f"{form_id}\x00{path}".encode()).hexdigest()
            headers = {"Idempotency-Key": f"web-{key}"}
        return await self._call("POST", path, json=body, extra_headers=headers)

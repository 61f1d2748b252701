"""The other services' HTTP APIs, called with the signed-in person's credential (the web owns no data)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

from web.settings import Settings

VISITOR: ContextVar[str | None] = ContextVar("visitor", default=None)
"""The address of the person whose request the web is serving (set per request by the app): passed on in
``X-Forwarded-For`` so that each service's per-client limit counts people, not the web's pods."""


class Unavailable(Exception):
    """A service did not answer (down, or too slow): the page says so and nothing is lost."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


@dataclass
class Answer:
    status: int
    body: Any
    headers: httpx.Headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def detail(self) -> str:
        """The service's error message, in one sentence for a page."""
        detail = self.body.get("detail") if isinstance(self.body, dict) else None
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            return " ; ".join(str(e.get("msg", e)) for e in detail if isinstance(e, dict))
        return f"erreur {self.status}"

    def field_errors(self) -> dict[str, str]:
        """422 answers: the message of each field (the last part of its location)."""
        detail = self.body.get("detail") if isinstance(self.body, dict) else None
        errors: dict[str, str] = {}
        if self.status == 422 and isinstance(detail, list):
            for error in detail:
                loc = error.get("loc") or []
                field = str(loc[-1]) if loc else "formulaire"
                errors.setdefault(field, str(error.get("msg", "valeur invalide")))
        return errors


class Backend:
    """One HTTP client for every service; ``call`` never raises on an HTTP error status."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.urls = {
            "offers": settings.offers_url,
            "trainings": settings.trainings_url,
            "matching": settings.matching_url,
            "journeys": settings.journeys_url,
            "notifications": settings.notifications_url,
        }
        self._http = httpx.AsyncClient(timeout=settings.backend_timeout_s, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        session: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        visitor = VISITOR.get()
        if visitor:
            sent["X-Forwarded-For"] = visitor
        if session:
            sent["Authorization"] = f"Bearer {session}"
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self._http.request(
                method, f"{self.urls[service].rstrip('/')}{path}", params=query, json=json, headers=sent
            )
        except httpx.HTTPError:
            raise Unavailable(service) from None
        if response.status_code in (502, 503, 504) and service != "matching":
            raise Unavailable(service)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        return Answer(response.status_code, body, response.headers)

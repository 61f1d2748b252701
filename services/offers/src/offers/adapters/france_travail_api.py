"""France Travail "Offres d'emploi v2" API client: OAuth2 client credentials, paging, the 3,000 cap.

- Token (client credentials) cached until a minute before it expires; a 401 refreshes it once.
- ``/offres/search`` pages of 150 (``range=0-149``); the API serves at most 3,150 results of one query
  (``range`` ends at 3149), so a query whose ``Content-Range`` total goes beyond is split in two halves of
  its creation-date window, recursively.
- Throttling (requests per second) and retries with backoff on 403/429/5xx and network errors
  (``Retry-After`` honoured).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

PAGE = 150
MAX_RESULTS = 3150
RETRIED = {403, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"(\d+)-(\d+)/(\d+)")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class FranceTravailError(Exception):
    pass


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FranceTravailClient:
    def __init__(
        self,
        api_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str = "api_offresdemploiv2 o2dsoffre",
        requests_per_second: float = 9.0,
        attempts: int = 5,
        backoff_s: float = 0.5,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self._credentials = {"client_id": client_id, "client_secret": client_secret, "scope": scope}
        self._interval = 1.0 / requests_per_second
        self._attempts = attempts
        self._backoff = backoff_s
        self._http = http or httpx.AsyncClient(timeout=30)
        self._sleep = sleep
        self._now = now
        self._token: str | None = None
        self._token_expires = 0.0
        self._last_call = 0.0
        self.requests = 0
        self.token_requests = 0

    async def close(self) -> None:
        await self._http.aclose()

    async def token(self, *, renew: bool = False) -> str:
        if self._token and not renew and time.monotonic() < self._token_expires:
            return self._token
        self.token_requests += 1
        response = await self._http.post(
            self.token_url, data={"grant_type": "client_credentials", **self._credentials}
        )
        if response.status_code != 200:
            raise FranceTravailError(f"token refused: HTTP {response.status_code} {response.text[:200]}")
        body = response.json()
        self._token = str(body["access_token"])
        self._token_expires = time.monotonic() + float(body.get("expires_in", 1499)) - 60
        return self._token

    async def _throttle(self) -> None:
        wait = self._last_call + self._interval - time.monotonic()
        if wait > 0:
            await self._sleep(wait)
        self._last_call = time.monotonic()

    async def get(self, path: str, params: dict[str, str]) -> httpx.Response:
        renewed = False
        for attempt in range(1, self._attempts + 1):
            await self._throttle()
            headers = {"Authorization": f"Bearer {await self.token()}", "Accept": "application/json"}
            self.requests += 1
            try:
                response = await self._http.get(f"{self.api_url}{path}", params=params, headers=headers)
            except httpx.TransportError:
                if attempt == self._attempts:
                    raise
                await self._sleep(self._backoff * 2 ** (attempt - 1))
                continue
            if response.status_code == 401 and not renewed:
                renewed = True
                await self.token(renew=True)
                continue
            if response.status_code in RETRIED and attempt < self._attempts:
                retry_after = response.headers.get("Retry-After", "")
                delay = float(retry_after) if retry_after.isdigit() else self._backoff * 2 ** (attempt - 1)
                await self._sleep(delay)
                continue
            if response.status_code in (200, 206, 204):
                return response
            raise FranceTravailError(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")
        raise FranceTravailError(f"GET {path}: no answer after {self._attempts} attempts")

    async def search(self, criteria: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Every offer matching ``criteria``, splitting the creation-date window beyond the API's cap."""
        async for offer in self._window(criteria, EARLIEST, self._now()):
            yield offer

    async def offers_of_departement(self, departement: str) -> AsyncIterator[dict[str, Any]]:
        async for offer in self.search({"departement": departement}):
            yield offer

    async def _window(
        self, criteria: dict[str, str], start: datetime, end: datetime
    ) -> AsyncIterator[dict[str, Any]]:
        params = {**criteria, "minCreationDate": _iso(start), "maxCreationDate": _iso(end)}
        first, total = await self._page(params, 0)
        if total > MAX_RESULTS and end - start > timedelta(seconds=2):
            middle = start + (end - start) / 2
            async for offer in self._window(criteria, start, middle):
                yield offer
            async for offer in self._window(criteria, middle + timedelta(seconds=1), end):
                yield offer
            return
        for offer in first:
            yield offer
        for begin in range(PAGE, min(total, MAX_RESULTS), PAGE):
            page, _ = await self._page(params, begin)
            for offer in page:
                yield offer

    async def _page(self, params: dict[str, str], begin: int) -> tuple[list[dict[str, Any]], int]:
        response = await self.get("/offres/search", {**params, "range": f"{begin}-{begin + PAGE - 1}"})
        if response.status_code == 204 or not response.content:
            return [], 0
        results = list(response.json().get("resultats", []))
        found = _CONTENT_RANGE.search(response.headers.get("Content-Range", ""))
        total = int(found.group(3)) if found else len(results)
        return results, total

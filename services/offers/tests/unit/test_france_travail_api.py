"""The France Travail client against a local HTTP server replaying real records (no network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from offers.adapters.france_travail_api import FranceTravailClient

from .fakes import real_records


class FakeFranceTravail:
    """Token endpoint and /offres/search as France Travail answers them (Content-Range, 206, 3,150 cap)."""

    def __init__(self, offers: list[dict[str, Any]]) -> None:
        self.offers = offers
        self.failures: list[int] = []  # statuses to answer before serving normally
        self.searches: list[dict[str, str]] = []
        self.tokens = 0
        self.valid_token = "token-1"

    def handle(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        url = urlparse(request.path)
        if request.command == "POST" and url.path == "/token":
            self.tokens += 1
            self.valid_token = f"token-{self.tokens}"
            return 200, {}, json.dumps({"access_token": self.valid_token, "expires_in": 1499}).encode()
        if request.headers.get("Authorization") != f"Bearer {self.valid_token}":
            return 401, {}, b"{}"
        if self.failures:
            return self.failures.pop(0), {"Retry-After": "0"}, b"{}"
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.searches.append(params)
        low, high = params["minCreationDate"], params["maxCreationDate"]
        found = [o for o in self.offers if low <= o["dateCreation"][:19] + "Z" <= high]
        begin, end = (int(x) for x in params["range"].split("-"))
        if begin > 3000 or end > 3149:
            return 400, {}, b'{"message": "range invalide"}'
        page = found[begin : end + 1]
        status = 200 if end + 1 >= len(found) else 206
        headers = {"Content-Range": f"offres {begin}-{begin + len(page) - 1}/{len(found)}"}
        return status, headers, json.dumps({"resultats": page}).encode()


@pytest.fixture
def server() -> Iterator[tuple[FakeFranceTravail, str]]:
    fake = FakeFranceTravail(real_records())

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if self.command == "POST":
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, headers, body = fake.handle(self)
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def client(base: str) -> FranceTravailClient:
    async def no_sleep(_: float) -> None:
        return None

    return FranceTravailClient(
        f"{base}/partenaire/offresdemploi/v2",
        f"{base}/token",
        "id",
        "secret",
        requests_per_second=1000,
        sleep=no_sleep,
        now=lambda: datetime(2024, 12, 1, tzinfo=UTC),
    )


def many(n: int) -> list[dict[str, Any]]:
    """n real records with distinct ids, created one minute apart."""
    base = real_records()
    start = datetime(2024, 10, 1, tzinfo=UTC)
    return [
        {
            **base[i % len(base)],
            "id": f"X{i:05d}",
            "dateCreation": (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        for i in range(n)
    ]


async def test_search_reads_every_page_of_150(server: tuple[FakeFranceTravail, str]) -> None:
    fake, base = server
    fake.offers = many(400)
    ft = client(base)
    got = [o["id"] async for o in ft.offers_of_departement("57")]
    await ft.close()
    assert got == [o["id"] for o in fake.offers]
    assert [s["range"] for s in fake.searches] == ["0-149", "150-299", "300-449"]
    assert all(s["departement"] == "57" for s in fake.searches)


async def test_token_is_requested_once_and_renewed_after_a_401(server: tuple[FakeFranceTravail, str]) -> None:
    fake, base = server
    ft = client(base)
    first = [o async for o in ft.offers_of_departement("57")]
    fake.valid_token = "rotated"  # the server forgot our token
    second = [o async for o in ft.offers_of_departement("57")]
    await ft.close()
    assert len(first) == len(second) == len(real_records())
    assert fake.tokens == 2


async def test_throttled_and_failing_calls_are_retried(server: tuple[FakeFranceTravail, str]) -> None:
    fake, base = server
    fake.failures = [429, 503, 403]
    ft = client(base)
    got = [o async for o in ft.offers_of_departement("57")]
    await ft.close()
    assert len(got) == len(real_records())
    assert ft.requests == 4


async def test_query_beyond_the_3000_cap_is_split_by_creation_dates(
    server: tuple[FakeFranceTravail, str],
) -> None:
    fake, base = server
    fake.offers = many(3500)
    ft = client(base)
    got = [o["id"] async for o in ft.offers_of_departement("57")]
    await ft.close()
    assert sorted(got) == sorted(o["id"] for o in fake.offers)
    assert len(set(got)) == 3500
    assert all(int(s["range"].split("-")[1]) <= 3149 for s in fake.searches)

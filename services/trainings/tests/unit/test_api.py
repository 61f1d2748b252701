"""The HTTP API: sessions by basin, ROME fiche, funding and start date, paged; LHEO upload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tdu_dev.testing.access import guarded_app, partner_key
from tdu_shared.access.keys import KeyRing
from tdu_shared.clock import SystemClock
from tdu_shared.outbox import MemoryItems, MemoryOutbox, Outbox
from trainings.access import POLICY
from trainings.adapters.memory import InMemorySessionRepository
from trainings.api import build_router
from trainings.domain.report import ImportReport
from trainings.handlers import CatalogueSync
from trainings.importer import run_import

FIXTURES = Path(__file__).parents[1] / "fixtures"


RING = KeyRing()
_, CR_KEY = partner_key(RING, "carif-oref", ["catalogue:write:cr"])


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    repository = InMemorySessionRepository()

    async def importer(stream: IO[bytes], source: str, validate: bool) -> ImportReport:
        return await run_import(
            stream,
            source,
            CatalogueSync(repository, Outbox(MemoryOutbox(), MemoryItems()), SystemClock(), region="44"),
            validate=validate,
        )

    app = guarded_app([build_router(repository, importer, max_upload_mb=1)], POLICY, RING)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=CR_KEY) as client:
        response = await client.post(
            "/imports", params={"source": "cr"}, content=(FIXTURES / "dirty-lheo23.xml").read_bytes()
        )
        assert response.status_code == 200, response.text
        yield client


async def test_upload_returns_the_import_summary(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/imports",
        params={"source": "cr", "validate": "true"},
        content=(FIXTURES / "dirty-lheo23.xml").read_bytes(),
    )
    body = response.json()
    assert response.status_code == 200
    assert (body["sessions"], body["unchanged"], body["published"]) == (3, 3, 0)
    assert body["violations"]["count"] >= 1 and body["complete"] is True


async def test_broken_upload_is_422_with_the_line_and_withdraws_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/imports", params={"source": "cr"}, content=(FIXTURES / "broken.xml").read_bytes()
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["error"]["line"] == 13 and detail["complete"] is False
    # the 3 sessions stay; the one read before the break is kept
    assert (await client.get("/sessions", params={"source": "cr"})).json()["total"] == 4


async def test_upload_needs_a_valid_source(client: httpx.AsyncClient) -> None:
    response = await client.post("/imports", params={"source": "Bad Source!"}, content=b"<lheo/>")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "source"]


async def test_upload_too_large_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/imports", params={"source": "cr"}, content=b" " * (1024 * 1024 + 1))
    assert response.status_code == 413


async def test_list_filters_by_basin_rome_fiche_funding_and_start(client: httpx.AsyncClient) -> None:
    async def ids(**params: object) -> list[str]:
        response = await client.get("/sessions", params=params)
        assert response.status_code == 200, response.text
        return [s["session_id"] for s in response.json()["items"]]

    assert await ids(basin="4410") == ["cr:F1:A1:S2", "cr:F1:A1:S1"]
    assert await ids(rome="m1801") == ["cr:F1:A1:S2", "cr:F1:A1:S1"]
    assert await ids(funded="false") == ["cr:F2:A2:S1"]
    assert await ids(start_after="2026-02-01") == ["cr:F2:A2:S1"]
    assert await ids(basin="4412", funded="true") == []


async def test_list_is_paged(client: httpx.AsyncClient) -> None:
    response = await client.get("/sessions", params={"size": 2, "page": 2})
    body = response.json()
    assert (body["total"], body["page"], body["size"], len(body["items"])) == (3, 2, 2, 1)


async def test_bad_filters_are_422_with_the_field(client: httpx.AsyncClient) -> None:
    response = await client.get("/sessions", params={"rome": "metier", "start_after": "demain"})
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
        ("query", "rome"),
        ("query", "start_after"),
    }


async def test_get_one_session_and_404_for_an_unknown_one(client: httpx.AsyncClient) -> None:
    found = await client.get("/sessions/cr:F1:A1:S1")
    assert found.status_code == 200 and found.json()["basin"] == "4410"
    missing = await client.get("/sessions/cr:nope")
    assert missing.status_code == 404


async def test_a_partner_key_imports_only_the_sources_it_holds(client: httpx.AsyncClient) -> None:
    body = (FIXTURES / "dirty-lheo23.xml").read_bytes()
    other_source = await client.post("/imports", params={"source": "other"}, content=body)
    assert other_source.status_code == 403 and "other" in other_source.json()["detail"]
    anonymous = await client.post(
        "/imports", params={"source": "cr"}, content=body, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401

"""What a caller may send: bodies capped (413), pages bounded, errors that do not echo the input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel

from tdu_shared.contracts.offers import OfferSubmitted
from tdu_shared.envelope import MAX_EVENT_BYTES, EventTooLarge, decode_event, encode, new_envelope
from tdu_shared.http import EXCERPT_CHARS, MAX_PAGE, RateLimit, limit_requests

CAP = 64 * 1024


class Offer(BaseModel):
    title: str
    places: int


def app_with_limits(cap: int = CAP) -> FastAPI:
    router = APIRouter()

    @router.post("/offers")
    async def create(offer: Offer) -> dict[str, int]:
        return {"title_chars": len(offer.title)}

    @router.post("/imports")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"bytes": size}

    @router.post("/partners/{partner}/offers")
    async def submit(partner: str, record: dict[str, str]) -> dict[str, int]:
        submitted = OfferSubmitted(source="partner", partner=partner, record=record)
        return {"bytes": len(encode(new_envelope(submitted, producer="test", region="44", basin=None)))}

    @router.get("/offers")
    async def search(page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> dict[str, int]:
        return {"page": page}

    app = FastAPI()
    limit_requests(app, cap, uploads=["/imports"])
    app.include_router(router)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_with_limits())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_body_under_the_cap_goes_through(client: httpx.AsyncClient) -> None:
    answer = await client.post("/offers", json={"title": "x" * (CAP // 2), "places": 1})
    assert answer.status_code == 200 and answer.json() == {"title_chars": CAP // 2}


async def test_a_declared_body_over_the_cap_is_refused_with_413(client: httpx.AsyncClient) -> None:
    answer = await client.post("/offers", json={"title": "x" * (CAP * 4), "places": 1})
    assert answer.status_code == 413
    assert "trop volumineux" in answer.json()["detail"] and len(answer.content) < 200


async def test_a_chunked_body_over_the_cap_is_refused_with_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(8):
            yield b"x" * (CAP // 4)
        yield b'", "places": 1}'

    answer = await client.post("/offers", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413


async def test_an_upload_path_streams_past_the_cap(client: httpx.AsyncClient) -> None:
    answer = await client.post("/imports", content=b"<lheo/>" * CAP)
    assert answer.status_code == 200 and answer.json() == {"bytes": 7 * CAP}


async def test_a_validation_error_quotes_only_an_excerpt_of_the_input(client: httpx.AsyncClient) -> None:
    big = "neuf " * (CAP // 10)
    answer = await client.post("/offers", json={"title": "ok", "places": big})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "places"] and error["type"] == "int_parsing"
    assert error["input"] == big[:EXCERPT_CHARS] + "…"
    assert len(answer.content) < 1000


async def test_a_validation_error_on_a_whole_object_does_not_echo_it(client: httpx.AsyncClient) -> None:
    answer = await client.post("/offers", json={"places": 1, "other": "y" * 10_000})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "title"]
    assert "yyyy" not in answer.text


async def test_a_page_beyond_the_deepest_is_422_not_a_server_error(client: httpx.AsyncClient) -> None:
    assert (await client.get("/offers", params={"page": MAX_PAGE})).status_code == 200
    answer = await client.get("/offers", params={"page": 10**18})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "page"]


def submitted(text_chars: int) -> OfferSubmitted:
    return OfferSubmitted(source="partner", partner="p", record={"id": "1", "description": "é" * text_chars})


def test_an_event_within_the_broker_limit_encodes_and_decodes() -> None:
    raw = encode(new_envelope(submitted(MAX_EVENT_BYTES // 4), producer="test", region="44", basin=None))
    assert len(raw) <= MAX_EVENT_BYTES and decode_event(raw).payload.record["id"] == "1"


def test_an_event_beyond_the_broker_limit_is_refused_before_it_exists() -> None:
    with pytest.raises(EventTooLarge) as refused:
        encode(
            new_envelope(submitted(MAX_EVENT_BYTES // 2 + 1), producer="test", region="44", basin=None)
        )  # 2 bytes a character
    assert "OfferSubmitted" in refused.value.reason and str(MAX_EVENT_BYTES) in refused.value.reason


async def test_a_request_that_would_make_too_large_an_event_is_422(client: httpx.AsyncClient) -> None:
    small = await client.post("/partners/p/offers", json={"id": "1", "description": "court"})
    assert small.status_code == 200
    # under the request cap of the service it is sent to, over the event limit once in its envelope
    app = app_with_limits(cap=4 * MAX_EVENT_BYTES)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as big:
        answer = await big.post("/partners/p/offers", json={"id": "1", "description": "é" * MAX_EVENT_BYTES})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == "too_large" and len(answer.content) < 1000


async def test_a_client_over_its_rate_gets_429_with_retry_after_and_others_go_on() -> None:
    app = app_with_limits()
    app.add_middleware(RateLimit, per_minute=3, trust_forwarded=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        first = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
        answers = [(await client.get("/offers", headers=first)).status_code for _ in range(4)]
        refused = await client.get("/offers", headers=first)
        other = await client.get("/offers", headers={"X-Forwarded-For": "198.51.100.2"})
        health = await client.get("/health", headers=first)
    assert answers == [200, 200, 200, 429]
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "20"  # a request every 20 s
    assert "réessayez" in refused.json()["detail"]
    assert other.status_code == 200 and health.status_code != 429


def test_a_bucket_refills_at_the_rate() -> None:
    limit = RateLimit(app_with_limits(), per_minute=60)
    assert all(limit.take("c", 0.0) == 0 for _ in range(60))
    assert limit.take("c", 0.0) == 1.0  # empty: one more in a second
    assert limit.take("c", 1.0) == 0 and limit.take("c", 1.0) > 0

"""The seeker's search: index, filters, sorting, paging, and the HTTP answers to bad input."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from matching.adapters.kafka import CatchUp
from matching.api import search_router
from matching.domain.search import Listing, SearchIndex, SearchQuery, SessionCard

METZ = (49.1193, 6.1757)


def card(session_id: str, north_km: float, start: date, level: str = "3") -> SessionCard:
    return SessionCard(
        session_id,
        "TSSR",
        METZ[0] + north_km / 111.195,
        METZ[1],
        start_date=start,
        provider_name="AFPA",
        entry_level=level,
    )


def listing(
    offer_id: str, north_km: float, *sessions: SessionCard, fiche: str = "M1801", contract: str = "CDI"
) -> Listing:
    lat = METZ[0] + north_km / 111.195
    summary = json.dumps({"offer_id": offer_id, "title": "T", "lat": lat, "lon": METZ[1]}).encode()
    return Listing(
        offer_id, lat, METZ[1], summary, sessions, rome_code=fiche, rome_fiche=fiche, contract_type=contract
    )


@pytest.fixture
def index() -> SearchIndex:
    idx = SearchIndex()
    idx.put(listing("near", 2, card("S-late", 1, date(2027, 6, 1), "4"), card("S-soon", 5, date(2027, 1, 5))))
    idx.put(listing("mid", 10, card("S-mid", 10, date(2026, 12, 1)), contract="CDD"))
    idx.put(listing("far", 25, card("S-far", 25, date(2027, 2, 1)), fiche="K2303"))
    idx.put(listing("out", 60, card("S-out", 60, date(2027, 2, 1))))
    return idx


def ids(index: SearchIndex, **kwargs: object) -> list[str]:
    return [h.offer["offer_id"] for h in index.search(SearchQuery(*METZ, **kwargs)).hits]  # type: ignore[arg-type]


def test_search_returns_offers_within_the_radius_nearest_first(index: SearchIndex) -> None:
    assert ids(index) == ["near", "mid", "far"]
    assert ids(index, radius_km=70) == ["near", "mid", "far", "out"]


def test_each_hit_carries_its_distance_and_sessions_nearest_to_the_seeker(index: SearchIndex) -> None:
    hit = index.search(SearchQuery(*METZ)).hits[0]
    assert hit.distance_km == pytest.approx(2, abs=0.01)
    assert [(c.session_id, round(d)) for c, d in hit.sessions] == [("S-late", 1), ("S-soon", 5)]


def test_filters_on_fiche_contract_entry_level_and_start_window(index: SearchIndex) -> None:
    assert ids(index, rome_fiche="K2303") == ["far"]
    assert ids(index, contract_type="CDD") == ["mid"]
    assert ids(index, rome_fiche="Z9999") == []
    assert ids(index, entry_level="4") == ["near"]
    assert ids(index, start_from=date(2027, 1, 1), start_to=date(2027, 1, 31)) == ["near"]
    hit = index.search(SearchQuery(*METZ, start_from=date(2027, 1, 1), start_to=date(2027, 1, 31))).hits[0]
    assert [c.session_id for c, _ in hit.sessions] == ["S-soon"]


def test_sort_by_date_puts_the_soonest_session_first(index: SearchIndex) -> None:
    assert ids(index, sort="date") == ["mid", "near", "far"]


def test_paging(index: SearchIndex) -> None:
    first = index.search(SearchQuery(*METZ, limit=2))
    second = index.search(SearchQuery(*METZ, limit=2, offset=2))
    assert [h.offer["offer_id"] for h in first.hits] == ["near", "mid"] and first.has_more
    assert [h.offer["offer_id"] for h in second.hits] == ["far"] and not second.has_more


def test_offer_leaving_or_moving_is_followed(index: SearchIndex) -> None:
    index.remove("near")
    index.put(listing("mid", 40, card("S-mid", 10, date(2026, 12, 1))))
    assert ids(index) == ["far"]


def test_a_rare_fiche_filter_finds_the_nearest_of_that_fiche_among_many_others() -> None:
    idx = SearchIndex()
    for i in range(400):  # 400 common offers, 3 rare ones: a share under which the radius is scanned
        idx.put(listing(f"common-{i}", i * 0.05, card(f"S-{i}", 1, date(2027, 1, 5))))
    for name, km in (("rare-far", 20), ("rare-near", 3), ("rare-out", 45)):
        idx.put(listing(name, km, card(f"S-{name}", km, date(2027, 1, 5)), fiche="K2303"))
    assert ids(idx, rome_fiche="K2303") == ["rare-near", "rare-far"]
    assert ids(idx, rome_fiche="K2303", limit=1) == ["rare-near"]
    idx.remove("rare-near")
    idx.put(listing("rare-far", 2, card("S-rare-far", 2, date(2027, 1, 5)), fiche="M1801"))  # now common
    assert ids(idx, rome_fiche="K2303") == []
    assert ids(idx, rome_fiche="K2303", radius_km=50) == ["rare-out"]
    assert ids(idx, limit=3) == ["common-0", "common-1", "common-2"]


@pytest.fixture
def client(index: SearchIndex) -> TestClient:
    ready = CatchUp()
    ready.expect({})
    app = FastAPI()
    app.include_router(search_router(index, ready))
    return TestClient(app)


def test_http_search_from_a_commune_code_or_name(client: TestClient, index: SearchIndex) -> None:
    by_code = client.get("/search", params={"commune": "57463"})
    by_name = client.get("/search", params={"commune": "metz"})
    assert by_code.status_code == 200
    assert by_code.json()["origin"]["commune_name"] == "Metz"
    assert by_code.json()["results"] == by_name.json()["results"]
    assert next(r["offer"]["offer_id"] for r in by_code.json()["results"]) == "near"
    first = by_code.json()["results"][0]
    assert first["offer"] == {
        "offer_id": "near",
        "title": "T",
        "lat": pytest.approx(49.137, abs=1e-3),
        "lon": METZ[1],
    }
    origin = by_code.json()["origin"]
    in_process = index.search(SearchQuery(origin["lat"], origin["lon"])).hits[0]
    assert first["distance_km"] == in_process.distance_km > 0 and first["session_count"] == 2
    assert [s["session_id"] for s in first["sessions"]] == ["S-late", "S-soon"]


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"commune": "Atlantis"}, "commune", "commune inconnue"),
        ({"postal_code": "99999"}, "postal_code", "code postal inconnu"),
        ({"lat": 95, "lon": 6}, "lat", ""),
        ({"lat": 49}, "lon", "lat et lon"),
        ({"lat": 49, "lon": 6, "radius_km": 150}, "radius_km", ""),
        ({"lat": 49, "lon": 6, "radius_km": 0}, "radius_km", ""),
        ({}, "lat", "exactement un point"),
        ({"lat": 49, "lon": 6, "commune": "57463"}, "lat", "exactement un point"),
        ({"lat": 49, "lon": 6, "rome": "nope"}, "rome", "code ROME invalide"),
    ],
)
def test_bad_search_input_is_a_422_naming_the_field(
    client: TestClient, params: dict[str, object], field: str, text: str
) -> None:
    response = client.get("/search", params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert text in error["msg"]


def test_search_answers_503_until_the_index_is_loaded(index: SearchIndex) -> None:
    app = FastAPI()
    app.include_router(search_router(index, CatchUp()))
    assert TestClient(app).get("/search", params={"commune": "57463"}).status_code == 503


@pytest.mark.parametrize("sort", ["distance", "date"])
@pytest.mark.parametrize("others", [0, 1000], ids=["alone", "among-others"])
def test_pages_over_offers_at_the_same_distance_list_each_offer_once(sort: str, others: int) -> None:
    """Offers of one workplace are at one distance: paging through them must neither repeat nor skip."""
    idx = SearchIndex()
    session = card("S", 1, date(2027, 2, 1))
    for n in range(others):  # other occupations around, so that the filtered offers are a small share or not
        idx.put(listing(f"other{n}", (n % 50) / 10, session, fiche="K2303"))
    for n in range(250):
        idx.put(listing(f"same{n:03d}", 3, session))
    seen: list[str] = []
    for offset in range(0, 300, 40):
        seen += ids(idx, rome_fiche="M1801", sort=sort, offset=offset, limit=40)
    assert sorted(seen) == [f"same{n:03d}" for n in range(250)]


def test_sessions_at_the_same_distance_come_soonest_first_then_by_id_whatever_order_they_came_in() -> None:
    """Two replicas (or one rebuilt after a restart) take sessions in different orders: same answer."""
    soon, a, b = (
        card("S-soon", 3, date(2027, 1, 5)),
        card("S-a", 3, date(2027, 3, 1)),
        card("S-b", 3, date(2027, 3, 1)),
    )
    answers = []
    for order in ((b, a, soon), (a, soon, b)):
        idx = SearchIndex()
        idx.put(listing("offer", 2, *order))
        hit = idx.one("offer", METZ)
        assert hit is not None
        answers.append([c.session_id for c, _ in hit.sessions])
    assert answers == [["S-soon", "S-a", "S-b"]] * 2


@pytest.mark.parametrize("sort", ["distance", "date"])
def test_offers_at_the_same_place_page_alike_in_every_replica(sort: str) -> None:
    """Offers of one commune share its coordinates: two replicas that took them in different orders (or
    one rebuilt after a restart) must cut the same pages, or a seeker sees an offer twice, or never."""
    offers = [listing(f"O{n:02d}", 3, card(f"S{n:02d}", 3, date(2027, 1, 5))) for n in range(30)]
    pages = []
    for order in (offers, offers[::-1], offers[7:] + offers[:7]):
        idx = SearchIndex()
        for offer in order:
            idx.put(offer)
        pages.append([ids(idx, sort=sort, offset=o, limit=10) for o in (0, 10, 20)])
    assert pages[0] == pages[1] == pages[2]
    assert sorted(o for page in pages[0] for o in page) == [f"O{n:02d}" for n in range(30)]


def test_one_offer_with_its_sessions_from_the_seeker_or_from_the_workplace(
    client: TestClient, index: SearchIndex
) -> None:
    from_metz = client.get("/search/offers/mid", params={"commune": "57463"})
    assert from_metz.status_code == 200, from_metz.text
    searched = client.get("/search", params={"commune": "57463"}).json()["results"]
    assert from_metz.json() == next(r for r in searched if r["offer"]["offer_id"] == "mid")
    at_work = client.get("/search/offers/mid").json()
    assert at_work["distance_km"] == 0 and at_work["sessions"][0]["distance_km"] == pytest.approx(0, abs=0.01)
    index.remove("mid")
    gone = client.get("/search/offers/mid")
    assert gone.status_code == 404 and "mid" in gone.json()["detail"]

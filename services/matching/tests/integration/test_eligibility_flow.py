"""Offers and sessions in, eligibility events out, search answers: against the real broker and store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from matching.main import build
from matching.settings import Settings
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_shared.contracts.common import Place, Precision
from tdu_shared.contracts.offers import OfferPublished, OfferState, OfferWithdrawn
from tdu_shared.contracts.trainings import Provider, SessionPublished, SessionState, SessionWithdrawn
from tdu_shared.envelope import decode_event, new_envelope
from tdu_shared.geo import commune_table, distance_km
from tdu_shared.kafka import EventPublisher, Record
from tdu_shared.topics import MATCHING_ELIGIBILITY, OFFERS_STATE, TRAININGS_SESSIONS, Topics, basin_partition

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 22)
METZ, THIONVILLE, NANCY, STRASBOURG = (
    (49.1193, 6.1757),
    (49.3579, 6.1684),
    (48.6921, 6.1844),
    (48.5734, 7.7521),
)


def offer_state(
    offer_id: str, at: tuple[float, float], basin: str, *, rome: str = "M1854", contract_eligible: bool = True
) -> OfferState:
    return OfferState(
        offer_id=offer_id,
        source="france_travail",
        revision=1,
        title=f"Offre {offer_id}",
        rome_code=rome,
        contract_type="CDI",
        contract_eligible=contract_eligible,
        employer_name="ACME",
        employer_contact_id=f"contact-{offer_id}",
        basin=basin,
        region="44",
        place=Place(lat=at[0], lon=at[1], commune_name="X", precision=Precision.EXACT),
        updated_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def session_state(
    session_id: str,
    at: tuple[float, float],
    basin: str,
    *,
    rome: str = "M1801",
    start: date = AS_OF + timedelta(days=60),
) -> SessionState:
    return SessionState(
        session_id=session_id,
        source="test",
        revision=1,
        formation_id="F",
        action_id="A",
        title="TSSR",
        rome_codes=[rome],
        start_date=start,
        place=Place(lat=at[0], lon=at[1], precision=Precision.EXACT),
        basin=basin,
        region="44",
        provider=Provider(name="AFPA", contact_id="provider-1"),
        funders=["2"],
        region_funded=True,
    )


async def publish_offer(publisher: EventPublisher, state: OfferState) -> None:
    envelope = new_envelope(OfferPublished(offer=state), producer="offers", region="44", basin=state.basin)
    await publisher.publish(OFFERS_STATE, state.offer_id, envelope)


async def publish_session(publisher: EventPublisher, state: SessionState) -> None:
    envelope = new_envelope(
        SessionPublished(session=state), producer="trainings", region="44", basin=state.basin
    )
    await publisher.publish(TRAININGS_SESSIONS, state.session_id, envelope)


def latest(records: list[Record]) -> dict[str, dict]:  # type: ignore[type-arg]
    out = {}
    for r in records:
        payload = decode_event(r.value).payload
        out[payload.offer_id] = {
            "eligible": payload.eligible,
            "sessions": [s.session_id for s in payload.linked_sessions],
            "reasons": payload.reasons,
            "partition": r.partition,
        }
    return out


def settings_for(env: dict[str, str], **extra: object) -> Settings:
    values = {k.lower(): v for k, v in env.items()}
    return Settings(**{**values, "as_of": AS_OF, **extra})  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)


async def test_offers_and_sessions_in_eligibility_out_and_search_finds_them(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    eligibility_topic = topics.name(MATCHING_ELIGIBILITY)
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await publish_session(publisher, session_state("S-metz", METZ, "4410"))
        await publish_session(publisher, session_state("S-thionville", THIONVILLE, "4424"))
        await publish_session(publisher, session_state("S-other", METZ, "4410", rome="K2303"))
        await publish_offer(publisher, offer_state("O-metz", (49.10, 6.18), "4410"))
        await publish_offer(publisher, offer_state("O-strasbourg", STRASBOURG, "4423"))
        await publish_offer(publisher, offer_state("O-cdd", METZ, "4410", contract_eligible=False))

        app = build(settings_for(service_env))
        async with app.router.lifespan_context(app):
            records = await read_topic(kafka_bootstrap, eligibility_topic, until=3, timeout=15)
            results = latest(records)
            assert results["O-metz"]["eligible"]
            assert results["O-metz"]["sessions"] == ["S-metz", "S-thionville"]
            assert results["O-metz"]["partition"] == basin_partition("4410", 4)
            assert results["O-strasbourg"]["reasons"] == ["no_funded_session_within_30_km"]
            assert results["O-cdd"]["reasons"] == ["contract_not_eligible"]

            parts = app.state.components
            await until(lambda: "O-metz" in parts.index and parts.loaded.ready.is_set())
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
                response = await client.get("/search", params={"commune": "57463", "radius_km": 20})
                assert response.status_code == 200, response.text
                [hit] = response.json()["results"]
                assert hit["offer"]["offer_id"] == "O-metz"
                assert hit["offer"]["employer_contact_id"] == "contact-O-metz"
                metz = commune_table().by_insee("57463")
                assert metz is not None
                assert hit["distance_km"] == pytest.approx(
                    distance_km(metz.lat, metz.lon, 49.10, 6.18), abs=0.01
                )
                assert [s["session_id"] for s in hit["sessions"]] == ["S-metz", "S-thionville"]
                assert [s["distance_km"] for s in hit["sessions"]] == [
                    pytest.approx(distance_km(metz.lat, metz.lon, *place), abs=0.01)
                    for place in (METZ, THIONVILLE)
                ]
                assert hit["sessions"][0]["provider_name"] == "AFPA"

                withdrawn = SessionWithdrawn(
                    session_id="S-metz", reason="withdrawn_by_source", withdrawn_at=datetime.now(UTC)
                )
                await publisher.publish(
                    TRAININGS_SESSIONS,
                    "S-metz",
                    new_envelope(withdrawn, producer="trainings", region="44", basin="4410"),
                )
                records = await read_topic(kafka_bootstrap, eligibility_topic, until=4)
                assert latest(records)["O-metz"]["sessions"] == ["S-thionville"]

                await publish_session(publisher, session_state("S-strasbourg", STRASBOURG, "4423"))
                records = await read_topic(kafka_bootstrap, eligibility_topic, until=5, settle=1.0)
                assert latest(records)["O-strasbourg"]["sessions"] == ["S-strasbourg"]
                assert len(records) == 5  # the K2303 session and unchanged offers published nothing

                gone = OfferWithdrawn(
                    offer_id="O-strasbourg", reason="expired", withdrawn_at=datetime.now(UTC)
                )
                await publisher.publish(
                    OFFERS_STATE,
                    "O-strasbourg",
                    new_envelope(gone, producer="offers", region="44", basin="4423"),
                )
                await until(lambda: "O-strasbourg" not in parts.index)
                response = await client.get("/search", params={"lat": STRASBOURG[0], "lon": STRASBOURG[1]})
                assert response.json()["results"] == []

"""Partner offers with a street address: placed at the address through the address base (here its
stand-in, a real HTTP server answering recorded BAN responses), cached in the real store; without the
address base, at the commune centre with precision 'commune', and tried again later."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pymongo.asynchronous.database import AsyncDatabase

from offers.adapters.geocoding import BanGeocoder, MongoGeocodingStore
from offers.domain.location import address_key
from offers.geocoding import GeocodedAddresses, Geocoding, resubmitter
from offers.handlers import Submission, submit_batch
from offers.standins import ban_standin_app
from tdu_dev.testing.processes import free_port
from tdu_shared.clock import FixedClock
from tdu_shared.geo import distance_km
from tdu_shared.mongo import Document

from ..unit.fakes import fake_deps

pytestmark = pytest.mark.integration

RECORDINGS = Path(__file__).parents[1] / "fixtures" / "ban_responses.json"


@pytest.fixture(scope="module")
def ban() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(ban_standin_app(RECORDINGS), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def partner(offer_id: str, address: str, postal_code: str, commune: str) -> Submission:
    record: dict[str, Any] = {
        "id": offer_id,
        "title": "Agent de propreté",
        "rome_code": "K2303",
        "contract_type": "CDI",
        "address": address,
        "postal_code": postal_code,
        "commune_insee": commune,
        "updated_at": "2026-11-20T08:00:00+00:00",
    }
    return Submission("partner", record, "acme")


async def test_a_street_address_is_geocoded_through_the_address_base_and_the_offer_moves_there(
    ban: str, mongo_db: AsyncDatabase[Document]
) -> None:
    deps, store, publisher = fake_deps()
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    addresses = GeocodedAddresses(MongoGeocodingStore(mongo_db), clock)
    deps.addresses = addresses
    geocoding = Geocoding(addresses, BanGeocoder(ban), resubmitter(deps))

    await submit_batch([partner("P-1", "1 place d'Armes", "57000", "57463")], deps)
    first = store.offers["acme:P-1"]["state"]["place"]
    assert first["precision"] == "commune" and first["geocoded"] is None  # ingestion did not wait

    assert await geocoding.run_once() == {"geocoded": 1, "not_found": 0, "postponed": 0}
    [updated] = [o for o in publisher.sent if o.envelope.type == "OfferUpdated"]
    place = updated.envelope.payload.offer.place
    assert (place.precision, place.geocoded) == ("exact", "address")
    assert distance_km(place.lat, place.lon, 49.119568, 6.176254) < 0.01
    assert updated.envelope.basin == "4410"

    # Cached under the normalised address: another offer there is placed at once, with no call.
    async with httpx.AsyncClient() as client:
        calls = (await client.get(f"{ban}/calls")).json()
    cached = await MongoGeocodingStore(mongo_db).results()
    assert address_key("1 place d'Armes", "57000", "57463") in cached
    await submit_batch([partner("P-2", "1 Place d'ARMES", "57000", "57463")], deps)
    again = store.offers["acme:P-2"]["state"]["place"]
    assert (again["precision"], again["geocoded"]) == ("exact", "address")
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{ban}/calls")).json() == calls


async def test_a_street_found_only_as_a_street_says_so(ban: str, mongo_db: AsyncDatabase[Document]) -> None:
    deps, store, _ = fake_deps()
    addresses = GeocodedAddresses(
        MongoGeocodingStore(mongo_db), FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    )
    deps.addresses = addresses
    await submit_batch([partner("P-3", "boulevard d'Austrasie", "54000", "54395")], deps)
    await Geocoding(addresses, BanGeocoder(ban), resubmitter(deps)).run_once()
    place = store.offers["acme:P-3"]["state"]["place"]
    assert (place["precision"], place["geocoded"]) == ("exact", "street")
    assert store.offers["acme:P-3"]["state"]["basin"] == "4412"


async def test_without_the_address_base_the_offer_stays_at_its_commune_centre_and_is_retried(
    mongo_db: AsyncDatabase[Document],
) -> None:
    deps, store, publisher = fake_deps()
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    geo_store = MongoGeocodingStore(mongo_db)
    addresses = GeocodedAddresses(geo_store, clock)
    deps.addresses = addresses
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    geocoding = Geocoding(addresses, BanGeocoder(nobody, timeout_s=2), resubmitter(deps))

    await submit_batch([partner("P-4", "1 place Stanislas", "54000", "54395")], deps)
    assert await geocoding.run_once() == {"geocoded": 0, "not_found": 0, "postponed": 1}
    place = store.offers["acme:P-4"]["state"]["place"]
    assert (place["precision"], place["geocoded"]) == ("commune", None)
    nancy = deps.geo.commune("54395")
    assert nancy is not None and (place["lat"], place["lon"]) == (nancy.lat, nancy.lon)
    assert [o.envelope.type for o in publisher.sent if o.envelope.type.startswith("Offer")] == [
        "OfferPublished"
    ]

    assert await geo_store.due(clock.moment, 10) == []  # postponed, not dropped
    clock.moment += timedelta(minutes=2)
    [waiting] = await geo_store.due(clock.moment, 10)
    assert waiting.attempts == 1 and waiting.submissions[0]["record"]["id"] == "P-4"

"""Where a geocoded street address puts an offer, and which offers wait for the geocoder."""

from __future__ import annotations

from datetime import UTC, datetime

from offers.adapters.geocoding import MemoryGeocodingStore, point_of_feature
from offers.adapters.reference import default_geography
from offers.domain.location import AddressPoint, address_key, locate
from offers.geocoding import GeocodedAddresses
from offers.handlers import Submission, submit_batch
from tdu_shared.clock import FixedClock

from .fakes import fake_deps


def test_an_address_point_places_the_offer_unless_it_has_coordinates() -> None:
    point = AddressPoint(49.119568, 6.176254, "address", "57463")
    located, _ = locate(None, None, "57463", "57000", None, default_geography(), point)
    assert (located.precision, located.geocoded, located.lat) == ("exact", "address", 49.119568)
    assert located.basin == "4410"
    given, _ = locate(49.1, 6.2, "57463", "57000", None, default_geography(), point)
    assert (given.lat, given.geocoded) == (49.1, None)


def test_an_address_found_only_as_its_commune_keeps_precision_commune() -> None:
    point = AddressPoint(48.69, 6.18, "commune", "54395")
    located, _ = locate(None, None, None, "54000", None, default_geography(), point)
    assert (located.precision, located.geocoded, located.commune_insee) == ("commune", "commune", "54395")


def test_ban_feature_types_map_to_precisions() -> None:
    feature = {
        "geometry": {"coordinates": [6.17, 49.11]},
        "properties": {"type": "street", "citycode": "57463"},
    }
    assert point_of_feature(feature) == AddressPoint(49.11, 6.17, "street", "57463", None)
    assert (
        point_of_feature({"geometry": {"coordinates": [6.17, 49.11]}, "properties": {"type": "poi"}}) is None
    )


def test_address_keys_ignore_case_accents_and_punctuation() -> None:
    assert address_key("1, Place d'Armes", "57000", "57463") == address_key(
        "1 PLACE D ARMES", "57000", "57463"
    )


async def test_only_offers_with_a_street_address_and_no_coordinates_wait_for_the_geocoder() -> None:
    deps, store, _ = fake_deps()
    waiting = MemoryGeocodingStore()
    deps.addresses = GeocodedAddresses(waiting, FixedClock(datetime(2026, 12, 1, tzinfo=UTC)))
    base = {
        "title": "Agent de propreté",
        "contract_type": "CDI",
        "postal_code": "57000",
        "commune_insee": "57463",
    }
    await submit_batch(
        [
            Submission("partner", {**base, "id": "A", "address": "1 place d'Armes"}, "acme"),
            Submission(
                "partner", {**base, "id": "B", "address": "1 place d'Armes", "lat": 49.1, "lon": 6.2}, "acme"
            ),
            Submission("partner", {**base, "id": "C"}, "acme"),
        ],
        deps,
    )
    [(key, entry)] = waiting.pending.items()
    assert key == address_key("1 place d'Armes", "57000", "57463")
    assert entry["query"] == "1 place d'Armes 57000 Metz"
    assert [s["record"]["id"] for s in entry["submissions"]] == ["A"]
    assert store.offers["acme:A"]["state"]["place"]["precision"] == "commune"

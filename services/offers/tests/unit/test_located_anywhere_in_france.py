"""Offers carrying only a commune or a postal code are located wherever they are in France.

The places are the ``lieuTravail`` of 482 real France Travail offers (K23xx, 80 départements, overseas
included) that also carry coordinates: the coordinates are dropped, the offer is located from its commune
(or from its postal code alone) and must land near where France Travail put it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from offers.adapters.reference import default_geography
from offers.domain.location import locate
from tdu_shared.geo import distance_km

PLACES = Path(__file__).parent.parent / "fixtures" / "france_travail_places_k23xx.json"


def places() -> list[dict[str, Any]]:
    return [p["lieuTravail"] for p in json.loads(PLACES.read_text(encoding="utf-8"))]


def gap_km(lat: float | None, lon: float | None, place: dict[str, Any]) -> float:
    """Distance to where France Travail put the offer; a few of its records swap latitude and longitude."""
    assert lat is not None and lon is not None
    return min(
        distance_km(lat, lon, place["latitude"], place["longitude"]),
        distance_km(lat, lon, place["longitude"], place["latitude"]),
    )


def test_the_sample_covers_metropolitan_and_overseas_departements() -> None:
    departements = {(p.get("commune") or p["codePostal"])[:2] for p in places()}
    assert len(departements) >= 60
    assert "97" in departements


def test_an_offer_with_only_its_commune_is_located_at_the_commune_centre() -> None:
    far = []
    for place in places():
        if not place.get("commune"):
            continue
        location, notes = locate(None, None, place["commune"], None, place["libelle"], default_geography())
        assert location.precision == "commune", place
        assert "unlocated" not in notes
        gap = gap_km(location.lat, location.lon, place)
        if gap > 15:
            far.append((place["commune"], round(gap)))
    assert not far, far


def test_an_offer_with_only_its_postal_code_is_located_in_that_postal_area() -> None:
    far = []
    for place in places():
        if not place.get("codePostal"):
            continue
        location, _ = locate(None, None, None, place["codePostal"], place["libelle"], default_geography())
        assert location.precision == "postal_code", place
        assert location.departement == place["libelle"].split(" - ")[0].strip(), place
        gap = gap_km(location.lat, location.lon, place)
        if gap > 40:
            far.append((place["codePostal"], round(gap)))
    assert not far, far


@pytest.mark.parametrize(
    ("insee", "postal_code", "region"),
    [("13055", "13001", "93"), ("59350", "59000", "32"), ("97411", "97400", "04"), ("2A004", "20000", "94")],
)
def test_region_comes_with_the_location_outside_grand_est(insee: str, postal_code: str, region: str) -> None:
    location, notes = locate(None, None, insee, postal_code, None, default_geography())
    assert location.region == region
    assert location.basin is None
    assert notes == ["outside_region"]

"""A source's offer -> a clean, located offer with its contract and ROME rules applied."""

from __future__ import annotations

from typing import Protocol

from offers.domain.contracts import classify_contract
from offers.domain.location import AddressPoint, Geography, address_key, locate
from offers.domain.model import Offer, SourceOffer
from offers.domain.rome import RomeLookup, resolve_rome


class AddressLookup(Protocol):
    """Street addresses already geocoded (a cache: never a call to the geocoder)."""

    def point(self, key: str) -> AddressPoint | None: ...


def needs_geocoding(source: SourceOffer) -> str | None:
    """The cache key of the source's street address when only geocoding can place it more precisely."""
    if not source.address or (source.lat is not None and source.lon is not None):
        return None
    return address_key(source.address, source.postal_code, source.commune_insee)


def normalise(
    source: SourceOffer,
    geo: Geography,
    referential: RomeLookup,
    rome_label: str | None = None,
    addresses: AddressLookup | None = None,
) -> Offer:
    contract = classify_contract(source.contract_type, source.contract_label, source.contract_nature)
    rome, rome_notes = resolve_rome(source.rome_code, rome_label, referential)
    key = needs_geocoding(source) if addresses is not None else None
    point = addresses.point(key) if addresses is not None and key is not None else None
    location, place_notes = locate(
        source.lat, source.lon, source.commune_insee, source.postal_code, source.place_label, geo, point
    )
    notes = ([contract.reason] if contract.reason else []) + rome_notes + place_notes
    return Offer(source=source, contract=contract, rome=rome, location=location, notes=tuple(notes))

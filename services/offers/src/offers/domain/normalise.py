"""A source's offer -> a clean, located offer with its contract and ROME rules applied."""

from __future__ import annotations

from offers.domain.contracts import classify_contract
from offers.domain.location import Geography, locate
from offers.domain.model import Offer, SourceOffer
from offers.domain.rome import RomeLookup, resolve_rome


def normalise(
    source: SourceOffer, geo: Geography, referential: RomeLookup, rome_label: str | None = None
) -> Offer:
    contract = classify_contract(source.contract_type, source.contract_label, source.contract_nature)
    rome, rome_notes = resolve_rome(source.rome_code, rome_label, referential)
    location, place_notes = locate(
        source.lat, source.lon, source.commune_insee, source.postal_code, source.place_label, geo
    )
    notes = ([contract.reason] if contract.reason else []) + rome_notes + place_notes
    return Offer(source=source, contract=contract, rome=rome, location=location, notes=tuple(notes))

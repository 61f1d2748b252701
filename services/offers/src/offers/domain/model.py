"""The domain's own view of an offer, independent of any source format or event contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

GeocodedAs = Literal["address", "street", "commune"]
"""Where the national address base found a street address: house number, street, or commune only."""


class InvalidRecord(Exception):
    """A source record that can never become an offer (no id, wrong types, impossible values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SourceOffer:
    """What a source says about an offer, in neutral terms (France Travail, partner or employer form)."""

    offer_id: str
    source: str
    title: str
    updated_at: datetime
    description: str | None = None
    created_at: datetime | None = None
    rome_code: str | None = None
    contract_type: str | None = None
    contract_label: str | None = None
    contract_nature: str | None = None
    place_label: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    commune_insee: str | None = None
    postal_code: str | None = None
    employer_name: str | None = None
    contact_email: str | None = None
    contact_name: str | None = None
    positions: int | None = None
    url: str | None = None
    partner: str | None = None


@dataclass(frozen=True)
class Location:
    precision: str  # exact | commune | postal_code | unlocated
    lat: float | None = None
    lon: float | None = None
    commune_insee: str | None = None
    commune_name: str | None = None
    postal_code: str | None = None
    departement: str | None = None
    region: str | None = None
    basin: str | None = None
    geocoded: GeocodedAs | None = None  # coordinates from geocoding the street address

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True)
class Contract:
    eligible: bool
    reason: str | None
    months: int | None


@dataclass(frozen=True)
class Rome:
    code: str | None
    fiche: str | None
    label: str | None


@dataclass(frozen=True)
class Offer:
    """A clean, located offer, plus the private employer contact (never published with the offer)."""

    source: SourceOffer
    contract: Contract
    rome: Rome
    location: Location
    notes: tuple[str, ...] = field(default=())

    @property
    def offer_id(self) -> str:
        return self.source.offer_id

"""What matching knows of offers and sessions: plain values, no contracts, no framework."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer as matching needs it: where, which fiche, whether its contract qualifies."""

    offer_id: str
    revision: int
    title: str
    rome_fiche: str | None
    lat: float | None
    lon: float | None
    basin: str | None
    contract_eligible: bool = True
    ineligibility_reason: str | None = None
    rome_code: str | None = None
    contract_type: str | None = None
    contract_months: int | None = None
    employer_name: str | None = None
    employer_contact_id: str | None = None
    commune_insee: str | None = None
    commune_name: str | None = None
    region: str | None = None
    url: str | None = None
    updated_at: datetime | None = None

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class Session:
    """A training session as matching needs it."""

    session_id: str
    revision: int
    title: str
    rome_fiches: tuple[str, ...]
    lat: float | None
    lon: float | None
    start_date: date | None
    region_funded: bool
    end_date: date | None = None
    provider_name: str | None = None
    provider_contact_id: str | None = None
    commune_name: str | None = None
    entry_level: str | None = None
    funded_places: int | None = None
    basin: str | None = None

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class Link:
    """A funded session within reach of an offer's workplace."""

    session: Session
    distance_km: float


@dataclass(frozen=True, slots=True)
class Eligibility:
    """The verdict on one offer: eligible with its links (nearest first), or not with the reasons."""

    offer: Offer
    eligible: bool
    reasons: tuple[str, ...]
    links: tuple[Link, ...]
    radius_km: float


@dataclass(frozen=True, slots=True)
class Window:
    """Sessions must start between ``first`` and ``last`` (inclusive)."""

    first: date
    last: date

    def contains(self, day: date | None) -> bool:
        return day is not None and self.first <= day <= self.last

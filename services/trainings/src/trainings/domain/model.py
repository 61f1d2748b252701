"""What the catalogue says (raw text) and what the service keeps (a normalised session)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

REGION_FUNDER = "2"
"""LHEO dict-financeurs: 2 = Conseil régional."""


@dataclass(frozen=True)
class RawAddress:
    lines: tuple[str, ...] = ()
    postal_code: str | None = None
    city: str | None = None
    insee: str | None = None
    departement: str | None = None
    region: str | None = None
    lat: str | None = None
    lon: str | None = None


@dataclass(frozen=True)
class RawFunder:
    code: str | None
    places: str | None = None


@dataclass(frozen=True)
class RawSession:
    """One session as the catalogue writes it: text, not yet trusted."""

    formation_id: str | None
    action_id: str | None
    session_number: str | None
    title: str | None
    objective: str | None = None
    rome_codes: tuple[str, ...] = ()
    formacodes: tuple[str, ...] = ()
    nsf_codes: tuple[str, ...] = ()
    rncp: str | None = None
    certifinfo: str | None = None
    entry_level: str | None = None
    exit_level: str | None = None
    start: str | None = None
    end: str | None = None
    recruitment_state: str | None = None
    place: RawAddress = field(default_factory=RawAddress)
    provider_siret: str | None = None
    provider_name: str | None = None
    provider_email: str | None = None
    funders: tuple[RawFunder, ...] = ()
    funded_places: str | None = None
    """Places funded, when the source states a total rather than places per funder."""
    hours_total: str | None = None
    hours_centre: str | None = None
    hours_company: str | None = None
    duration_text: str | None = None


class Precision(StrEnum):
    EXACT = "exact"
    COMMUNE = "commune"
    POSTAL_CODE = "postal_code"
    UNLOCATED = "unlocated"


@dataclass(frozen=True)
class Location:
    label: str | None
    address: str | None
    postal_code: str | None
    commune_insee: str | None
    commune_name: str | None
    departement: str | None
    lat: float | None
    lon: float | None
    precision: Precision


@dataclass(frozen=True)
class Provider:
    siret: str | None
    name: str | None
    email: str | None
    contact_id: str | None


@dataclass(frozen=True)
class Session:
    """One session, normalised: the unit the catalogue stores and publishes."""

    session_id: str
    source: str
    formation_id: str
    action_id: str
    title: str
    objective: str | None
    rome_codes: tuple[str, ...]
    rome_fiches: tuple[str, ...]
    formacodes: tuple[str, ...]
    nsf_codes: tuple[str, ...]
    rncp: str | None
    certifinfo: str | None
    entry_level: str | None
    exit_level: str | None
    start_date: date | None
    end_date: date | None
    recruitment_state: str | None
    place: Location
    region: str | None
    basin: str | None
    provider: Provider
    funders: tuple[str, ...]
    region_funded: bool
    funded_places: int | None
    hours: int | None


@dataclass(frozen=True)
class Rejection:
    """A session the service cannot use as it is, and why (a short reason code)."""

    reason: str
    formation_id: str | None = None
    action_id: str | None = None
    session_number: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class FormationRecord:
    """One LHEO formation as read: how many actions it has and its sessions, as text."""

    line: int
    actions: int
    sessions: tuple[RawSession, ...]


@dataclass(frozen=True)
class Violation:
    """A place where the file departs from the LHEO 2.3 schema (reported, not refused)."""

    line: int
    message: str


class CatalogueBroken(Exception):
    """The catalogue file cannot be read to its end: nothing may be withdrawn on its account."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"{message} (line {line})" if line else message)
        self.message = message
        self.line = line


@dataclass
class ViolationLog:
    """Schema violations of a file: all counted, the first ``keep`` kept (memory stays flat)."""

    keep: int = 100
    count: int = 0
    first: list[Violation] = field(default_factory=list)

    def add(self, violations: list[Violation]) -> None:
        self.count += len(violations)
        self.first.extend(violations[: max(0, self.keep - len(self.first))])

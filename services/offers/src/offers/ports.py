"""The interfaces the use cases need: the offer store, the submissions publisher, street addresses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from offers.domain.location import AddressPoint
from offers.domain.model import Offer
from offers.domain.refresh import Refresh
from tdu_shared.kafka import Outgoing

Doc = dict[str, Any]
"""A stored offer or contact as a plain document (see adapters/mongo.py for its fields)."""


@dataclass
class Effects:
    """What one batch changes in the store besides its new offers, written before its events are published."""

    changed_offers: list[Doc] = field(default_factory=list)  # whole documents replacing stored ones
    new_contacts: list[Doc] = field(default_factory=list)
    changed_contacts: list[Doc] = field(default_factory=list)
    refresh_touches: dict[str, str] = field(default_factory=dict)  # offer id -> refresh id that carried it
    refresh_markers: list[tuple[str, str]] = field(default_factory=list)  # (refresh id, record marker)

    def empty(self) -> bool:
        return not (
            self.changed_offers
            or self.new_contacts
            or self.changed_contacts
            or self.refresh_touches
            or self.refresh_markers
        )


@dataclass(frozen=True)
class OfferQuery:
    basin: str | None = None
    rome: str | None = None
    status: str | None = None
    page: int = 1
    size: int = 50


class OfferStore(Protocol):
    async def load_offers(self, ids: Sequence[str]) -> dict[str, Doc]:
        """The stored offers of these ids, read by id."""
        ...

    async def load_known_offers(self, ids: Sequence[str]) -> dict[str, Doc]:
        """The stored offers among the ids this store knows to exist without asking for each; the others
        are presumed new (inserting them reports those the store held after all)."""
        ...

    async def load_contacts(self, person_ids: Sequence[str]) -> dict[str, Doc]:
        """The stored employer contacts of these person ids, read by id."""
        ...

    async def load_known_contacts(self, person_ids: Sequence[str]) -> dict[str, Doc]:
        """The stored contacts among those this store knows without asking; the others are presumed new."""
        ...

    async def blacklisted(self, offer_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        """The given offer ids and employer person ids that are on the blacklist."""
        ...

    async def insert_new_offers(self, docs: list[Doc]) -> set[str]:
        """Insert offers presumed new; returns the ids the store already held (left untouched)."""
        ...

    async def insert_new_contacts(self, docs: list[Doc]) -> set[str]:
        """Insert employer contacts presumed new; returns the ids the store already held (left untouched)."""
        ...

    async def save(self, effects: Effects) -> None: ...

    async def save_refresh(self, refresh: Refresh) -> None: ...

    async def open_refresh(self, refresh_id: str) -> Refresh | None:
        """The refresh if its end marker arrived and it is not closed yet."""
        ...

    async def refresh_seen(self, refresh_id: str) -> int: ...

    async def missing_from_refresh(self, refresh: Refresh) -> list[Doc]: ...

    async def close_refresh(self, refresh_id: str) -> None: ...

    async def add_to_blacklist(
        self, offer_id: str | None, person_id: str | None, added_at: datetime
    ) -> None: ...

    async def published_offers_of(self, offer_id: str | None, person_id: str | None) -> list[Doc]: ...

    async def find_offers(self, query: OfferQuery) -> tuple[list[Doc], int]: ...

    async def get_offer(self, offer_id: str) -> Doc | None: ...

    async def employer_ids(self, keys: Sequence[str]) -> dict[str, str]:
        """The opaque id of the employer behind each address key, made (random) for an address not seen."""

    async def erase_contact(self, person_id: str) -> bool:
        """Delete an employer contact (an erasure); True if there was one."""

    def forget_contact(self, person_id: str) -> None:
        """Drop what this process remembers of the contact (every instance, on an erasure)."""


class Publisher(Protocol):
    async def publish_many(self, items: Sequence[Outgoing]) -> None: ...


# ---------------------------------------------------------------- street addresses


class AddressBook(Protocol):
    """Geocoded street addresses as ingestion sees them: a cache read, and a queue for the others."""

    def point(self, key: str) -> AddressPoint | None:
        """The geocoded point of an address key, if known (never calls the geocoder)."""
        ...

    async def queue(self, prepared: Sequence[tuple[Any, Offer]]) -> None:
        """Remember the submissions whose street address is not geocoded yet, to submit them again later."""
        ...


class GeocoderUnavailable(Exception):
    """The geocoder could not answer (network, timeout, 5xx): try again later."""


class AddressGeocoder(Protocol):
    async def geocode(self, query: str) -> AddressPoint | None:
        """The best match of the national address base, None when it finds nothing.

        Raises GeocoderUnavailable when it cannot answer."""
        ...


@dataclass(frozen=True)
class PendingAddress:
    key: str
    query: str
    submissions: list[dict[str, Any]]
    attempts: int = 0


class GeocodingStore(Protocol):
    """Geocoding results keyed by normalised address (``_id``), and addresses waiting for the geocoder."""

    async def results(self) -> dict[str, AddressPoint | None]:
        """Every cached result (None: the address base found nothing for it)."""
        ...

    async def save_result(self, key: str, point: AddressPoint | None, at: datetime) -> None: ...

    async def add_pending(self, key: str, query: str, submission: dict[str, Any], at: datetime) -> None: ...

    async def due(self, now: datetime, limit: int) -> list[PendingAddress]:
        """Pending addresses whose next attempt is due."""
        ...

    async def retry_later(self, key: str, attempts: int, retry_at: datetime) -> None: ...

    async def drop_pending(self, key: str) -> None: ...

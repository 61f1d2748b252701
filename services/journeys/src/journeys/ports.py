"""What the use cases need from the outside world, as typing.Protocol interfaces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from journeys.domain.model import Journey, SessionOption
from journeys.domain.timers import Timer
from tdu_shared.contracts.journeys import ReminderKind, Role
from tdu_shared.outbox import ItemPublisher, OutboxItem


class Conflict(Exception):
    """The journey kept changing under us, or is being published; the caller may retry (409)."""


@dataclass(frozen=True)
class OfferView:
    """What journeys keeps of ``matching.eligibility``: enough to accept an application."""

    offer_id: str
    eligible: bool
    evaluated_at: datetime
    title: str | None = None
    basin: str | None = None
    employer_id: str | None = None
    sessions: tuple[SessionOption, ...] = ()
    reasons: tuple[str, ...] = ()
    rome_code: str | None = None
    """The offer's ROME code (its fiche when the offer has no code: same grand domaine, its first letter);
    kept from an earlier evaluation when a later one has no offer (withdrawn): the open-data export
    counts a journey's steps under it long after."""
    contract_type: str | None = None
    """The contract the offer advertises (CDI, CDD ...), kept likewise."""


class Offers(Protocol):
    async def get(self, offer_id: str) -> OfferView | None: ...

    async def save(self, offer: OfferView) -> bool:
        """Store ``offer`` unless a newer evaluation is stored; True when stored."""
        ...

    async def save_all(self, offers: Sequence[OfferView]) -> set[str]:
        """Store each offer unless a newer evaluation of it is stored (of several evaluations of one
        offer, the newest); the ids of the offers stored."""
        ...


@dataclass
class Contact:
    """Personal data of one person: lives only here and on the ``contacts`` topic."""

    person_id: str
    role: Role
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    postal_code: str | None = None
    education_level: str | None = None
    jobseeker_status: str | None = None
    consent_email: bool = False
    consent_sms: bool = False
    basin: str | None = None
    """Basin of the first application: the person's partition on ``contacts`` stays the same."""
    messages: dict[str, str] = field(default_factory=dict)
    """The seeker's note to the employer, by journey id (shown to that journey's employer only)."""

    @property
    def display_name(self) -> str | None:
        names = [n for n in (self.first_name, self.last_name) if n]
        return " ".join(names) or None


class Contacts(Protocol):
    async def get(self, person_id: str) -> Contact | None: ...

    async def save(self, contact: Contact) -> None: ...

    async def delete(self, person_id: str) -> bool: ...


@dataclass(frozen=True)
class Pending:
    """A journey with events (and timers) the relay has not handled yet."""

    journey_id: str
    revision: int
    outbox: list[OutboxItem]
    timers: list[Timer]

    @property
    def items(self) -> list[OutboxItem]:
        """The events to publish, in order (what the shared relay reads)."""
        return self.outbox


@dataclass(frozen=True)
class Page:
    items: list[Journey]
    total: int
    next_cursor: str | None = None
    """Where the next page starts (stable while journeys are added), None on the last page."""


@dataclass(frozen=True)
class JourneyQuery:
    basin: str | None = None
    employer_id: str | None = None
    seeker_id: str | None = None
    provider_id: str | None = None
    state: str | None = None


@dataclass
class Write:
    """One journey document update: new state, and what it adds to the outbox, timers and processed keys."""

    journey: Journey
    outbox: list[OutboxItem] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    command_key: str | None = None
    reminder_id: str | None = None


class JourneyStore(Protocol):
    async def get(self, journey_id: str) -> Journey | None: ...

    async def seen(self, journey_id: str, key: str) -> bool:
        """Whether a command key (or a fired timer id) was already applied to this journey."""
        ...

    async def create(self, write: Write) -> bool:
        """Insert a new journey; False when it already exists."""
        ...

    async def update(self, write: Write, expected_revision: int) -> bool:
        """Replace the journey's state if its revision is still ``expected_revision``; bumps it."""
        ...

    async def get_many(self, journey_ids: Sequence[str]) -> dict[str, Journey]:
        """The journeys of these ids that exist, by id (one lookup by ``_id`` each)."""
        ...

    async def all(self, basin: str | None = None) -> list[Journey]:
        """Every journey (a whole-collection read: for rebuilds and checks, never on a request)."""
        ...

    async def pending(self, limit: int, now: datetime, lease_s: float) -> list[Pending]:
        """Claim up to ``limit`` journeys with unpublished events for ``lease_s`` seconds (one relay each)."""
        ...

    async def relayed(self, done: Sequence[Pending]) -> list[Journey]:
        """Remove from each claimed journey the events it published and the timers it armed (those of its
        ``Pending``); returns the journeys as read then."""
        ...

    async def forget_person(self, person_id: str) -> int:
        """Drop pending contact events of ``person_id``; mark their journeys anonymised. Returns how many."""
        ...

    async def relist_pending(self) -> int:
        """List again every journey with unpublished events for the relay (a whole-collection read, for
        rebuilds and upgrades only). Returns how many."""
        ...


@dataclass(frozen=True)
class StoredTimer:
    timer_id: str
    journey_id: str
    kind: ReminderKind
    due_at: datetime
    marker: str


class TimerStore(Protocol):
    async def arm(self, timers: Sequence[Timer]) -> None:
        """Store timers that are not stored yet (same id: no change)."""
        ...

    async def claim_due(self, now: datetime, lease_s: float) -> StoredTimer | None:
        """Atomically take one due timer for ``lease_s`` seconds; None when nothing is due."""
        ...

    async def finish(self, timer_id: str, status: str, now: datetime) -> None: ...

    async def relist_pending(self) -> int:
        """List again every pending timer by due time (a whole-collection read, for rebuilds and upgrades
        only). Returns how many."""
        ...


class Documents(Protocol):
    """A collection of read-model documents, read and changed by ``_id`` only.

    Paths are dotted (``"d.2027-01-04.n"``); a change creates the document when it is missing.
    """

    async def get(self, doc_id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None: ...

    async def get_many(
        self, doc_ids: Sequence[str], fields: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]: ...

    async def change(
        self,
        doc_id: str,
        *,
        set: Mapping[str, Any] | None = None,
        unset: Sequence[str] = (),
        inc: Mapping[str, int] | None = None,
        after: bool = False,
    ) -> dict[str, Any] | None:
        """Apply ``$set``/``$unset``/``$inc`` to one document; with ``after``, return it as changed."""
        ...

    async def change_many(self, changes: Sequence[tuple[str, Mapping[str, Any], Sequence[str]]]) -> None:
        """(document id, ``$set``, ``$unset`` paths) each, in as few commands as the store takes."""
        ...

    async def swap(self, doc_id: str, seen: Mapping[str, Any] | None, set: Mapping[str, Any]) -> bool:
        """Apply ``$set`` only if the document is still as ``seen`` (its ``v`` unchanged; ``seen`` None:
        it did not exist), counting ``v`` up; False when another writer changed it first (read it again)."""
        ...

    async def set_if_newer(self, doc_id: str, revision: int, set: Mapping[str, Any]) -> None:
        """Apply ``$set`` (creating the document) unless it holds this revision or a newer one (``r``)."""
        ...

    async def replace_all(self, docs: Sequence[dict[str, Any]]) -> None:
        """Drop every document, then store these (a rebuild)."""
        ...


@dataclass(frozen=True)
class AuditEntry:
    """An operator saw or changed a person's personal data."""

    entry_id: str
    at: datetime
    operator: str
    action: str
    """read, change or erase."""
    person_id: str
    basins: tuple[str, ...]
    """The basins of the person's journeys then: the operators of these basins may read the entry."""


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...

    async def entries(self, basin: str | None, person_id: str | None, limit: int) -> list[AuditEntry]:
        """Newest first; ``basin`` None: every entry of the region."""


Publisher = ItemPublisher
"""Where the relay sends events (``tdu_shared.outbox.KafkaItems`` in the service)."""

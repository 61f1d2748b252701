"""Interfaces the handlers need: stores, message senders, the outcome publisher, templates and the clock."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from notifications.domain.model import Channel, Contact, Delivery, Status

PublishedStatus = Literal["sent", "failed", "skipped", "deferred"]


class PermanentFailure(Exception):
    """The provider refused the message for good (invalid address, 4xx): recorded as failed, never retried."""


class TransientFailure(Exception):
    """The provider could not take the message now (unreachable, 5xx, 429): retried with backoff."""


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery, to store and (when ``published`` is set) to publish."""

    delivery: Delivery
    status: Status
    published: PublishedStatus | None
    reason: str | None = None
    attempts: int = 0
    due_at: datetime | None = None
    provider_message_id: str | None = None
    parts_sent: int = 0
    sent_day: str | None = None
    report_id: str | None = None

    @property
    def report_key(self) -> str:
        """Key of this outcome's report: the delivery key, or one per deferral reason."""
        if self.report_id:
            return self.report_id
        if self.published == "deferred":
            digest = hashlib.sha256((self.reason or "").encode()).hexdigest()[:8]
            return f"{self.delivery.key}:deferred:{digest}"
        return self.delivery.key


class DeliveryStore(Protocol):
    async def add(self, deliveries: Sequence[Delivery]) -> list[str]:
        """Store new deliveries as pending; those already known (same key) are left alone. New keys back."""

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Take up to ``limit`` due pending deliveries, and those whose lease ran out, as 'sending'."""

    async def claim_these(self, deliveries: Sequence[Delivery], lease_until: datetime) -> list[Delivery]:
        """Take these just-stored deliveries as 'sending' (those nobody else took). Saves a search."""

    async def record_sent(self, outcome: Outcome) -> None:
        """Note at once that the provider accepted this delivery (the batch's record() follows)."""

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Store what became of claimed deliveries; those with ``published`` set stay 'unreported' until
        :meth:`mark_reported`, so an outcome is published even if the process dies in between."""

    async def unreported(self, limit: int) -> list[Outcome]: ...

    async def mark_reported(self, keys: Sequence[str]) -> None: ...

    async def sent_on(self, recipient_ids: Sequence[str], day: str) -> dict[str, int]:
        """Messages sent (or being sent) to each recipient on ``day``."""

    async def wake(self, recipient_id: str, now: datetime) -> int:
        """Make the deliveries waiting for this recipient's contact due now. How many."""

    async def wake_many(self, recipient_ids: Sequence[str], now: datetime) -> int:
        """:meth:`wake` for several recipients at once (a batch of contacts). How many."""

    async def erase_recipient(self, recipient_id: str) -> int: ...

    async def list(
        self, *, recipient_id: str | None, journey_id: str | None, limit: int
    ) -> list[dict[str, Any]]: ...


class ContactStore(Protocol):
    async def get_many(self, person_ids: Sequence[str]) -> dict[str, Contact]: ...

    async def by_email(self, address: str) -> list[Contact]:
        """Contacts with this e-mail address (case does not matter)."""

    async def upsert(self, contact: Contact, as_of: datetime) -> None:
        """Store the contact's details and consent; opt-outs already recorded stay."""

    async def upsert_many(self, contacts: Sequence[tuple[Contact, datetime]]) -> None:
        """:meth:`upsert` for several contacts at once (each with its version time); the newest wins."""

    async def erase(self, person_id: str, erased_at: datetime) -> None:
        """Forget the person; a later update dated before ``erased_at`` is left out."""

    async def opt_out(self, person_id: str, channel: Channel) -> None: ...

    async def opt_out_phone(self, phone: str) -> list[str]:
        """Opt every contact with this phone number out of SMS; their ids back."""


@dataclass(frozen=True)
class EmailMessage:
    message_id: str
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Hand the message to the relay; returns its answer. Raises Permanent/TransientFailure."""


class SmsSender(Protocol):
    async def send(self, recipient: str, content: str, tag: str) -> str:
        """Send one SMS; returns the provider's message id. Raises Permanent/TransientFailure."""

    async def accepted_with_tag(self, tag: str) -> int:
        """How many SMS the provider already accepted with this tag (to resume after a crash)."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class Renderer(Protocol):
    def email(self, template: str, context: dict[str, Any]) -> RenderedEmail: ...

    def sms(self, template: str, context: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class SignIn:
    """A sign-in link: its token's digest, for whom, until when."""

    token_sha256: str
    person_id: str
    role: str
    email: str
    expires_at: datetime


class SignInStore(Protocol):
    async def add(self, link: SignIn) -> None: ...

    async def use(self, token_sha256: str, now: datetime) -> SignIn | None:
        """The link, marked used, if it exists, is not used yet and has not expired; else None (atomic)."""

    async def pending(self, person_id: str, now: datetime) -> int:
        """Links of this person neither used nor expired."""

    async def person_of(self, address: str, role: str) -> str | None:
        """The id an earlier link gave to a person not known otherwise (a seeker before applying)."""

    async def erase(self, person_id: str) -> int: ...

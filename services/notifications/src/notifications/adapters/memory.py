"""In-memory implementations of the ports: unit tests, and trying the rules without infrastructure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from notifications.domain.model import Channel, Contact, Delivery, Status
from notifications.domain.policy import WAITING_FOR_CONTACT, normalise_phone
from notifications.ports import EmailMessage, Outcome, PublishedStatus, SignIn
from tdu_shared.contracts.notifications import DeliveryRecorded
from tdu_shared.outbox import MemoryItems


@dataclass
class StoredDelivery:
    delivery: Delivery
    lease_until: datetime | None = None
    reason: str | None = None
    sent_day: str | None = None
    provider_message_id: str | None = None
    reported_status: PublishedStatus | None = None
    unreported: bool = False


class MemoryDeliveryStore:
    def __init__(self) -> None:
        self.items: dict[str, StoredDelivery] = {}

    def status(self, key: str) -> Status:
        return self.items[key].delivery.status

    async def add(self, deliveries: Sequence[Delivery]) -> list[str]:
        new = [d for d in deliveries if d.key not in self.items]
        for d in new:
            self.items[d.key] = StoredDelivery(d)
        return [d.key for d in new]

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        due = [
            s
            for s in self.items.values()
            if (s.delivery.status is Status.PENDING and s.delivery.due_at <= now)
            or (s.delivery.status is Status.SENDING and s.lease_until is not None and s.lease_until <= now)
        ]
        due.sort(key=lambda s: s.delivery.due_at)
        claimed = []
        for s in due[:limit]:
            in_flight = s.delivery.status is Status.SENDING
            s.delivery = replace(s.delivery, status=Status.SENDING, was_in_flight=False)
            s.lease_until = lease_until
            claimed.append(replace(s.delivery, was_in_flight=in_flight))
        return claimed

    async def claim_these(self, deliveries: Sequence[Delivery], lease_until: datetime) -> list[Delivery]:
        claimed = []
        for d in deliveries:
            s = self.items.get(d.key)
            if s is not None and s.delivery.status is Status.PENDING:
                s.delivery = replace(s.delivery, status=Status.SENDING)
                s.lease_until = lease_until
                claimed.append(s.delivery)
        return claimed

    async def record_sent(self, outcome: Outcome) -> None:
        await self.record([replace(outcome, published=None)])
        self.items[outcome.delivery.key].lease_until = None

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        for o in outcomes:
            s = self.items[o.delivery.key]
            due = o.due_at if o.status is Status.PENDING and o.due_at else s.delivery.due_at
            deferred = o.reason if o.status is Status.PENDING else s.delivery.deferred_reason
            s.delivery = replace(
                s.delivery,
                status=o.status,
                attempts=o.attempts,
                due_at=due,
                deferred_reason=deferred,
                parts_sent=o.parts_sent,
            )
            s.lease_until, s.reason, s.provider_message_id = None, o.reason, o.provider_message_id
            s.sent_day = o.sent_day or s.sent_day
            if o.published:
                s.unreported, s.reported_status = True, o.published

    async def unreported(self, limit: int) -> list[Outcome]:
        return [
            Outcome(
                s.delivery,
                s.delivery.status,
                s.reported_status,
                s.reason,
                s.delivery.attempts,
                report_id=s.delivery.key,
            )
            for s in self.items.values()
            if s.unreported
        ][:limit]

    async def mark_reported(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.items[key.split(":")[0]].unreported = False

    async def sent_on(self, recipient_ids: Sequence[str], day: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.items.values():
            if s.delivery.recipient_id in recipient_ids and s.sent_day == day:
                counts[s.delivery.recipient_id] = counts.get(s.delivery.recipient_id, 0) + 1
        return counts

    async def wake(self, recipient_id: str, now: datetime) -> int:
        woken = 0
        for s in self.items.values():
            d = s.delivery
            if (
                d.recipient_id == recipient_id
                and d.status is Status.PENDING
                and d.due_at > now
                and d.deferred_reason == WAITING_FOR_CONTACT
            ):
                s.delivery = replace(d, due_at=now)
                woken += 1
        return woken

    async def wake_many(self, recipient_ids: Sequence[str], now: datetime) -> int:
        return sum([await self.wake(r, now) for r in recipient_ids])

    async def erase_recipient(self, recipient_id: str) -> int:
        keys = [k for k, s in self.items.items() if s.delivery.recipient_id == recipient_id]
        for key in keys:
            del self.items[key]
        return len(keys)

    async def list(
        self, *, recipient_id: str | None, journey_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return []


class MemoryContactStore:
    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.as_of: dict[str, datetime] = {}

    async def get_many(self, person_ids: Sequence[str]) -> dict[str, Contact]:
        return {p: self.contacts[p] for p in person_ids if p in self.contacts}

    async def by_email(self, address: str) -> list[Contact]:
        wanted = address.strip().lower()
        return [c for c in self.contacts.values() if (c.email or "").strip().lower() == wanted]

    async def upsert(self, contact: Contact, as_of: datetime) -> None:
        if self.as_of.get(contact.person_id, as_of) > as_of:
            return
        old = self.contacts.get(contact.person_id)
        self.contacts[contact.person_id] = replace(
            contact,
            known=True,
            opted_out_email=bool(old and old.opted_out_email),
            opted_out_sms=bool(old and old.opted_out_sms),
        )
        self.as_of[contact.person_id] = as_of

    async def upsert_many(self, contacts: Sequence[tuple[Contact, datetime]]) -> None:
        for contact, as_of in contacts:
            await self.upsert(contact, as_of)

    async def erase(self, person_id: str, erased_at: datetime) -> None:
        self.contacts.pop(person_id, None)
        self.as_of[person_id] = erased_at

    async def opt_out(self, person_id: str, channel: Channel) -> None:
        old = self.contacts.get(person_id) or Contact(
            person_id, "", None, None, None, False, False, known=False
        )
        flag = {"opted_out_email": True} if channel is Channel.EMAIL else {"opted_out_sms": True}
        self.contacts[person_id] = replace(old, **flag)  # type: ignore[arg-type]

    async def opt_out_phone(self, phone: str) -> list[str]:
        ids = [c.person_id for c in self.contacts.values() if c.phone and normalise_phone(c.phone) == phone]
        for person_id in ids:
            await self.opt_out(person_id, Channel.SMS)
        return ids


@dataclass
class RecordingEmail:
    """Accepts every e-mail unless told to fail; keeps what it accepted."""

    sent: list[EmailMessage] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    async def send(self, message: EmailMessage) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return f"250 queued as {len(self.sent)}"


@dataclass
class RecordingSms:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    async def send(self, recipient: str, content: str, tag: str) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((recipient, content, tag))
        return str(len(self.sent))

    async def accepted_with_tag(self, tag: str) -> int:
        return sum(1 for _, _, t in self.sent if t == tag)


class RecordingPublisher(MemoryItems):
    @property
    def reports(self) -> list[DeliveryRecorded]:
        """Each DeliveryRecorded published, in order."""
        return [e.envelope.payload for e in self.events]

    @property
    def statuses(self) -> list[str]:
        return [r.status for r in self.reports]


@dataclass
class MemorySignInStore:
    links: dict[str, SignIn] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    async def add(self, link: SignIn) -> None:
        self.links[link.token_sha256] = link

    async def use(self, token_sha256: str, now: datetime) -> SignIn | None:
        link = self.links.get(token_sha256)
        if link is None or link.expires_at <= now or token_sha256 in self.used:
            return None
        self.used.add(token_sha256)
        return link

    async def pending(self, person_id: str, now: datetime) -> int:
        return sum(
            1
            for digest, link in self.links.items()
            if link.person_id == person_id and digest not in self.used and link.expires_at > now
        )

    async def person_of(self, address: str, role: str) -> str | None:
        wanted = address.strip().lower()
        found = (k.person_id for k in self.links.values() if k.email.lower() == wanted and k.role == role)
        return next(found, None)

    async def erase(self, person_id: str) -> int:
        gone = [d for d, k in self.links.items() if k.person_id == person_id]
        for digest in gone:
            del self.links[digest]
        return len(gone)

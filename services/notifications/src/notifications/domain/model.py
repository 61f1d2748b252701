"""The notifications domain: recipients, planned messages, deliveries and their outcomes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Audience(StrEnum):
    """Who a route addresses (the journey's people, or the basin's operator)."""

    SEEKER = "seeker"
    EMPLOYER = "employer"
    TRAINING_PROVIDER = "training_provider"
    BASIN_OPERATOR = "basin_operator"


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class JourneyFacts:
    """What the routing and the templates need from one journey event."""

    event_id: str
    event_type: str
    occurred_at: datetime
    region: str
    basin: str | None
    journey_id: str
    seeker_id: str
    employer_id: str | None
    provider_id: str | None
    reminder_kind: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    traceparent: str | None = None
    """The trace of the request that caused the event: its messages are sent in that trace."""

    def recipient_of(self, audience: Audience) -> str | None:
        if audience is Audience.SEEKER:
            return self.seeker_id
        if audience is Audience.EMPLOYER:
            return self.employer_id
        if audience is Audience.TRAINING_PROVIDER:
            return self.provider_id
        return operator_id(self.basin) if self.basin else None


def operator_id(basin: str) -> str:
    """Person id under which a basin's operator is a recipient."""
    return f"operator:{basin}"


@dataclass(frozen=True)
class Contact:
    person_id: str
    role: str
    display_name: str | None
    email: str | None
    phone: str | None
    consent_email: bool
    consent_sms: bool
    opted_out_email: bool = False
    opted_out_sms: bool = False
    known: bool = True
    """False for a record holding only opt-outs (the person's details never arrived)."""

    def address(self, channel: Channel) -> str | None:
        return self.email if channel is Channel.EMAIL else self.phone

    def consents_to(self, channel: Channel) -> bool:
        if channel is Channel.EMAIL:
            return self.consent_email and not self.opted_out_email
        return self.consent_sms and not self.opted_out_sms


@dataclass(frozen=True)
class PlannedMessage:
    """One message one recipient should get on one channel because of one event."""

    key: str
    recipient_id: str
    audience: Audience
    channel: Channel
    template: str


def delivery_key(event_id: str, recipient_id: str, channel: Channel, template: str) -> str:
    """Stable key of a delivery: the same event replayed gives the same keys, so nothing is sent twice."""
    raw = f"{event_id}|{recipient_id}|{channel.value}|{template}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class Delivery:
    """A planned message as stored, with where it stands."""

    key: str
    facts: JourneyFacts
    recipient_id: str
    audience: Audience
    channel: Channel
    template: str
    status: Status
    attempts: int
    created_at: datetime
    due_at: datetime
    deferred_reason: str | None = None
    parts_sent: int = 0
    """SMS parts the provider accepted (a long SMS is split in parts)."""
    was_in_flight: bool = False
    """Claimed again after its lease ran out: a previous attempt may or may not have reached the provider."""

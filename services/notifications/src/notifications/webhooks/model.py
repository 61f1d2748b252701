"""Webhook subscriptions and deliveries, the retry schedule and the ordering rule (pure code)."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class WebhookStatus(StrEnum):
    ACTIVE = "active"
    FAILING = "failing"
    """Deliveries kept failing past the give-up time: nothing attempted nor planned until resumed."""


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"


@dataclass(frozen=True)
class Subscription:
    id: str
    partner: str
    region: str
    callback_url: str
    event_types: tuple[str, ...]
    """Journey event types sent; empty: every type."""
    basins: tuple[str, ...] | None
    """Basins whose events are sent; None: every basin of the region (a region-wide key's)."""
    secret: str
    created_at: datetime
    created_by_key: str | None = None
    status: WebhookStatus = WebhookStatus.ACTIVE
    previous_secret: str | None = None
    previous_until: datetime | None = None
    failing_since: datetime | None = None
    resumed_at: datetime | None = None
    last_result: str | None = None
    flags: int = 0
    """How many times it was flagged failing (names each alert to the operators)."""

    def wants(self, event_type: str, basin: str | None) -> bool:
        if self.event_types and event_type not in self.event_types:
            return False
        return self.basins is None or (basin is not None and basin in self.basins)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one during the
        grace period after a rotation."""
        keep_old = self.previous_secret and self.previous_until is not None and now < self.previous_until
        return [self.secret, *([self.previous_secret] if keep_old and self.previous_secret else [])]


@dataclass(frozen=True)
class WebhookDelivery:
    """One journey event for one subscription: the body sent, where it stands."""

    id: str
    subscription_id: str
    seq: int
    journey_id: str
    event_id: str
    event_type: str
    basin: str | None
    body: dict[str, Any]
    created_at: datetime
    status: WebhookDeliveryStatus = WebhookDeliveryStatus.PENDING
    attempts: int = 0
    window_start: datetime | None = None
    """First failure of the current run of failures (reset when the subscription is resumed)."""
    window_attempts: int = 0
    last_attempt_at: datetime | None = None
    last_result: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    replay_of: str | None = None

    @property
    def pair(self) -> str:
        return pair_id(self.subscription_id, self.journey_id)


@dataclass(frozen=True)
class Retry:
    base_s: float = 10.0
    max_s: float = 3600.0
    give_up_s: float = 86_400.0


@dataclass(frozen=True)
class Planned:
    """What planning left for the dispatcher: queues whose head became due now."""

    due: list[tuple[str, str]] = field(default_factory=list)
    """(due entry, pair) of each queue made due."""
    deliveries: int = 0


def new_subscription_id() -> str:
    return f"wh_{secrets.token_hex(8)}"


def delivery_id(subscription_id: str, seq: int) -> str:
    """Deliveries of a subscription are numbered: the log reads them back by number, newest first."""
    return f"{subscription_id}-{seq}"


def event_key(event_id: str, subscription_id: str) -> str:
    """The one delivery of one event to one subscription (a replayed event finds it and adds nothing)."""
    return hashlib.sha256(f"{event_id}|{subscription_id}".encode()).hexdigest()[:32]


def pair_id(subscription_id: str, journey_id: str) -> str:
    """A (subscription, journey) queue: its deliveries go one after the other, in order."""
    return f"{subscription_id}|{journey_id}"


def subscription_of_pair(pair: str) -> str:
    return pair.split("|", 1)[0]


def retry_delay(attempt: int, base_s: float, max_s: float) -> timedelta:
    """Wait after the ``attempt``-th failure in a row (1, 2, ...): base, 2 x base, 4 x base ... capped."""
    return timedelta(seconds=min(max_s, base_s * 2 ** max(0, min(attempt - 1, 40))))


def next_attempt(window_start: datetime, now: datetime, failures: int, retry: Retry) -> datetime | None:
    """When to try again after ``failures`` failures in a row that began at ``window_start``; None: give up
    (the give-up time has passed). The last attempt falls on the give-up time itself."""
    give_up_at = window_start + timedelta(seconds=retry.give_up_s)
    if now >= give_up_at:
        return None
    return min(now + retry_delay(failures, retry.base_s, retry.max_s), give_up_at)


def may_attempt(queue: Sequence[str], delivery: str) -> bool:
    """The ordering rule: in a (subscription, journey) queue, only the first delivery not yet delivered is
    attempted; the ones behind it wait until it is delivered."""
    return bool(queue) and queue[0] == delivery


def body_of(d_id: str, envelope: Any) -> dict[str, Any]:
    """What the receiver gets: the event as published on journeys.events (ids only, no personal data)."""
    payload = envelope.payload
    return {
        "delivery_id": d_id,
        "event_id": str(envelope.event_id),
        "event_type": envelope.type,
        "occurred_at": envelope.occurred_at.isoformat(),
        "region": envelope.region,
        "basin": envelope.basin,
        "journey_id": payload.journey_id,
        "data": payload.model_dump(mode="json"),
    }


def encode_body(body: dict[str, Any]) -> bytes:
    """The raw bytes posted (and signed)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

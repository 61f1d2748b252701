"""What a submission does to the stored offer: publish, update, or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    PUBLISHED = "published"  # new offer, or a withdrawn one back in a source
    UPDATED = "updated"  # newer version of a published offer
    UNCHANGED = "unchanged"  # identical resubmission: nothing changes, nothing is emitted
    STALE = "stale"  # older than the stored version
    BLACKLISTED = "blacklisted"  # kept out


@dataclass(frozen=True)
class Stored:
    revision: int
    updated_at: datetime
    fingerprint: str
    withdrawn_reason: str | None = None

    @property
    def published(self) -> bool:
        return self.withdrawn_reason is None


def decide(
    stored: Stored | None, updated_at: datetime, fingerprint: str, blacklisted: bool
) -> tuple[Outcome, int]:
    """The outcome and the revision the offer has after it."""
    if blacklisted:
        return Outcome.BLACKLISTED, stored.revision if stored else 0
    if stored is None:
        return Outcome.PUBLISHED, 1
    if updated_at < stored.updated_at:
        return Outcome.STALE, stored.revision
    if updated_at == stored.updated_at and fingerprint == stored.fingerprint and stored.published:
        return Outcome.UNCHANGED, stored.revision
    if not stored.published:
        return Outcome.PUBLISHED, stored.revision + 1
    return Outcome.UPDATED, stored.revision + 1

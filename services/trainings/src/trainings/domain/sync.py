"""An import is a snapshot of its catalogue source: what changed, what is new, what left."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from trainings.domain.model import Session


@dataclass(frozen=True)
class StoredSession:
    """What the store remembers of a session to decide what an import changes."""

    session_id: str
    revision: int
    fingerprint: str
    active: bool
    basin: str | None = None
    region: str | None = None


class Change(StrEnum):
    PUBLISHED = "published"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def fingerprint(session: Session) -> str:
    """A digest of everything a session says: equal digests mean nothing to publish."""
    text = json.dumps(dataclasses.asdict(session), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def change_of(stored: StoredSession | None, digest: str) -> Change:
    """New or back after a withdrawal: published; same digest: unchanged; otherwise updated."""
    if stored is None or not stored.active:
        return Change.PUBLISHED
    if stored.fingerprint == digest:
        return Change.UNCHANGED
    return Change.UPDATED


def next_revision(stored: StoredSession | None) -> int:
    return 1 if stored is None else stored.revision + 1


def missing_from_snapshot(active: Iterable[StoredSession], seen: set[str]) -> list[StoredSession]:
    """Active sessions of the source that a complete snapshot no longer lists: to withdraw."""
    return [s for s in active if s.session_id not in seen]

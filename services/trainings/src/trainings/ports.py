"""What the use cases need from the outside world (implemented in adapters/, faked in unit tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from tdu_shared.contracts.trainings import SessionState
from trainings.domain.model import Session
from trainings.domain.sync import StoredSession


@dataclass(frozen=True)
class SessionRecord:
    """A session as the store keeps it: the published state and the digest of its content."""

    state: SessionState
    fingerprint: str


@dataclass(frozen=True)
class SessionQuery:
    basin: str | None = None
    rome_fiche: str | None = None
    funded: bool | None = None
    start_after: date | None = None
    source: str | None = None
    page: int = 1
    size: int = 50


class SessionRepository(Protocol):
    async def stored(self, session_ids: Sequence[str]) -> dict[str, StoredSession]: ...

    async def save(self, records: Sequence[SessionRecord]) -> None: ...

    async def active_of_source(self, source: str) -> list[StoredSession]: ...

    async def mark_withdrawn(self, sessions: Sequence[StoredSession], at: datetime) -> None: ...

    async def get(self, session_id: str) -> SessionState | None: ...

    async def search(self, query: SessionQuery) -> tuple[list[SessionState], int]: ...


class SessionSink(Protocol):
    """Where normalised sessions of an import go: the catalogue, or nowhere for a dry run."""

    counts: dict[str, int]
    """Sessions published, updated, unchanged and withdrawn so far."""

    async def accept(self, sessions: Sequence[Session]) -> None: ...

    async def complete(self, source: str, seen: set[str]) -> None: ...

"""An in-memory session repository: the fake of unit tests, held to the same contract tests as MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tdu_shared.contracts.trainings import SessionState
from trainings.domain.sync import StoredSession
from trainings.ports import SessionQuery, SessionRecord


@dataclass
class _Row:
    record: SessionRecord
    active: bool = True


class InMemorySessionRepository:
    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}

    def _stored(self, row: _Row) -> StoredSession:
        state = row.record.state
        return StoredSession(
            state.session_id, state.revision, row.record.fingerprint, row.active, state.basin, state.region
        )

    async def stored(self, session_ids: Sequence[str]) -> dict[str, StoredSession]:
        return {i: self._stored(self.rows[i]) for i in session_ids if i in self.rows}

    async def save(self, records: Sequence[SessionRecord]) -> None:
        for record in records:
            self.rows[record.state.session_id] = _Row(record)

    async def active_of_source(self, source: str) -> list[StoredSession]:
        return [self._stored(r) for r in self.rows.values() if r.active and r.record.state.source == source]

    async def mark_withdrawn(self, sessions: Sequence[StoredSession], at: datetime) -> None:
        for session in sessions:
            if session.session_id in self.rows:
                self.rows[session.session_id].active = False

    async def get(self, session_id: str) -> SessionState | None:
        row = self.rows.get(session_id)
        return row.record.state if row and row.active else None

    async def search(self, query: SessionQuery) -> tuple[list[SessionState], int]:
        found = [r.record.state for r in self.rows.values() if r.active and _matches(r.record.state, query)]
        found.sort(
            key=lambda s: (
                s.start_date is not None,
                s.start_date.isoformat() if s.start_date else "",
                s.session_id,
            )
        )
        start = (query.page - 1) * query.size
        return found[start : start + query.size], len(found)


def _matches(state: SessionState, query: SessionQuery) -> bool:
    return (
        (query.basin is None or state.basin == query.basin)
        and (query.rome_fiche is None or query.rome_fiche in state.rome_fiches)
        and (query.funded is None or state.region_funded == query.funded)
        and (query.source is None or state.source == query.source)
        and (
            query.start_after is None
            or (state.start_date is not None and state.start_date > query.start_after)
        )
    )

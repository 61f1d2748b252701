"""Sessions in MongoDB (or FerretDB): one document per session, keyed by session id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from tdu_shared.contracts.trainings import SessionState
from tdu_shared.mongo import Document, IndexSpec, asc, bulk_write, find_by_ids, update_by_ids
from trainings.domain.sync import StoredSession
from trainings.ports import SessionQuery, SessionRecord

SESSIONS = "sessions"

INDEXES = [
    IndexSpec(SESSIONS, asc("source", "active")),
    IndexSpec(SESSIONS, asc("active", "basin", "start_date")),
    IndexSpec(SESSIONS, asc("active", "rome_fiches", "start_date")),
    IndexSpec(SESSIONS, asc("active", "region_funded", "start_date")),
]

_STORED_FIELDS = {"revision": 1, "fingerprint": 1, "active": 1, "basin": 1, "region": 1}


def _stored(doc: Document) -> StoredSession:
    return StoredSession(
        doc["_id"], doc["revision"], doc["fingerprint"], doc["active"], doc.get("basin"), doc.get("region")
    )


class MongoSessionRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.sessions = db[SESSIONS]

    async def stored(self, session_ids: Sequence[str]) -> dict[str, StoredSession]:
        found = await find_by_ids(self.sessions, session_ids, _STORED_FIELDS)
        return {session_id: _stored(doc) for session_id, doc in found.items()}

    async def save(self, records: Sequence[SessionRecord]) -> None:
        """Upsert each session at its new revision (one bulk write)."""
        if not records:
            return
        now = datetime.now(UTC)
        operations = [
            UpdateOne({"_id": r.state.session_id}, {"$set": self._document(r, now)}, upsert=True)
            for r in records
        ]
        await bulk_write(self.sessions, operations)

    @staticmethod
    def _document(record: SessionRecord, now: datetime) -> Document:
        state = record.state
        return {
            "source": state.source,
            "active": True,
            "revision": state.revision,
            "fingerprint": record.fingerprint,
            "basin": state.basin,
            "region": state.region,
            "rome_fiches": state.rome_fiches,
            "region_funded": state.region_funded,
            "start_date": state.start_date.isoformat() if state.start_date else None,
            "state": state.model_dump(mode="json"),
            "updated_at": now,
            "withdrawn_at": None,
        }

    async def active_of_source(self, source: str) -> list[StoredSession]:
        cursor = self.sessions.find({"source": source, "active": True}, _STORED_FIELDS)
        return [_stored(doc) async for doc in cursor]

    async def mark_withdrawn(self, sessions: Sequence[StoredSession], at: datetime) -> None:
        if not sessions:
            return
        await update_by_ids(
            self.sessions, [s.session_id for s in sessions], {"$set": {"active": False, "withdrawn_at": at}}
        )

    async def get(self, session_id: str) -> SessionState | None:
        # By _id alone (the development store scans for any other filter), active checked here.
        doc = await self.sessions.find_one({"_id": session_id}, {"state": 1, "active": 1})
        return SessionState.model_validate(doc["state"]) if doc and doc.get("active") else None

    async def search(self, query: SessionQuery) -> tuple[list[SessionState], int]:
        criteria: dict[str, Any] = {"active": True}
        if query.basin:
            criteria["basin"] = query.basin
        if query.rome_fiche:
            criteria["rome_fiches"] = query.rome_fiche
        if query.funded is not None:
            criteria["region_funded"] = query.funded
        if query.source:
            criteria["source"] = query.source
        if query.start_after:
            criteria["start_date"] = {"$gt": query.start_after.isoformat()}
        total = await self.sessions.count_documents(criteria)
        cursor = (
            self.sessions.find(criteria, {"state": 1})
            .sort([("start_date", ASCENDING), ("_id", ASCENDING)])
            .skip((query.page - 1) * query.size)
            .limit(query.size)
        )
        return [SessionState.model_validate(doc["state"]) async for doc in cursor], total

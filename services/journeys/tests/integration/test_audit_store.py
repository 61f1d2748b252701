"""The audit log on the real store: entries by basin or by person, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from journeys.adapters.mongo import INDEXES, MongoAudit, ensure_indexes
from journeys.ports import AuditEntry
from tdu_shared.mongo import Document

pytestmark = pytest.mark.integration

AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def test_entries_are_found_by_basin_and_person_newest_first(mongo_db: AsyncDatabase[Document]) -> None:
    await ensure_indexes(mongo_db, INDEXES)
    audit = MongoAudit(mongo_db)
    for n, (person, basins) in enumerate([("P1", ("4410",)), ("P2", ("4412",)), ("P1", ("4410", "4412"))]):
        entry = AuditEntry(f"e{n}", AT + timedelta(minutes=n), "op@region.fr", "read", person, basins)
        await audit.record(entry)
    assert [e.entry_id for e in await audit.entries("4410", None, 10)] == ["e2", "e0"]
    assert [e.entry_id for e in await audit.entries("4412", None, 10)] == ["e2", "e1"]
    assert [e.entry_id for e in await audit.entries(None, "P1", 1)] == ["e2"]
    found = (await audit.entries(None, None, 10))[0]
    assert found.at == AT + timedelta(minutes=2) and found.basins == ("4410", "4412")

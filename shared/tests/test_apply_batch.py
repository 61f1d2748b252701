"""A batch that fails is taken record by record: only the culprit goes to the DLQ, whatever its headers;
a store too busy is not the record's fault."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from tdu_shared.contracts.offers import OfferWithdrawn
from tdu_shared.envelope import Envelope, new_envelope
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka import DeadLetters, Record, apply_batch


class RecordingDeadLetters(DeadLetters):
    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(self, record: Record, error: str, error_type: str = "InvalidMessage") -> None:
        self.sent.append(record.offset)


def withdrawn(offer_id: str) -> Envelope[Any]:
    payload = OfferWithdrawn(offer_id=offer_id, reason="expired", withdrawn_at=datetime.now(UTC))
    return new_envelope(payload, producer="partner", region="44", basin="4410")


async def test_the_failing_event_is_dead_lettered_even_without_an_event_id_header() -> None:
    decoded = [(Record("t", 0, n, None, b"", headers={}), withdrawn(o)) for n, o in enumerate("ABC")]
    applied: list[str] = []

    async def apply(events: list[Envelope[Any]]) -> None:
        if any(e.payload.offer_id == "B" for e in events):
            raise ValueError("cannot use B")
        applied.extend(e.payload.offer_id for e in events)

    dlq = RecordingDeadLetters()
    assert await apply_batch(decoded, apply, dlq) is None  # went one by one

    assert applied == ["A", "C"]
    assert dlq.sent == [1]


async def test_a_batch_that_applies_returns_its_result_and_one_decides_for_a_record_alone() -> None:
    decoded = [(Record("t", 0, n, None, b"", headers={}), withdrawn(o)) for n, o in enumerate("ABC")]

    async def apply(events: list[Envelope[Any]]) -> int:
        if len(events) == 3 and any(e.payload.offer_id == "C" for e in events):
            raise ValueError("the batch fails")
        return len(events)

    async def one(record: Record, event: Envelope[Any]) -> None:
        if event.payload.offer_id == "C":
            raise InvalidMessage("C is refused")  # to the DLQ at once, not retried

    dlq = RecordingDeadLetters()
    assert await apply_batch(decoded[:2], apply, dlq) == 2
    assert await apply_batch(decoded, apply, dlq, one) is None and dlq.sent == [2]
    assert await apply_batch([], apply, dlq) is None


async def test_an_event_the_store_is_too_busy_to_apply_comes_back_rather_than_dead_lettered() -> None:
    decoded = [(Record("t", 0, n, None, b"", headers={}), withdrawn(o)) for n, o in enumerate("AB")]

    async def apply(events: list[Envelope[Any]]) -> None:
        if len(events) > 1:
            raise ValueError("the batch fails for one of its events")
        raise OperationFailure("database is locked (5) (SQLITE_BUSY)", code=1)  # then the store is busy

    dlq = RecordingDeadLetters()
    with pytest.raises(OperationFailure):
        await apply_batch(decoded, apply, dlq)
    assert dlq.sent == []

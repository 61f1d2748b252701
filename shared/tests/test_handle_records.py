"""The platform's rules for a record a handler cannot use."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from tdu_shared.errors import InvalidMessage, Rejected
from tdu_shared.kafka import DeadLetters, Record, handle_records


class RecordingDeadLetters(DeadLetters):
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, str]] = []

    async def send(self, record: Record, error: str, error_type: str = "InvalidMessage") -> None:
        self.sent.append((record.offset, error, error_type))


def records(n: int) -> list[Record]:
    return [Record("t", 0, offset, b"k", b"v") for offset in range(n)]


async def test_invalid_record_is_dead_lettered_and_the_next_one_handled() -> None:
    handled: list[int] = []

    async def handle(record: Record) -> None:
        if record.offset == 1:
            raise InvalidMessage("no id")
        handled.append(record.offset)

    dlq = RecordingDeadLetters()
    await handle_records(records(3), handle, dlq)
    assert handled == [0, 2]
    assert dlq.sent == [(1, "no id", "InvalidMessage")]


async def test_refused_command_is_dead_lettered_with_its_reason() -> None:
    async def handle(record: Record) -> None:
        raise Rejected("transition refused")

    dlq = RecordingDeadLetters()
    await handle_records(records(1), handle, dlq)
    assert dlq.sent == [(0, "transition refused", "Rejected")]


async def test_store_unreachable_is_raised_so_the_offset_is_not_committed() -> None:
    async def handle(record: Record) -> None:
        raise AutoReconnect("store down")

    dlq = RecordingDeadLetters()
    with pytest.raises(AutoReconnect):
        await handle_records(records(2), handle, dlq)
    assert dlq.sent == []


async def test_store_busy_is_raised_so_the_record_comes_back_rather_than_dead_lettered() -> None:
    """The local store answers a write it could not lock in time with SQLITE_BUSY: the record is fine."""
    busy = "[collection.go:177 sqlite.(*collection).UpdateAll.func1] database is locked (5) (SQLITE_BUSY)"

    async def handle(record: Record) -> None:
        raise OperationFailure(busy, code=1)

    dlq = RecordingDeadLetters()
    with pytest.raises(OperationFailure):
        await handle_records(records(2), handle, dlq)
    assert dlq.sent == []


async def test_unexpected_error_is_retried_then_dead_lettered() -> None:
    calls: list[int] = []

    async def handle(record: Record) -> None:
        calls.append(record.offset)
        raise KeyError("bug")

    dlq = RecordingDeadLetters()
    await handle_records(records(1), handle, dlq, attempts=3, backoff_s=0)
    assert calls == [0, 0, 0]
    assert dlq.sent[0][0] == 0 and "after 3 attempts" in dlq.sent[0][1] and dlq.sent[0][2] == "KeyError"


async def test_a_passing_retry_is_not_dead_lettered() -> None:
    calls: list[int] = []

    async def handle(record: Record) -> None:
        calls.append(record.offset)
        if len(calls) == 1:
            raise RuntimeError("flaky")

    dlq = RecordingDeadLetters()
    await handle_records(records(1), handle, dlq, backoff_s=0)
    assert calls == [0, 0] and dlq.sent == []

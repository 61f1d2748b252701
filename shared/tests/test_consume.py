"""The one consume path: typed events to the handler, what cannot be used to the DLQ with its reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tdu_shared.contracts.offers import OfferWithdrawn
from tdu_shared.envelope import encode, new_envelope
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka import Consumed, DeadLetters, Record, Subscription, consume
from tdu_shared.topics import CONTACTS, OFFERS_STATE


class RecordingDeadLetters(DeadLetters):
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send(self, record: Record, error: str, error_type: str = "InvalidMessage") -> None:
        self.sent.append((record.offset, error))


def withdrawn(offer_id: str) -> bytes:
    payload = OfferWithdrawn(offer_id=offer_id, reason="expired", withdrawn_at=datetime.now(UTC))
    return encode(new_envelope(payload, producer="test", region="44", basin="4410"))


def poll(*values: bytes | None) -> list[Record]:
    return [Record("t", 0, offset, b"k", value) for offset, value in enumerate(values)]


async def test_each_event_reaches_the_handler_typed_and_unusable_records_go_to_the_dlq() -> None:
    seen: list[tuple[int, str]] = []

    async def each(event: Consumed) -> None:
        assert isinstance(event.payload, OfferWithdrawn)
        seen.append((event.record.offset, event.payload.offer_id))

    dlq = RecordingDeadLetters()
    records = poll(withdrawn("A"), b"{", None, withdrawn("B"))
    await consume(records, Subscription(OFFERS_STATE, each=each), dlq)
    assert seen == [(0, "A"), (3, "B")]
    assert [offset for offset, _ in dlq.sent] == [1, 2]
    assert dlq.sent[0][1].startswith("not JSON") and "tombstone" in dlq.sent[1][1]


async def test_a_batch_is_handled_at_once_and_one_by_one_when_it_fails() -> None:
    batches: list[list[str]] = []

    async def batch(events: list[Consumed]) -> None:
        ids = [e.payload.offer_id for e in events]
        batches.append(ids)
        if "BAD" in ids:
            raise InvalidMessage("cannot be applied") if len(ids) == 1 else ValueError("the batch failed")

    dlq = RecordingDeadLetters()
    await consume(poll(withdrawn("A"), withdrawn("B")), Subscription(OFFERS_STATE, batch=batch), dlq)
    await consume(poll(withdrawn("C"), withdrawn("BAD")), Subscription(OFFERS_STATE, batch=batch), dlq)
    assert batches == [["A", "B"], ["C", "BAD"], ["C"], ["BAD"]]
    assert dlq.sent == [(1, "cannot be applied")]


async def test_tombstones_reach_a_subscription_that_takes_them_and_observe_sees_every_record() -> None:
    got: list[Any] = []
    observed: list[int] = []

    async def batch(events: list[Consumed]) -> None:
        got.extend((e.record.offset, e.envelope is None) for e in events)

    subscription = Subscription(
        CONTACTS, batch=batch, tombstones=True, observe=lambda rs: observed.extend(r.offset for r in rs)
    )
    dlq = RecordingDeadLetters()
    await consume(poll(None, b"nope"), subscription, dlq)
    assert got == [(0, True)] and [o for o, _ in dlq.sent] == [1] and observed == [0, 1]


async def test_a_subscription_without_dead_letters_skips_what_it_cannot_use() -> None:
    got: list[str] = []

    async def batch(events: list[Consumed]) -> None:
        got.extend(e.payload.offer_id for e in events)

    dlq = RecordingDeadLetters()
    await consume(
        poll(b"{", withdrawn("A")), Subscription(OFFERS_STATE, batch=batch, dead_letters=False), dlq
    )
    assert got == ["A"] and dlq.sent == []

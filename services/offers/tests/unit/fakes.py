"""In-memory fakes of the ports, and real records of the sample file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from offers.adapters.memory import InMemoryOfferStore
from offers.adapters.reference import RomeReference, default_geography
from offers.handlers import Deps, offers_outbox
from tdu_shared.clock import FixedClock
from tdu_shared.kafka import Outgoing
from tdu_shared.outbox import MemoryItems, MemoryOutbox, OutboxItem

SAMPLE = Path(__file__).parent.parent / "fixtures" / "france_travail_grand_est_sample.json"


def real_records() -> list[dict[str, Any]]:
    return list(json.loads(SAMPLE.read_text(encoding="utf-8")))


def real_record(offer_id: str) -> dict[str, Any]:
    return next(r for r in real_records() if r["id"] == offer_id)


class FakePublisher(MemoryItems):
    """The outbox's publisher, and the HTTP API's (which publishes submissions as they come)."""

    async def publish_many(self, outgoing: Sequence[Outgoing]) -> None:
        await self.publish([OutboxItem.of(o.spec, o.key, o.envelope) for o in outgoing])

    @property
    def sent(self) -> list[Outgoing]:
        return self.events

    def types(self) -> list[str]:
        return [o.envelope.type for o in self.sent]

    def clear(self) -> None:
        self.items.clear()


def fake_deps() -> tuple[Deps, InMemoryOfferStore, FakePublisher]:
    store, publisher = InMemoryOfferStore(), FakePublisher()
    store.outbox = MemoryOutbox()  # type: ignore[attr-defined]  # the tests look at it
    deps = Deps(
        store,
        offers_outbox(store, store.outbox, publisher),  # type: ignore[attr-defined]
        default_geography(),
        RomeReference(),
        FixedClock(datetime(2024, 12, 1, 8, 0, tzinfo=UTC), tick=timedelta(seconds=1)),
    )
    return deps, store, publisher

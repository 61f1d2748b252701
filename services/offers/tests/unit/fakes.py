"""In-memory fakes of the ports, and real records of the sample file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from offers.adapters.memory import InMemoryOfferStore
from offers.adapters.reference import RomeReference, default_geography
from offers.handlers import Deps
from tdu_shared.clock import FixedClock
from tdu_shared.kafka import Outgoing

SAMPLE = Path(__file__).parent.parent / "fixtures" / "france_travail_grand_est_sample.json"


def real_records() -> list[dict[str, Any]]:
    return list(json.loads(SAMPLE.read_text(encoding="utf-8")))


def real_record(offer_id: str) -> dict[str, Any]:
    return next(r for r in real_records() if r["id"] == offer_id)


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.fail_next = False

    async def publish_many(self, items: Sequence[Outgoing]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("broker unreachable")
        self.sent.extend(items)

    def types(self) -> list[str]:
        return [o.envelope.type for o in self.sent]

    def clear(self) -> None:
        self.sent.clear()


def fake_deps() -> tuple[Deps, InMemoryOfferStore, FakePublisher]:
    store, publisher = InMemoryOfferStore(), FakePublisher()
    deps = Deps(
        store,
        publisher,
        default_geography(),
        RomeReference(),
        FixedClock(datetime(2024, 12, 1, 8, 0, tzinfo=UTC), tick=timedelta(seconds=1)),
    )
    return deps, store, publisher

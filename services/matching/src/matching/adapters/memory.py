"""In-memory ports: for unit tests, the benchmark and dry runs (nothing leaves the process)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tdu_shared.kafka import Outgoing


class InMemoryLedger:
    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    async def fingerprints(self, offer_ids: Iterable[str]) -> dict[str, str]:
        return {i: self.entries[i] for i in offer_ids if i in self.entries}

    async def record(self, fingerprints: Mapping[str, str]) -> None:
        self.entries.update(fingerprints)


class CollectingPublisher:
    """Keeps what would have been published, in order."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def publish_many(self, items: Sequence[Outgoing]) -> None:
        self.sent.extend(items)

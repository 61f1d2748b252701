"""In-memory ports: for unit tests, the benchmark and dry runs (nothing leaves the process)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tdu_shared.kafka import Outgoing
from tdu_shared.outbox import MemoryItems


class InMemoryLedger:
    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    async def fingerprints(self, offer_ids: Iterable[str]) -> dict[str, str]:
        return {i: self.entries[i] for i in offer_ids if i in self.entries}

    async def record(self, fingerprints: Mapping[str, str]) -> None:
        self.entries.update(fingerprints)


class CollectingPublisher(MemoryItems):
    """Keeps what would have been published, in order."""

    @property
    def sent(self) -> list[Outgoing]:
        return self.events

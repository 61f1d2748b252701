"""What the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from tdu_shared.kafka import Outgoing


class EligibilityLedger(Protocol):
    """What this service last published for each offer (a fingerprint), so only changes are published."""

    async def fingerprints(self, offer_ids: Iterable[str]) -> dict[str, str]: ...

    async def record(self, fingerprints: Mapping[str, str]) -> None: ...


class Publisher(Protocol):
    """Publishes events and returns once every in-sync replica has them (``EventPublisher``)."""

    async def publish_many(self, items: Sequence[Outgoing]) -> None: ...

"""What the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class EligibilityLedger(Protocol):
    """What this service last published for each offer (a fingerprint), so only changes are published."""

    async def fingerprints(self, offer_ids: Iterable[str]) -> dict[str, str]: ...

    async def record(self, fingerprints: Mapping[str, str]) -> None: ...

"""Full refreshes: offers of the refreshed scope that the refresh did not carry are withdrawn."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Refresh:
    refresh_id: str
    source: str
    partner: str | None
    scope: str  # departement | basin
    scope_code: str
    submitted: int


def refresh_complete(refresh: Refresh, seen: int) -> bool:
    """Records of one refresh spread over partitions: withdraw only once every one was processed."""
    return seen >= refresh.submitted


def scope_filter(refresh: Refresh) -> dict[str, str | None]:
    """Which stored offers a refresh covers (field -> value on the stored offer)."""
    field = "departement" if refresh.scope == "departement" else "basin"
    return {"source": refresh.source, "partner": refresh.partner, field: refresh.scope_code}

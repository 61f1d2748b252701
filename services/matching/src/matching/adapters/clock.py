"""Clocks: the system's, or a fixed date for 'as of' runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().date()


class FixedClock:
    """Always the same day (noon UTC), so a run as of a date is reproducible."""

    def __init__(self, day: date) -> None:
        self._now = datetime.combine(day, time(12), tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.date()

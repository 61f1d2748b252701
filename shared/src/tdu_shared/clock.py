"""The one clock of every service: the system's in production, a fixed one for "as of" runs and tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock set by hand (``moment``, ``advance``); with ``tick``, each reading first moves it on by
    that much, so successive readings differ as on a real clock."""

    def __init__(self, moment: datetime, tick: timedelta = timedelta(0)) -> None:
        if moment.tzinfo is None:
            raise ValueError("a clock gives timezone-aware moments")
        self.moment = moment
        self.tick = tick

    @classmethod
    def as_of(cls, day: date) -> FixedClock:
        """Noon UTC of ``day``: a run "as of" a date is reproducible."""
        return cls(datetime.combine(day, time(12), tzinfo=UTC))

    def now(self) -> datetime:
        self.moment += self.tick
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)

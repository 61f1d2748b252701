"""Timers: which reminders a journey needs after a change, and whether a stored timer still applies.

A timer carries a ``marker``: what must still be true when it comes due (the immersion's first day, the
chosen session and its start, the contract start, the time of the last change). A timer whose marker no
longer matches the journey is skipped, so moving an immersion or acting on a journey silently replaces
the old reminders with new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from journeys.domain.model import Journey
from tdu_shared.contracts.journeys import JourneyState, ReminderKind

S = JourneyState
K = ReminderKind
REMINDER_TIME = time(8, 0, tzinfo=UTC)
"""Reminders for a calendar day are due at this time (UTC) of that day."""

IDLE_AFTER = timedelta(days=14)
IDLE_WATCHED: frozenset[JourneyState] = frozenset(
    {
        S.APPLIED,
        S.IMMERSION_SCHEDULED,
        S.IMMERSION_DONE,
        S.PROMISE_SIGNED,
        S.COMMITMENT_SIGNED,
        S.TRAINING_COMPLETED,
    }
)
"""States where 14 days without a change alert the basin operator. Committed and in-training journeys wait
on the training calendar, so silence there is normal."""


@dataclass(frozen=True)
class Timer:
    journey_id: str
    kind: ReminderKind
    due_at: datetime
    marker: str

    @property
    def timer_id(self) -> str:
        return f"{self.journey_id}:{self.kind.value}:{self.marker}"


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(f"no day {day.day} in {year}-{month}")


def on_day(day: date) -> datetime:
    return datetime.combine(day, REMINDER_TIME)


def stamp(moment: datetime) -> str:
    """Millisecond precision: what the store keeps of a datetime."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _session_marker(journey: Journey) -> str | None:
    chosen = journey.session(journey.session_id) if journey.session_id else None
    if chosen is None or chosen.start_date is None:
        return None
    return f"{chosen.session_id}@{chosen.start_date.isoformat()}"


def timers_after_change(journey: Journey, now: datetime) -> list[Timer]:
    """The timers to (re)arm once ``journey`` reached its current state at ``now``."""
    jid, found = journey.journey_id, []
    if journey.state == S.APPLIED:
        applied = journey.created_at
        found += [
            Timer(jid, K.EMPLOYER_NO_ANSWER_7D, applied + timedelta(days=7), "applied"),
            Timer(jid, K.EMPLOYER_NO_ANSWER_10D, applied + timedelta(days=10), "applied"),
        ]
    if journey.state == S.IMMERSION_SCHEDULED and journey.immersion_starts_on is not None:
        first_day = journey.immersion_starts_on
        if first_day > now.date():
            due = max(on_day(first_day - timedelta(days=1)), now)
            found.append(Timer(jid, K.IMMERSION_TOMORROW, due, first_day.isoformat()))
    marker = _session_marker(journey)
    if journey.state == S.COMMITTED and marker is not None:
        start_day = date.fromisoformat(marker.rsplit("@", 1)[1])
        if start_day > now.date():
            found.append(
                Timer(jid, K.TRAINING_STARTS_IN_3D, max(on_day(start_day - timedelta(days=3)), now), marker)
            )
    if journey.state == S.HIRED and journey.contract_start is not None:
        start_day, mark = journey.contract_start, journey.contract_start.isoformat()
        found += [
            Timer(jid, K.FOLLOW_UP_6M, on_day(add_months(start_day, 6)), mark),
            Timer(jid, K.FOLLOW_UP_12M, on_day(add_months(start_day, 12)), mark),
        ]
    if journey.state in IDLE_WATCHED:
        found.append(
            Timer(jid, K.JOURNEY_IDLE_14D, journey.updated_at + IDLE_AFTER, stamp(journey.updated_at))
        )
    return found


def still_due(kind: ReminderKind, marker: str, journey: Journey) -> bool:
    """Whether a timer armed with ``marker`` still means something for the journey as it is now."""
    state = journey.state
    if kind in (K.EMPLOYER_NO_ANSWER_7D, K.EMPLOYER_NO_ANSWER_10D):
        return state == S.APPLIED
    if kind == K.IMMERSION_TOMORROW:
        starts = journey.immersion_starts_on
        return state == S.IMMERSION_SCHEDULED and starts is not None and starts.isoformat() == marker
    if kind == K.TRAINING_STARTS_IN_3D:
        return state == S.COMMITTED and _session_marker(journey) == marker
    contract = journey.contract_start.isoformat() if journey.contract_start else None
    if kind == K.FOLLOW_UP_6M:
        return state == S.HIRED and contract == marker
    if kind == K.FOLLOW_UP_12M:
        return state in (S.HIRED, S.FOLLOWED_UP_6M) and contract == marker
    return state in IDLE_WATCHED and stamp(journey.updated_at) == marker

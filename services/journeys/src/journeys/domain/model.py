"""The journey as the domain sees it: plain data, no I/O.

A journey never holds a person's name, e-mail or phone: people are opaque ids (seeker, employer contact,
training provider contact); personal data lives in the contacts store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tdu_shared.contracts.journeys import JourneyState, Role

OPEN_STATES: frozenset[JourneyState] = frozenset(
    {
        JourneyState.APPLIED,
        JourneyState.IMMERSION_SCHEDULED,
        JourneyState.IMMERSION_DONE,
        JourneyState.PROMISE_SIGNED,
        JourneyState.COMMITMENT_SIGNED,
        JourneyState.COMMITTED,
        JourneyState.TRAINING_STARTED,
        JourneyState.TRAINING_COMPLETED,
    }
)
"""States from which a journey can still be abandoned."""


@dataclass(frozen=True)
class Actor:
    role: Role
    actor_id: str


@dataclass(frozen=True)
class SessionOption:
    """A funded session linked to the offer when the seeker applied."""

    session_id: str
    provider_id: str | None = None
    start_date: date | None = None


@dataclass(frozen=True)
class Step:
    """One line of a journey's history."""

    at: datetime
    action: str
    from_state: JourneyState | None
    to_state: JourneyState
    actor_role: Role | None
    actor_id: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Journey:
    journey_id: str
    offer_id: str
    region: str
    basin: str | None
    seeker_id: str
    state: JourneyState
    created_at: datetime
    updated_at: datetime
    revision: int = 0
    offer_title: str | None = None
    employer_id: str | None = None
    sessions: list[SessionOption] = field(default_factory=list)
    session_id: str | None = None
    provider_id: str | None = None
    immersion_starts_on: date | None = None
    immersion_ends_on: date | None = None
    immersion_place: str | None = None
    immersion_outcome: str | None = None
    promise_signed: bool = False
    commitment_signed: bool = False
    planned_start: date | None = None
    training_started_on: date | None = None
    training_completed_on: date | None = None
    contract_start: date | None = None
    contract_type: str | None = None
    contract_months: int | None = None
    follow_ups: dict[str, bool] = field(default_factory=dict)
    abandoned_at_step: JourneyState | None = None
    abandon_reason: str | None = None
    abandoned_by: Role | None = None
    history: list[Step] = field(default_factory=list)

    def session(self, session_id: str) -> SessionOption | None:
        return next((s for s in self.sessions if s.session_id == session_id), None)

    def reached_at(self, state: JourneyState) -> datetime | None:
        """When the journey first reached ``state`` (None if it never did)."""
        return next((s.at for s in self.history if s.to_state == state), None)

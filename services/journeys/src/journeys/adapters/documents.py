"""Journeys, timers and outbox items to and from plain documents (dates as ISO strings, enums as values)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any

from bson import json_util

from journeys.domain.model import Journey, SessionOption, Step
from journeys.domain.timers import Timer
from tdu_shared.contracts.journeys import JourneyState, ReminderKind, Role

DATE_FIELDS = frozenset(
    {
        "immersion_starts_on",
        "immersion_ends_on",
        "planned_start",
        "training_started_on",
        "training_completed_on",
        "contract_start",
    }
)


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def journey_to_doc(journey: Journey) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for f in fields(journey):
        value = getattr(journey, f.name)
        if f.name in DATE_FIELDS:
            value = value.isoformat() if value else None
        elif f.name == "sessions":
            value = [
                {
                    "session_id": s.session_id,
                    "provider_id": s.provider_id,
                    "start_date": s.start_date.isoformat() if s.start_date else None,
                }
                for s in value
            ]
        elif f.name == "history":
            value = [step_to_doc(s) for s in value]
        elif f.name == "follow_ups":
            value = dict(value)
        doc[f.name] = value
    doc["_id"] = journey.journey_id
    return doc


_TEXT = json_util.JSONOptions(tz_aware=True, tzinfo=UTC, json_mode=json_util.JSONMode.RELAXED)


def journey_to_text(journey: Journey) -> str:
    """A journey as one JSON text (the development store reads one text field far faster than the same
    data as fields: a list page reads 50 of them)."""
    return json_util.dumps(journey_to_doc(journey), json_options=_TEXT, separators=(",", ":"))


def journey_from_text(text: str) -> Journey:
    return journey_from_doc(json_util.loads(text, json_options=_TEXT))


def step_to_doc(step: Step) -> dict[str, Any]:
    return {
        "at": step.at,
        "action": step.action,
        "from_state": step.from_state,
        "to_state": step.to_state,
        "actor_role": step.actor_role,
        "actor_id": step.actor_id,
        "details": dict(step.details),
    }


def journey_from_doc(doc: dict[str, Any]) -> Journey:
    names = {f.name for f in fields(Journey)}
    data = {k: v for k, v in doc.items() if k in names}
    for name in DATE_FIELDS:
        data[name] = _day(data.get(name))
    data["state"] = JourneyState(data["state"])
    data["sessions"] = [
        SessionOption(s["session_id"], s.get("provider_id"), _day(s.get("start_date")))
        for s in data.get("sessions", [])
    ]
    data["history"] = [
        Step(
            s["at"],
            s["action"],
            JourneyState(s["from_state"]) if s.get("from_state") else None,
            JourneyState(s["to_state"]),
            Role(s["actor_role"]) if s.get("actor_role") else None,
            s.get("actor_id"),
            dict(s.get("details") or {}),
        )
        for s in data.get("history", [])
    ]
    if data.get("abandoned_at_step"):
        data["abandoned_at_step"] = JourneyState(data["abandoned_at_step"])
    if data.get("abandoned_by"):
        data["abandoned_by"] = Role(data["abandoned_by"])
    return Journey(**data)


def timer_to_doc(timer: Timer) -> dict[str, Any]:
    return {
        "journey_id": timer.journey_id,
        "kind": timer.kind.value,
        "due_at": timer.due_at,
        "marker": timer.marker,
    }


def timer_from_doc(doc: dict[str, Any]) -> Timer:
    due: datetime = doc["due_at"]
    return Timer(doc["journey_id"], ReminderKind(doc["kind"]), due, doc["marker"])

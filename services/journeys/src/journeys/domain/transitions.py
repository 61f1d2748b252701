"""The journey's state machine as ONE table: from-state x action x allowed roles x guard.

``decide`` checks, in this order: the role may take the action at all (else :class:`RoleRefused`, 403),
the actor is a party to this journey (else :class:`RoleRefused`), the action is allowed from the current
state (else :class:`TransitionRefused` with the actions allowed now, 409), the guard holds (else
:class:`GuardRefused`, 422). It returns the changed journey and the facts to publish.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from journeys.domain.model import OPEN_STATES, Actor, Journey, Step
from tdu_shared.contracts.journeys import JourneyState, Role

S = JourneyState
Params = Mapping[str, Any]
Guard = Callable[[Journey, Params], str | None]
"""Returns why the action is refused, or None when it may go ahead."""


class Action(StrEnum):
    SUBMIT_APPLICATION = "SubmitApplication"
    DECLINE_APPLICATION = "DeclineApplication"
    SCHEDULE_IMMERSION = "ScheduleImmersion"
    RESCHEDULE_IMMERSION = "RescheduleImmersion"
    RECORD_IMMERSION_OUTCOME = "RecordImmersionOutcome"
    SIGN_HIRING_PROMISE = "SignHiringPromise"
    SIGN_TRAINING_COMMITMENT = "SignTrainingCommitment"
    CONFIRM_TRAINING_START = "ConfirmTrainingStart"
    COMPLETE_TRAINING = "CompleteTraining"
    RECORD_HIRE = "RecordHire"
    RECORD_FOLLOW_UP = "RecordFollowUp"
    ABANDON_JOURNEY = "AbandonJourney"
    CORRECT_STEP = "CorrectStep"


SEEKER, EMPLOYER, PROVIDER = Role.SEEKER, Role.EMPLOYER, Role.TRAINING_PROVIDER
OPERATOR, PARTNER = Role.BASIN_OPERATOR, Role.PARTNER_SYSTEM


# ---------------------------------------------------------------- guards


def no_guard(journey: Journey, params: Params) -> str | None:
    return None


def dates_in_order(journey: Journey, params: Params) -> str | None:
    if params["ends_on"] < params["starts_on"]:
        return "l'immersion ne peut pas finir avant de commencer (ends_on < starts_on)"
    return None


def contract_is_eligible(journey: Journey, params: Params) -> str | None:
    """CDI, or CDD of 6 months or more."""
    if params["contract_type"] == "CDD" and (params.get("contract_months") or 0) < 6:
        return "un CDD doit durer au moins 6 mois (contract_months >= 6)"
    return None


def immersion_went_well(journey: Journey, params: Params) -> str | None:
    if journey.immersion_outcome != "positive":
        return "l'immersion n'a pas été concluante : aucun engagement possible"
    return None


def promise_is_valid(journey: Journey, params: Params) -> str | None:
    return immersion_went_well(journey, params) or contract_is_eligible(journey, params)


def session_is_linked(journey: Journey, params: Params) -> str | None:
    if journey.session(params["session_id"]) is None:
        linked = ", ".join(s.session_id for s in journey.sessions) or "aucune"
        return f"la session {params['session_id']} n'est pas liée à cette offre (sessions liées : {linked})"
    return immersion_went_well(journey, params)


def training_ends_after_start(journey: Journey, params: Params) -> str | None:
    started = journey.training_started_on
    if started is not None and params["completed_on"] < started:
        return "la formation ne peut pas finir avant d'avoir commencé"
    return None


def follow_up_of(months: int) -> Guard:
    def guard(journey: Journey, params: Params) -> str | None:
        return None if params["months"] == months else f"suivi attendu à +{months} mois"

    return guard


def changes_state(journey: Journey, params: Params) -> str | None:
    if params["to_state"] == journey.state:
        return "la correction doit changer l'étape du parcours"
    return None


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Transition:
    from_state: JourneyState | None
    action: Action
    roles: frozenset[Role]
    to_state: JourneyState | None
    """None: the state named by the command (a correction)."""
    guard: Guard = no_guard


def _t(frm: S | None, action: Action, roles: set[Role], to: S | None, guard: Guard = no_guard) -> Transition:
    return Transition(frm, action, frozenset(roles), to, guard)


A = Action
TRANSITIONS: tuple[Transition, ...] = (
    _t(None, A.SUBMIT_APPLICATION, {SEEKER, OPERATOR, PARTNER}, S.APPLIED),
    _t(S.APPLIED, A.DECLINE_APPLICATION, {EMPLOYER, OPERATOR, PARTNER}, S.DECLINED),
    _t(S.APPLIED, A.SCHEDULE_IMMERSION, {EMPLOYER, OPERATOR, PARTNER}, S.IMMERSION_SCHEDULED, dates_in_order),
    _t(
        S.IMMERSION_SCHEDULED,
        A.RESCHEDULE_IMMERSION,
        {EMPLOYER, SEEKER, OPERATOR, PARTNER},
        S.IMMERSION_SCHEDULED,
        dates_in_order,
    ),
    _t(S.IMMERSION_SCHEDULED, A.RECORD_IMMERSION_OUTCOME, {EMPLOYER, OPERATOR, PARTNER}, S.IMMERSION_DONE),
    _t(
        S.IMMERSION_DONE,
        A.SIGN_HIRING_PROMISE,
        {EMPLOYER, OPERATOR, PARTNER},
        S.PROMISE_SIGNED,
        promise_is_valid,
    ),
    _t(
        S.COMMITMENT_SIGNED,
        A.SIGN_HIRING_PROMISE,
        {EMPLOYER, OPERATOR, PARTNER},
        S.COMMITTED,
        promise_is_valid,
    ),
    _t(
        S.IMMERSION_DONE,
        A.SIGN_TRAINING_COMMITMENT,
        {SEEKER, OPERATOR, PARTNER},
        S.COMMITMENT_SIGNED,
        session_is_linked,
    ),
    _t(
        S.PROMISE_SIGNED,
        A.SIGN_TRAINING_COMMITMENT,
        {SEEKER, OPERATOR, PARTNER},
        S.COMMITTED,
        session_is_linked,
    ),
    _t(S.COMMITTED, A.CONFIRM_TRAINING_START, {PROVIDER, OPERATOR, PARTNER}, S.TRAINING_STARTED),
    _t(
        S.TRAINING_STARTED,
        A.COMPLETE_TRAINING,
        {PROVIDER, OPERATOR, PARTNER},
        S.TRAINING_COMPLETED,
        training_ends_after_start,
    ),
    _t(S.TRAINING_COMPLETED, A.RECORD_HIRE, {EMPLOYER, OPERATOR, PARTNER}, S.HIRED, contract_is_eligible),
    _t(S.HIRED, A.RECORD_FOLLOW_UP, {EMPLOYER, OPERATOR, PARTNER}, S.FOLLOWED_UP_6M, follow_up_of(6)),
    _t(S.HIRED, A.RECORD_FOLLOW_UP, {EMPLOYER, OPERATOR, PARTNER}, S.FOLLOWED_UP_12M, follow_up_of(12)),
    _t(
        S.FOLLOWED_UP_6M,
        A.RECORD_FOLLOW_UP,
        {EMPLOYER, OPERATOR, PARTNER},
        S.FOLLOWED_UP_12M,
        follow_up_of(12),
    ),
    *(
        _t(state, A.ABANDON_JOURNEY, {SEEKER, EMPLOYER, PROVIDER, OPERATOR, PARTNER}, S.ABANDONED)
        for state in sorted(OPEN_STATES)
    ),
    *(_t(state, A.CORRECT_STEP, {OPERATOR}, None, changes_state) for state in S),
)

ROLES_OF_ACTION: dict[Action, frozenset[Role]] = {
    action: frozenset().union(*(t.roles for t in TRANSITIONS if t.action == action)) for action in Action
}


# ---------------------------------------------------------------- refusals


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RoleRefused(Refused):
    """The actor's role may not take this action, or the actor is not a party to this journey (403)."""


class TransitionRefused(Refused):
    """The action is not allowed from the journey's state (409); ``allowed`` lists what is."""

    def __init__(self, reason: str, allowed: list[str]) -> None:
        super().__init__(reason)
        self.allowed = allowed


class GuardRefused(Refused):
    """The action is allowed from this state, but its content breaks a rule (422)."""


def allowed_actions(state: JourneyState, role: Role | None = None) -> list[str]:
    """Actions allowed now from ``state`` (for ``role`` when given), in table order, without repeats."""
    found = [
        t.action.value for t in TRANSITIONS if t.from_state == state and (role is None or role in t.roles)
    ]
    return list(dict.fromkeys(found))


def check_party(journey: Journey, actor: Actor) -> None:
    """Seekers, employers and providers act only on their own journeys."""
    own = {SEEKER: journey.seeker_id, EMPLOYER: journey.employer_id, PROVIDER: journey.provider_id}
    if actor.role in own and own[actor.role] != actor.actor_id:
        raise RoleRefused(f"{actor.role.value} {actor.actor_id} n'est pas partie à ce parcours")


def transition_for(journey: Journey, action: Action, actor: Actor, params: Params) -> Transition:
    if actor.role not in ROLES_OF_ACTION[action]:
        raise RoleRefused(f"le rôle {actor.role.value} ne peut pas faire {action.value}")
    check_party(journey, actor)
    candidates = [t for t in TRANSITIONS if t.from_state == journey.state and t.action == action]
    if not candidates:
        raise TransitionRefused(
            f"{action.value} impossible à l'étape {journey.state.value}",
            allowed_actions(journey.state, actor.role),
        )
    refusals = []
    for candidate in candidates:
        if actor.role not in candidate.roles:
            raise RoleRefused(f"le rôle {actor.role.value} ne peut pas faire {action.value} ici")
        reason = candidate.guard(journey, params)
        if reason is None:
            return candidate
        refusals.append(reason)
    raise GuardRefused("; ".join(refusals))


# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class Fact:
    """An event to publish, before it becomes a contract: type, from/to state and its own fields."""

    event_type: str
    from_state: JourneyState | None
    to_state: JourneyState
    fields: dict[str, Any] = field(default_factory=dict)


EVENT_OF: dict[Action, tuple[str, tuple[str, ...]]] = {
    A.SUBMIT_APPLICATION: ("ApplicationSubmitted", ()),
    A.DECLINE_APPLICATION: ("ApplicationDeclined", ("reason",)),
    A.SCHEDULE_IMMERSION: ("ImmersionScheduled", ("starts_on", "ends_on", "place")),
    A.RESCHEDULE_IMMERSION: ("ImmersionRescheduled", ("starts_on", "ends_on", "place", "reason")),
    A.RECORD_IMMERSION_OUTCOME: ("ImmersionCompleted", ("outcome",)),
    A.SIGN_HIRING_PROMISE: (
        "HiringPromiseSigned",
        ("contract_type", "contract_months", "planned_start", "position"),
    ),
    A.SIGN_TRAINING_COMMITMENT: ("TrainingCommitmentSigned", ()),
    A.CONFIRM_TRAINING_START: ("TrainingStarted", ("started_on",)),
    A.COMPLETE_TRAINING: ("TrainingCompleted", ("completed_on", "certified")),
    A.RECORD_HIRE: ("SeekerHired", ("contract_start", "contract_type", "contract_months")),
    A.RECORD_FOLLOW_UP: ("FollowUpRecorded", ("months", "employed")),
    A.ABANDON_JOURNEY: ("JourneyAbandoned", ("reason",)),
    A.CORRECT_STEP: ("StepCorrected", ("reason",)),
}

HISTORY_DETAILS: frozenset[str] = frozenset(
    {
        "reason",
        "starts_on",
        "ends_on",
        "place",
        "outcome",
        "contract_type",
        "contract_months",
        "planned_start",
        "position",
        "session_id",
        "started_on",
        "completed_on",
        "certified",
        "contract_start",
        "months",
        "employed",
    }
)
"""Command fields kept in the history: never personal data (names, e-mail, phone, free notes)."""

PROMISE_OR_LATER = frozenset(
    {
        S.PROMISE_SIGNED,
        S.COMMITTED,
        S.TRAINING_STARTED,
        S.TRAINING_COMPLETED,
        S.HIRED,
        S.FOLLOWED_UP_6M,
        S.FOLLOWED_UP_12M,
    }
)
COMMITMENT_OR_LATER = (PROMISE_OR_LATER - {S.PROMISE_SIGNED}) | {S.COMMITMENT_SIGNED}


def _apply(journey: Journey, action: Action, actor: Actor, params: Params, to_state: JourneyState) -> None:
    p = params
    if action in (A.SCHEDULE_IMMERSION, A.RESCHEDULE_IMMERSION):
        journey.immersion_starts_on, journey.immersion_ends_on = p["starts_on"], p["ends_on"]
        journey.immersion_place = p["place"]
    elif action == A.RECORD_IMMERSION_OUTCOME:
        journey.immersion_outcome = p["outcome"]
    elif action == A.SIGN_HIRING_PROMISE:
        journey.promise_signed = True
        journey.contract_type, journey.contract_months = p["contract_type"], p.get("contract_months")
        journey.planned_start = p["planned_start"]
    elif action == A.SIGN_TRAINING_COMMITMENT:
        journey.commitment_signed = True
        chosen = journey.session(p["session_id"])
        journey.session_id = p["session_id"]
        journey.provider_id = chosen.provider_id if chosen else None
    elif action == A.CONFIRM_TRAINING_START:
        journey.training_started_on = p["started_on"]
    elif action == A.COMPLETE_TRAINING:
        journey.training_completed_on = p["completed_on"]
    elif action == A.RECORD_HIRE:
        journey.contract_start = p["contract_start"]
        journey.contract_type, journey.contract_months = p["contract_type"], p.get("contract_months")
    elif action == A.RECORD_FOLLOW_UP:
        journey.follow_ups[str(p["months"])] = bool(p["employed"])
    elif action == A.ABANDON_JOURNEY:
        journey.abandoned_at_step, journey.abandon_reason, journey.abandoned_by = (
            journey.state,
            p["reason"],
            actor.role,
        )
    elif action == A.CORRECT_STEP:
        journey.promise_signed = to_state in PROMISE_OR_LATER
        journey.commitment_signed = to_state in COMMITMENT_OR_LATER


@dataclass(frozen=True)
class Decision:
    journey: Journey
    facts: list[Fact]


def decide(journey: Journey, action: Action, actor: Actor, params: Params, now: datetime) -> Decision:
    """Apply ``action`` to a copy of ``journey``: the new journey and the facts to publish."""
    transition = transition_for(journey, action, actor, params)
    to_state = transition.to_state or JourneyState(params["to_state"])
    after = copy.deepcopy(journey)
    _apply(after, action, actor, params, to_state)
    from_state = journey.state
    after.state, after.updated_at = to_state, now
    after.history.append(
        Step(
            now,
            action.value,
            from_state,
            to_state,
            actor.role,
            actor.actor_id,
            {k: _plain(v) for k, v in params.items() if k in HISTORY_DETAILS and v is not None},
        )
    )
    event_type, names = EVENT_OF[action]
    facts = [Fact(event_type, from_state, to_state, {n: params.get(n) for n in names})]
    if to_state == S.COMMITTED and action in (A.SIGN_HIRING_PROMISE, A.SIGN_TRAINING_COMMITMENT):
        facts.append(Fact("JourneyCommitted", from_state, to_state))
    return Decision(after, facts)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def start(journey: Journey, actor: Actor, now: datetime) -> Decision:
    """A new journey: the application itself (the caller checked the offer is eligible)."""
    if actor.role not in ROLES_OF_ACTION[A.SUBMIT_APPLICATION]:
        raise RoleRefused(f"le rôle {actor.role.value} ne peut pas candidater")
    if actor.role == SEEKER and actor.actor_id != journey.seeker_id:
        raise RoleRefused("un candidat ne peut candidater que pour lui-même")
    journey.state, journey.created_at, journey.updated_at = S.APPLIED, now, now
    journey.history = [Step(now, A.SUBMIT_APPLICATION.value, None, S.APPLIED, actor.role, actor.actor_id)]
    fact = Fact("ApplicationSubmitted", None, S.APPLIED, {"offer_title": journey.offer_title})
    return Decision(journey, [fact])

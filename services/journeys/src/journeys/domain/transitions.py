"""The journey's state machine: each action defined once, in :data:`DEFINITIONS`.

An action's definition holds who may take it, from which state to which (each move with its guard, which
reads the action's typed command),
the event it publishes and the command fields that event carries, what the history keeps, what it
changes in the journey, and its HTTP path. The transition table, the events, the history and the HTTP
routes are derived from it: adding or changing an action is one entry there (its command and event
contracts live in ``tdu_shared.contracts.journeys``).

``decide`` checks, in this order: the role may take the action at all (else :class:`RoleRefused`, 403),
the actor is a party to this journey (else :class:`RoleRefused`), the action is allowed from the current
state (else :class:`TransitionRefused` with the actions allowed now, 409), the guard holds (else
:class:`GuardRefused`, 422). It returns the changed journey and the facts to publish.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from journeys.domain.model import OPEN_STATES, Actor, Journey, Step
from tdu_shared.contracts import journeys as contracts
from tdu_shared.contracts.journeys import JourneyState, Role

S = JourneyState
C = contracts
Guard = Callable[[Journey, Any], str | None]
"""Returns why the action is refused, or None when it may go ahead. A guard takes the journey and the
action's command, typed (``tdu_shared.contracts.journeys``): each guard names the commands it reads."""


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


def no_guard(journey: Journey, command: C.OnJourney) -> str | None:
    return None


def dates_in_order(journey: Journey, command: C.ScheduleImmersion) -> str | None:
    if command.ends_on < command.starts_on:
        return "l'immersion ne peut pas finir avant de commencer (ends_on < starts_on)"
    return None


def moves_the_immersion(journey: Journey, command: C.RescheduleImmersion) -> str | None:
    planned = (journey.immersion_starts_on, journey.immersion_ends_on, journey.immersion_place)
    if (command.starts_on, command.ends_on, command.place) == planned:
        return "le report doit changer les dates ou le lieu de l'immersion"
    return dates_in_order(journey, command)


def contract_is_eligible(journey: Journey, command: C.SignHiringPromise | C.RecordHire) -> str | None:
    """CDI, or CDD of 6 months or more."""
    if command.contract_type == "CDD" and (command.contract_months or 0) < 6:
        return "un CDD doit durer au moins 6 mois (contract_months >= 6)"
    return None


def immersion_went_well(journey: Journey, command: C.OnJourney) -> str | None:
    if journey.immersion_outcome != "positive":
        return "l'immersion n'a pas été concluante : aucun engagement possible"
    return None


def immersion_went_badly(journey: Journey, command: C.DeclineApplication) -> str | None:
    if journey.immersion_outcome == "positive":
        return "l'immersion a été concluante : signez la promesse d'embauche ou abandonnez le parcours"
    return None


def promise_is_valid(journey: Journey, command: C.SignHiringPromise) -> str | None:
    return immersion_went_well(journey, command) or contract_is_eligible(journey, command)


def session_is_linked(journey: Journey, command: C.SignTrainingCommitment) -> str | None:
    if journey.session(command.session_id) is None:
        linked = ", ".join(s.session_id for s in journey.sessions) or "aucune"
        return f"la session {command.session_id} n'est pas liée à cette offre (sessions liées : {linked})"
    return immersion_went_well(journey, command)


def training_ends_after_start(journey: Journey, command: C.CompleteTraining) -> str | None:
    started = journey.training_started_on
    if started is not None and command.completed_on < started:
        return "la formation ne peut pas finir avant d'avoir commencé"
    return None


def follow_up_of(months: int) -> Guard:
    def guard(journey: Journey, command: C.RecordFollowUp) -> str | None:
        return None if command.months == months else f"suivi attendu à +{months} mois"

    return guard


def changes_state(journey: Journey, command: C.CorrectStep) -> str | None:
    if command.to_state == journey.state:
        return "la correction doit changer l'étape du parcours"
    return None


# ---------------------------------------------------------------- effects on the journey

Effect = Callable[[Journey, Any, Actor, JourneyState], None]
"""What an action changes in the journey besides its state (journey, typed command, actor, new state)."""


def no_effect(journey: Journey, command: C.OnJourney, actor: Actor, to_state: JourneyState) -> None:
    return None


def immersion_planned(journey: Journey, command: C.ScheduleImmersion, actor: Actor, to_state: S) -> None:
    journey.immersion_starts_on, journey.immersion_ends_on = command.starts_on, command.ends_on
    journey.immersion_place = command.place


def immersion_done(journey: Journey, command: C.RecordImmersionOutcome, actor: Actor, to_state: S) -> None:
    journey.immersion_outcome = command.outcome


def promise_signed(journey: Journey, command: C.SignHiringPromise, actor: Actor, to_state: S) -> None:
    journey.promise_signed = True
    journey.contract_type, journey.contract_months = command.contract_type, command.contract_months
    journey.planned_start = command.planned_start


def commitment_signed(journey: Journey, command: C.SignTrainingCommitment, actor: Actor, to_state: S) -> None:
    journey.commitment_signed = True
    chosen = journey.session(command.session_id)
    journey.session_id = command.session_id
    journey.provider_id = chosen.provider_id if chosen else None


def training_started(journey: Journey, command: C.ConfirmTrainingStart, actor: Actor, to_state: S) -> None:
    journey.training_started_on = command.started_on


def training_completed(journey: Journey, command: C.CompleteTraining, actor: Actor, to_state: S) -> None:
    journey.training_completed_on = command.completed_on


def hired(journey: Journey, command: C.RecordHire, actor: Actor, to_state: S) -> None:
    journey.contract_start = command.contract_start
    journey.contract_type, journey.contract_months = command.contract_type, command.contract_months


def followed_up(journey: Journey, command: C.RecordFollowUp, actor: Actor, to_state: S) -> None:
    journey.follow_ups[str(command.months)] = bool(command.employed)


def abandoned(journey: Journey, command: C.AbandonJourney, actor: Actor, to_state: S) -> None:
    journey.abandoned_at_step, journey.abandon_reason = journey.state, command.reason
    journey.abandoned_by = actor.role


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


def corrected(journey: Journey, command: C.CorrectStep, actor: Actor, to_state: S) -> None:
    journey.promise_signed = to_state in PROMISE_OR_LATER
    journey.commitment_signed = to_state in COMMITMENT_OR_LATER


# ---------------------------------------------------------------- the actions, each defined once


@dataclass(frozen=True)
class Move:
    """From a state to another (None as ``to``: the state named by the command, a correction)."""

    from_state: JourneyState | None
    to_state: JourneyState | None
    guard: Guard = no_guard


@dataclass(frozen=True)
class ActionDefinition:
    """Everything about one action: who, from where to where, under which rule, what it publishes,
    what the history keeps, what it changes, and where the HTTP API takes it."""

    action: Action
    roles: frozenset[Role]
    moves: tuple[Move, ...]
    event: type[contracts.JourneyEvent]
    carries: tuple[str, ...] = ()
    """Command fields the event carries, and the history keeps (unless ``history`` says otherwise)."""
    effect: Effect = no_effect
    path: str | None = None
    """``POST /journeys/{id}/<path>``; None for the application, which makes the journey."""
    history: tuple[str, ...] | None = None
    """Command fields the history keeps: never personal data (names, e-mail, phone, free notes)."""
    commits: bool = False
    """Reaching ``committed`` this way also publishes JourneyCommitted."""

    @property
    def kept(self) -> tuple[str, ...]:
        return self.carries if self.history is None else self.history


def _d(
    action: Action, roles: set[Role], moves: list[Move], event: type[contracts.JourneyEvent], **rest: Any
) -> ActionDefinition:
    return ActionDefinition(action, frozenset(roles), tuple(moves), event, **rest)


A, M = Action, Move
DEFINITIONS: tuple[ActionDefinition, ...] = (
    _d(
        A.SUBMIT_APPLICATION,
        {SEEKER, OPERATOR, PARTNER},
        [M(None, S.APPLIED)],
        contracts.ApplicationSubmitted,
    ),
    _d(
        A.DECLINE_APPLICATION,
        {EMPLOYER, OPERATOR, PARTNER},
        [M(S.APPLIED, S.DECLINED), M(S.IMMERSION_DONE, S.DECLINED, immersion_went_badly)],
        contracts.ApplicationDeclined,
        carries=("reason",),
        path="decline",
    ),
    _d(
        A.SCHEDULE_IMMERSION,
        {EMPLOYER, OPERATOR, PARTNER},
        [M(S.APPLIED, S.IMMERSION_SCHEDULED, dates_in_order)],
        contracts.ImmersionScheduled,
        carries=("starts_on", "ends_on", "place"),
        effect=immersion_planned,
        path="schedule-immersion",
    ),
    _d(
        A.RESCHEDULE_IMMERSION,
        {EMPLOYER, SEEKER, OPERATOR, PARTNER},
        [M(S.IMMERSION_SCHEDULED, S.IMMERSION_SCHEDULED, moves_the_immersion)],
        contracts.ImmersionRescheduled,
        carries=("starts_on", "ends_on", "place", "reason"),
        effect=immersion_planned,
        path="reschedule-immersion",
    ),
    _d(
        A.RECORD_IMMERSION_OUTCOME,
        {EMPLOYER, OPERATOR, PARTNER},
        [M(S.IMMERSION_SCHEDULED, S.IMMERSION_DONE)],
        contracts.ImmersionCompleted,
        carries=("outcome",),
        effect=immersion_done,
        path="immersion-outcome",
    ),
    _d(
        A.SIGN_HIRING_PROMISE,
        {EMPLOYER, OPERATOR, PARTNER},
        [
            M(S.IMMERSION_DONE, S.PROMISE_SIGNED, promise_is_valid),
            M(S.COMMITMENT_SIGNED, S.COMMITTED, promise_is_valid),
        ],
        contracts.HiringPromiseSigned,
        carries=("contract_type", "contract_months", "planned_start", "position"),
        effect=promise_signed,
        path="hiring-promise",
        commits=True,
    ),
    _d(
        A.SIGN_TRAINING_COMMITMENT,
        {SEEKER, OPERATOR, PARTNER},
        [
            M(S.IMMERSION_DONE, S.COMMITMENT_SIGNED, session_is_linked),
            M(S.PROMISE_SIGNED, S.COMMITTED, session_is_linked),
        ],
        contracts.TrainingCommitmentSigned,
        history=("session_id",),
        effect=commitment_signed,
        path="training-commitment",
        commits=True,
    ),
    _d(
        A.CONFIRM_TRAINING_START,
        {PROVIDER, OPERATOR, PARTNER},
        [M(S.COMMITTED, S.TRAINING_STARTED)],
        contracts.TrainingStarted,
        carries=("started_on",),
        effect=training_started,
        path="training-start",
    ),
    _d(
        A.COMPLETE_TRAINING,
        {PROVIDER, OPERATOR, PARTNER},
        [M(S.TRAINING_STARTED, S.TRAINING_COMPLETED, training_ends_after_start)],
        contracts.TrainingCompleted,
        carries=("completed_on", "certified"),
        effect=training_completed,
        path="training-completion",
    ),
    _d(
        A.RECORD_HIRE,
        {EMPLOYER, OPERATOR, PARTNER},
        [M(S.TRAINING_COMPLETED, S.HIRED, contract_is_eligible)],
        contracts.SeekerHired,
        carries=("contract_start", "contract_type", "contract_months"),
        effect=hired,
        path="hire",
    ),
    _d(
        A.RECORD_FOLLOW_UP,
        {EMPLOYER, OPERATOR, PARTNER},
        [
            M(S.HIRED, S.FOLLOWED_UP_6M, follow_up_of(6)),
            M(S.HIRED, S.FOLLOWED_UP_12M, follow_up_of(12)),
            M(S.FOLLOWED_UP_6M, S.FOLLOWED_UP_12M, follow_up_of(12)),
        ],
        contracts.FollowUpRecorded,
        carries=("months", "employed"),
        effect=followed_up,
        path="follow-up",
    ),
    _d(
        A.ABANDON_JOURNEY,
        {SEEKER, EMPLOYER, PROVIDER, OPERATOR, PARTNER},
        [M(state, S.ABANDONED) for state in sorted(OPEN_STATES)],
        contracts.JourneyAbandoned,
        carries=("reason",),
        effect=abandoned,
        path="abandon",
    ),
    _d(
        A.CORRECT_STEP,
        {OPERATOR},
        [M(state, None, changes_state) for state in S],
        contracts.StepCorrected,
        carries=("reason",),
        effect=corrected,
        path="correction",
    ),
)
DEFINITION: dict[Action, ActionDefinition] = {d.action: d for d in DEFINITIONS}


# ---------------------------------------------------------------- the table, derived


@dataclass(frozen=True)
class Transition:
    from_state: JourneyState | None
    action: Action
    roles: frozenset[Role]
    to_state: JourneyState | None
    """None: the state named by the command (a correction)."""
    guard: Guard = no_guard


TRANSITIONS: tuple[Transition, ...] = tuple(
    Transition(m.from_state, d.action, d.roles, m.to_state, m.guard) for d in DEFINITIONS for m in d.moves
)
ACTION_PATHS: dict[Action, str] = {d.action: d.path for d in DEFINITIONS if d.path}
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


def check_scope(basin: str | None, within: frozenset[str] | None) -> None:
    """Operators and partner keys limited to some basins act only on journeys of those basins."""
    if within is not None and basin not in within:
        raise RoleRefused(f"hors de votre périmètre : bassin {basin or 'inconnu'}")


def transition_for(journey: Journey, action: Action, actor: Actor, command: C.OnJourney) -> Transition:
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
        reason = candidate.guard(journey, command)
        if reason is None:
            return candidate
        refusals.append(reason)
    raise GuardRefused("; ".join(refusals))


# ---------------------------------------------------------------- deciding


@dataclass(frozen=True)
class Fact:
    """An event to publish, before it becomes a contract: type, from/to state and its own fields."""

    event_type: str
    from_state: JourneyState | None
    to_state: JourneyState
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    journey: Journey
    facts: list[Fact]


def decide(journey: Journey, action: Action, actor: Actor, command: C.OnJourney, now: datetime) -> Decision:
    """Apply ``action`` (its typed ``command``) to a copy of ``journey``: the new journey and the facts to
    publish."""
    transition, definition = transition_for(journey, action, actor, command), DEFINITION[action]
    to_state = transition.to_state
    if to_state is None:  # a correction: the state its command names
        assert isinstance(command, C.CorrectStep)
        to_state = command.to_state
    after = copy.deepcopy(journey)
    definition.effect(after, command, actor, to_state)
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
            {k: _plain(v) for k in definition.kept if (v := getattr(command, k, None)) is not None},
        )
    )
    carried = {n: getattr(command, n, None) for n in definition.carries}
    facts = [Fact(definition.event.event_type, from_state, to_state, carried)]
    if to_state == S.COMMITTED and definition.commits:
        facts.append(Fact(contracts.JourneyCommitted.event_type, from_state, to_state))
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
    fact = Fact(
        contracts.ApplicationSubmitted.event_type, None, S.APPLIED, {"offer_title": journey.offer_title}
    )
    return Decision(journey, [fact])

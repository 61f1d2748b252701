"""Every row of the transition table, allowed and refused, and every guard."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, get_args, get_type_hints

import pytest

from journeys.domain import transitions
from journeys.domain.model import OPEN_STATES, Actor, Journey, SessionOption
from journeys.domain.transitions import (
    DEFINITIONS,
    ROLES_OF_ACTION,
    TRANSITIONS,
    Action,
    Decision,
    GuardRefused,
    RoleRefused,
    Transition,
    TransitionRefused,
    allowed_actions,
)
from journeys.testing import ACTOR_IDS, EMPLOYER_ID, PROVIDER_ID, SEEKER_ID
from tdu_shared.contracts.journeys import JourneyState, Role
from tdu_shared.envelope import model_for

S, A = JourneyState, Action
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def journey_in(state: JourneyState, **changes: Any) -> Journey:
    journey = Journey(
        journey_id="00000000-0000-0000-0000-000000000001",
        offer_id="OFFER-1",
        region="44",
        basin="4410",
        seeker_id=SEEKER_ID,
        state=state,
        created_at=NOW,
        updated_at=NOW,
        revision=3,
        employer_id=EMPLOYER_ID,
        sessions=[SessionOption("S1", PROVIDER_ID, date(2027, 3, 1))],
        provider_id=PROVIDER_ID,
        immersion_outcome="positive",
        training_started_on=date(2027, 3, 1),
    )
    for name, value in changes.items():
        setattr(journey, name, value)
    return journey


def decide(journey: Journey, action: Action, actor: Actor, params: dict[str, Any], now: datetime) -> Decision:
    """The action's typed command made of these fields, decided."""
    command = model_for(action.value)(
        command_id="c-1",
        journey_id=journey.journey_id,
        actor_role=actor.role,
        actor_id=actor.actor_id,
        **params,
    )
    return transitions.decide(journey, action, actor, command, now)


def test_each_guard_and_effect_reads_the_command_of_its_action() -> None:
    for definition in DEFINITIONS[1:]:  # the application makes the journey: no command on one
        command = model_for(definition.action.value)
        readers = [definition.effect, *(m.guard for m in definition.moves)]
        for reader in readers:
            [hint] = [h for n, h in get_type_hints(reader).items() if n == "command"]
            accepted = get_args(hint) or (hint,)
            assert any(issubclass(command, a) for a in accepted), (definition.action, reader.__name__, hint)


def valid_params(t: Transition) -> dict[str, Any]:
    day = date(2027, 2, 1)
    base: dict[Action, dict[str, Any]] = {
        A.DECLINE_APPLICATION: {"reason": "poste pourvu"},
        A.SCHEDULE_IMMERSION: {"starts_on": day, "ends_on": date(2027, 2, 3), "place": "Metz"},
        A.RESCHEDULE_IMMERSION: {
            "starts_on": day,
            "ends_on": date(2027, 2, 3),
            "place": "Metz",
            "reason": "grève",
        },
        A.RECORD_IMMERSION_OUTCOME: {"outcome": "positive", "comment": None},
        A.SIGN_HIRING_PROMISE: {
            "contract_type": "CDI",
            "contract_months": None,
            "planned_start": date(2027, 9, 1),
            "position": "Soudeur",
        },
        A.SIGN_TRAINING_COMMITMENT: {"session_id": "S1"},
        A.CONFIRM_TRAINING_START: {"started_on": date(2027, 3, 1)},
        A.COMPLETE_TRAINING: {"completed_on": date(2027, 8, 1), "certified": True},
        A.RECORD_HIRE: {"contract_start": date(2027, 9, 1), "contract_type": "CDD", "contract_months": 6},
        A.RECORD_FOLLOW_UP: {"months": 6 if t.to_state == S.FOLLOWED_UP_6M else 12, "employed": True},
        A.ABANDON_JOURNEY: {"reason": "déménagement"},
        A.CORRECT_STEP: {
            "to_state": S.APPLIED if t.from_state != S.APPLIED else S.DECLINED,
            "reason": "erreur de saisie",
        },
    }
    return base[t.action]


ALLOWED = [
    pytest.param(t, role, id=f"{t.from_state}-{t.action}-{t.to_state}-{role}")
    for t in TRANSITIONS
    if t.from_state is not None
    for role in sorted(t.roles)
]


@pytest.mark.parametrize(("transition", "role"), ALLOWED)
def test_every_allowed_transition_reaches_its_state(transition: Transition, role: Role) -> None:
    assert transition.from_state is not None
    declining_after_immersion = (transition.action, transition.from_state) == (
        A.DECLINE_APPLICATION,
        S.IMMERSION_DONE,
    )
    journey = journey_in(
        transition.from_state, **({"immersion_outcome": "negative"} if declining_after_immersion else {})
    )
    params = valid_params(transition)

    decision = decide(journey, transition.action, Actor(role, ACTOR_IDS[role]), params, NOW)

    expected = transition.to_state or params["to_state"]
    assert decision.journey.state == expected
    assert decision.facts[0].from_state == transition.from_state
    assert decision.facts[0].to_state == expected
    assert decision.journey.history[-1].actor_role == role
    assert journey.state == transition.from_state, "decide works on a copy"


REFUSED = [
    pytest.param(state, action, id=f"{state}-{action}")
    for state in S
    for action in Action
    if action != A.SUBMIT_APPLICATION
    and not any(t.from_state == state and t.action == action for t in TRANSITIONS)
]


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_every_action_outside_the_table_is_refused_with_the_actions_allowed_now(
    state: JourneyState, action: Action
) -> None:
    operator = Actor(Role.BASIN_OPERATOR, "O1")
    fake_t = Transition(state, action, frozenset(), S.APPLIED)
    with pytest.raises(TransitionRefused) as refused:
        decide(journey_in(state), action, operator, valid_params(fake_t), NOW)
    assert refused.value.allowed == allowed_actions(state, Role.BASIN_OPERATOR)
    assert "CorrectStep" in refused.value.allowed


WRONG_ROLES = [
    pytest.param(action, role, id=f"{action}-{role}")
    for action in Action
    if action != A.SUBMIT_APPLICATION
    for role in Role
    if role not in ROLES_OF_ACTION[action]
]


@pytest.mark.parametrize(("action", "role"), WRONG_ROLES)
def test_a_role_outside_the_table_is_forbidden(action: Action, role: Role) -> None:
    t = next(t for t in TRANSITIONS if t.action == action)
    assert t.from_state is not None
    with pytest.raises(RoleRefused):
        decide(journey_in(t.from_state), action, Actor(role, ACTOR_IDS[role]), valid_params(t), NOW)


@pytest.mark.parametrize("role", [Role.SEEKER, Role.EMPLOYER, Role.TRAINING_PROVIDER])
def test_a_party_cannot_act_on_someone_elses_journey(role: Role) -> None:
    with pytest.raises(RoleRefused):
        decide(journey_in(S.APPLIED), A.ABANDON_JOURNEY, Actor(role, "someone-else"), {"reason": "x"}, NOW)


def test_employer_of_another_offer_cannot_decline() -> None:
    with pytest.raises(RoleRefused):
        decide(journey_in(S.APPLIED), A.DECLINE_APPLICATION, Actor(Role.EMPLOYER, "E2"), {"reason": "x"}, NOW)


PROMISE = {"contract_type": "CDD", "planned_start": date(2027, 9, 1), "position": "Soudeur"}
EMPLOYER = Actor(Role.EMPLOYER, EMPLOYER_ID)
SEEKER = Actor(Role.SEEKER, SEEKER_ID)


def test_cdd_of_three_months_is_not_a_valid_hiring_promise() -> None:
    with pytest.raises(GuardRefused, match="6 mois"):
        decide(
            journey_in(S.IMMERSION_DONE),
            A.SIGN_HIRING_PROMISE,
            EMPLOYER,
            {**PROMISE, "contract_months": 3},
            NOW,
        )


def test_cdd_of_six_months_is_a_valid_hiring_promise() -> None:
    decision = decide(
        journey_in(S.IMMERSION_DONE), A.SIGN_HIRING_PROMISE, EMPLOYER, {**PROMISE, "contract_months": 6}, NOW
    )
    assert decision.journey.state == S.PROMISE_SIGNED and decision.journey.promise_signed


def test_hire_on_a_short_cdd_is_refused() -> None:
    params = {"contract_start": date(2027, 9, 1), "contract_type": "CDD", "contract_months": 2}
    with pytest.raises(GuardRefused):
        decide(journey_in(S.TRAINING_COMPLETED), A.RECORD_HIRE, EMPLOYER, params, NOW)


def test_no_commitment_after_a_negative_immersion() -> None:
    journey = journey_in(S.IMMERSION_DONE, immersion_outcome="negative")
    with pytest.raises(GuardRefused, match="concluante"):
        decide(journey, A.SIGN_TRAINING_COMMITMENT, SEEKER, {"session_id": "S1"}, NOW)
    with pytest.raises(GuardRefused):
        decide(journey, A.SIGN_HIRING_PROMISE, EMPLOYER, {**PROMISE, "contract_type": "CDI"}, NOW)


def test_commitment_to_a_session_not_linked_to_the_offer_is_refused() -> None:
    with pytest.raises(GuardRefused, match="S9"):
        decide(journey_in(S.IMMERSION_DONE), A.SIGN_TRAINING_COMMITMENT, SEEKER, {"session_id": "S9"}, NOW)


def test_immersion_ending_before_it_starts_is_refused() -> None:
    params = {"starts_on": date(2027, 2, 3), "ends_on": date(2027, 2, 1), "place": "Metz"}
    with pytest.raises(GuardRefused):
        decide(journey_in(S.APPLIED), A.SCHEDULE_IMMERSION, EMPLOYER, params, NOW)


def test_a_reschedule_that_moves_nothing_is_refused_and_one_that_moves_the_place_goes_ahead() -> None:
    planned = {"immersion_starts_on": date(2027, 2, 1), "immersion_ends_on": date(2027, 2, 3)}
    journey = journey_in(S.IMMERSION_SCHEDULED, immersion_place="Metz", **planned)
    same = {"starts_on": date(2027, 2, 1), "ends_on": date(2027, 2, 3), "place": "Metz", "reason": "oubli"}
    with pytest.raises(GuardRefused, match="changer les dates ou le lieu"):
        decide(journey, A.RESCHEDULE_IMMERSION, SEEKER, same, NOW)
    moved = decide(journey, A.RESCHEDULE_IMMERSION, SEEKER, {**same, "place": "Thionville"}, NOW)
    assert moved.journey.immersion_place == "Thionville"
    backwards = {**same, "ends_on": date(2027, 1, 30)}
    with pytest.raises(GuardRefused, match="finir avant de commencer"):
        decide(journey, A.RESCHEDULE_IMMERSION, SEEKER, backwards, NOW)


def test_training_cannot_end_before_it_started() -> None:
    provider = Actor(Role.TRAINING_PROVIDER, PROVIDER_ID)
    with pytest.raises(GuardRefused):
        decide(
            journey_in(S.TRAINING_STARTED),
            A.COMPLETE_TRAINING,
            provider,
            {"completed_on": date(2027, 1, 1)},
            NOW,
        )


def test_twelve_month_follow_up_is_refused_once_recorded() -> None:
    with pytest.raises(TransitionRefused):
        decide(
            journey_in(S.FOLLOWED_UP_12M), A.RECORD_FOLLOW_UP, EMPLOYER, {"months": 12, "employed": True}, NOW
        )


def test_six_month_follow_up_after_the_six_month_one_is_refused() -> None:
    with pytest.raises(GuardRefused):
        decide(
            journey_in(S.FOLLOWED_UP_6M), A.RECORD_FOLLOW_UP, EMPLOYER, {"months": 6, "employed": True}, NOW
        )


def test_correction_must_change_the_step() -> None:
    operator = Actor(Role.BASIN_OPERATOR, "O1")
    with pytest.raises(GuardRefused):
        decide(journey_in(S.HIRED), A.CORRECT_STEP, operator, {"to_state": S.HIRED, "reason": "x"}, NOW)


def test_correction_back_before_the_promise_clears_the_signatures() -> None:
    operator = Actor(Role.BASIN_OPERATOR, "O1")
    journey = journey_in(S.COMMITTED, promise_signed=True, commitment_signed=True)
    decision = decide(
        journey, A.CORRECT_STEP, operator, {"to_state": S.IMMERSION_DONE, "reason": "erreur"}, NOW
    )
    assert (decision.journey.promise_signed, decision.journey.commitment_signed) == (False, False)
    assert decision.facts[0].event_type == "StepCorrected"


def test_second_signature_commits_the_journey_and_says_so() -> None:
    decision = decide(
        journey_in(S.PROMISE_SIGNED, promise_signed=True),
        A.SIGN_TRAINING_COMMITMENT,
        SEEKER,
        {"session_id": "S1"},
        NOW,
    )
    assert decision.journey.state == S.COMMITTED
    assert [f.event_type for f in decision.facts] == ["TrainingCommitmentSigned", "JourneyCommitted"]
    assert decision.journey.session_id == "S1" and decision.journey.provider_id == PROVIDER_ID


def test_abandonment_records_who_why_and_at_which_step() -> None:
    decision = decide(
        journey_in(S.IMMERSION_SCHEDULED), A.ABANDON_JOURNEY, SEEKER, {"reason": "déménagement"}, NOW
    )
    j = decision.journey
    assert (j.state, j.abandoned_at_step, j.abandon_reason, j.abandoned_by) == (
        S.ABANDONED,
        S.IMMERSION_SCHEDULED,
        "déménagement",
        Role.SEEKER,
    )


def test_every_open_state_can_be_abandoned_and_no_closed_one() -> None:
    abandonable = {t.from_state for t in TRANSITIONS if t.action == A.ABANDON_JOURNEY}
    assert abandonable == OPEN_STATES
    assert S.DECLINED not in abandonable and S.HIRED not in abandonable


def test_reschedule_keeps_the_state_and_moves_the_dates() -> None:
    params = {
        "starts_on": date(2027, 2, 8),
        "ends_on": date(2027, 2, 9),
        "place": "Woippy",
        "reason": "malade",
    }
    decision = decide(journey_in(S.IMMERSION_SCHEDULED), A.RESCHEDULE_IMMERSION, SEEKER, params, NOW)
    assert decision.journey.state == S.IMMERSION_SCHEDULED
    assert decision.journey.immersion_starts_on == date(2027, 2, 8)
    assert decision.facts[0].fields["reason"] == "malade"


def test_an_employer_declines_after_an_immersion_that_was_not_conclusive_only() -> None:
    employer = Actor(Role.EMPLOYER, EMPLOYER_ID)
    reason = {"reason": "l'immersion n'a pas convaincu"}
    declined = decide(
        journey_in(S.IMMERSION_DONE, immersion_outcome="negative"),
        A.DECLINE_APPLICATION,
        employer,
        reason,
        NOW,
    )
    assert declined.journey.state == S.DECLINED
    assert [f.event_type for f in declined.facts] == ["ApplicationDeclined"]
    with pytest.raises(GuardRefused, match="concluante"):
        decide(journey_in(S.IMMERSION_DONE), A.DECLINE_APPLICATION, employer, reason, NOW)

"""Journeys: commands in (HTTP and ``journeys.commands``), events out (``journeys.events``).

Every event names people by opaque ids only; names, e-mails and phones travel on ``contacts``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from tdu_shared.envelope import Payload, register


class Role(StrEnum):
    SEEKER = "seeker"
    EMPLOYER = "employer"
    TRAINING_PROVIDER = "training_provider"
    BASIN_OPERATOR = "basin_operator"
    PARTNER_SYSTEM = "partner_system"


class JourneyState(StrEnum):
    APPLIED = "applied"
    DECLINED = "declined"
    IMMERSION_SCHEDULED = "immersion_scheduled"
    IMMERSION_DONE = "immersion_done"
    PROMISE_SIGNED = "promise_signed"
    COMMITMENT_SIGNED = "commitment_signed"
    COMMITTED = "committed"
    TRAINING_STARTED = "training_started"
    TRAINING_COMPLETED = "training_completed"
    HIRED = "hired"
    FOLLOWED_UP_6M = "followed_up_6m"
    FOLLOWED_UP_12M = "followed_up_12m"
    ABANDONED = "abandoned"


ContractType = Literal["CDI", "CDD"]


# ---------------------------------------------------------------- commands


class JourneyCommand(Payload):
    """Fields every journey command carries."""

    command_id: str = Field(
        min_length=1, max_length=200, description="Idempotency key: a repeat changes nothing."
    )
    actor_role: Role = Field(description="Role of whoever acts.")
    actor_id: str = Field(min_length=1, max_length=200, description="Id of whoever acts.")


class OnJourney(JourneyCommand):
    journey_id: str = Field(description="Journey acted on.")


@register
class SubmitApplication(JourneyCommand):
    event_type: ClassVar[str] = "SubmitApplication"

    offer_id: str = Field(max_length=100, description="Eligible offer applied to.")
    seeker_id: str | None = Field(
        None, max_length=100, description="Known seeker id; a new one is made when null."
    )
    first_name: str = Field(min_length=1, max_length=100, description="Seeker's first name.")
    last_name: str = Field(min_length=1, max_length=100, description="Seeker's last name.")
    email: str | None = Field(None, max_length=254, description="Seeker's e-mail.")
    phone: str | None = Field(None, max_length=20, description="Seeker's mobile phone (E.164 or French).")
    postal_code: str = Field(pattern=r"^\d{5}$", description="Seeker's postal code.")
    education_level: str | None = Field(
        None, max_length=20, description="Highest education level (LHEO code-niveau)."
    )
    jobseeker_status: str | None = Field(
        None, max_length=20, description="Registered job-seeker category, if any."
    )
    consent_email: bool = Field(description="Seeker agrees to be contacted by e-mail.")
    consent_sms: bool = Field(description="Seeker agrees to be contacted by SMS.")
    message: str | None = Field(None, max_length=2000, description="Note to the employer.")


@register
class DeclineApplication(OnJourney):
    event_type: ClassVar[str] = "DeclineApplication"
    reason: str = Field(min_length=1, max_length=500, description="Why the employer declines.")


@register
class ScheduleImmersion(OnJourney):
    event_type: ClassVar[str] = "ScheduleImmersion"
    starts_on: date = Field(description="First day of the meeting or immersion.")
    ends_on: date = Field(description="Last day.")
    place: str = Field(min_length=1, max_length=300, description="Where it takes place.")


@register
class RescheduleImmersion(ScheduleImmersion):
    event_type: ClassVar[str] = "RescheduleImmersion"
    reason: str = Field(min_length=1, max_length=500, description="Why it moves.")


@register
class RecordImmersionOutcome(OnJourney):
    event_type: ClassVar[str] = "RecordImmersionOutcome"
    outcome: Literal["positive", "negative"] = Field(description="How the immersion went.")
    comment: str | None = Field(None, max_length=2000, description="Free comment.")


@register
class SignHiringPromise(OnJourney):
    event_type: ClassVar[str] = "SignHiringPromise"
    contract_type: ContractType = Field(description="CDI or CDD.")
    contract_months: int | None = Field(None, ge=1, description="CDD duration (6 months or more).")
    planned_start: date = Field(description="Planned first day of work, after training.")
    position: str = Field(min_length=1, max_length=200, description="Position offered.")


@register
class SignTrainingCommitment(OnJourney):
    event_type: ClassVar[str] = "SignTrainingCommitment"
    session_id: str = Field(max_length=500, description="Funded session the seeker commits to follow.")


@register
class ConfirmTrainingStart(OnJourney):
    event_type: ClassVar[str] = "ConfirmTrainingStart"
    started_on: date = Field(description="First day of training.")


@register
class CompleteTraining(OnJourney):
    event_type: ClassVar[str] = "CompleteTraining"
    completed_on: date = Field(description="Last day of training.")
    certified: bool | None = Field(None, description="Certification obtained, when known.")


@register
class RecordHire(OnJourney):
    event_type: ClassVar[str] = "RecordHire"
    contract_start: date = Field(description="First day of the contract.")
    contract_type: ContractType = Field(description="CDI or CDD.")
    contract_months: int | None = Field(None, ge=1, description="CDD duration.")


@register
class RecordFollowUp(OnJourney):
    event_type: ClassVar[str] = "RecordFollowUp"
    months: Literal[6, 12] = Field(description="Follow-up at +6 or +12 months after hire.")
    employed: bool = Field(description="Still employed.")


@register
class AbandonJourney(OnJourney):
    event_type: ClassVar[str] = "AbandonJourney"
    reason: str = Field(min_length=1, max_length=500, description="Why the journey ends.")


@register
class CorrectStep(OnJourney):
    event_type: ClassVar[str] = "CorrectStep"
    to_state: JourneyState = Field(description="State the journey is put back to.")
    reason: str = Field(min_length=1, max_length=500, description="Why the operator corrects it.")


# ---------------------------------------------------------------- events


class JourneyEvent(Payload):
    """Fields every journey event carries."""

    journey_id: str = Field(description="Journey id (also the message key).")
    offer_id: str = Field(description="Offer of the journey.")
    seeker_id: str = Field(description="Opaque seeker id.")
    employer_id: str | None = Field(None, description="Opaque employer contact id.")
    session_id: str | None = Field(None, description="Chosen session, once known.")
    provider_id: str | None = Field(None, description="Opaque training provider contact id, once known.")
    from_state: JourneyState | None = Field(description="State before (null for a new journey).")
    to_state: JourneyState = Field(description="State after.")
    actor_role: Role | None = Field(description="Who acted (null for a timer).")
    actor_id: str | None = Field(None, description="Id of who acted.")


@register
class ApplicationSubmitted(JourneyEvent):
    event_type: ClassVar[str] = "ApplicationSubmitted"
    offer_title: str | None = Field(None, description="Title of the offer, for messages.")


@register
class ApplicationDeclined(JourneyEvent):
    event_type: ClassVar[str] = "ApplicationDeclined"
    reason: str = Field(description="Reason given by the employer.")


@register
class ImmersionScheduled(JourneyEvent):
    event_type: ClassVar[str] = "ImmersionScheduled"
    starts_on: date = Field(description="First day.")
    ends_on: date = Field(description="Last day.")
    place: str = Field(description="Where.")


@register
class ImmersionRescheduled(ImmersionScheduled):
    event_type: ClassVar[str] = "ImmersionRescheduled"
    reason: str = Field(description="Why it moved.")


@register
class ImmersionCompleted(JourneyEvent):
    event_type: ClassVar[str] = "ImmersionCompleted"
    outcome: Literal["positive", "negative"] = Field(description="How it went.")


@register
class HiringPromiseSigned(JourneyEvent):
    event_type: ClassVar[str] = "HiringPromiseSigned"
    contract_type: ContractType = Field(description="CDI or CDD.")
    contract_months: int | None = Field(None, description="CDD duration.")
    planned_start: date = Field(description="Planned first day of work.")
    position: str = Field(description="Position promised.")


@register
class TrainingCommitmentSigned(JourneyEvent):
    event_type: ClassVar[str] = "TrainingCommitmentSigned"


@register
class JourneyCommitted(JourneyEvent):
    """Both the hiring promise and the training commitment are signed."""

    event_type: ClassVar[str] = "JourneyCommitted"


@register
class TrainingStarted(JourneyEvent):
    event_type: ClassVar[str] = "TrainingStarted"
    started_on: date = Field(description="First day of training.")


@register
class TrainingCompleted(JourneyEvent):
    event_type: ClassVar[str] = "TrainingCompleted"
    completed_on: date = Field(description="Last day of training.")
    certified: bool | None = Field(None, description="Certification obtained.")


@register
class SeekerHired(JourneyEvent):
    event_type: ClassVar[str] = "SeekerHired"
    contract_start: date = Field(description="First day of the contract.")
    contract_type: ContractType = Field(description="CDI or CDD.")
    contract_months: int | None = Field(None, description="CDD duration.")


@register
class FollowUpRecorded(JourneyEvent):
    event_type: ClassVar[str] = "FollowUpRecorded"
    months: Literal[6, 12] = Field(description="+6 or +12 months after hire.")
    employed: bool = Field(description="Still employed.")


@register
class JourneyAbandoned(JourneyEvent):
    event_type: ClassVar[str] = "JourneyAbandoned"
    reason: str = Field(description="Why.")


@register
class StepCorrected(JourneyEvent):
    event_type: ClassVar[str] = "StepCorrected"
    reason: str = Field(description="Why the operator corrected the step.")


class ReminderKind(StrEnum):
    EMPLOYER_NO_ANSWER_7D = "employer_no_answer_7d"
    EMPLOYER_NO_ANSWER_10D = "employer_no_answer_10d"
    IMMERSION_TOMORROW = "immersion_tomorrow"
    TRAINING_STARTS_IN_3D = "training_starts_in_3d"
    FOLLOW_UP_6M = "follow_up_6m"
    FOLLOW_UP_12M = "follow_up_12m"
    JOURNEY_IDLE_14D = "journey_idle_14d"


@register
class JourneyReminderDue(JourneyEvent):
    """A stored timer fired."""

    event_type: ClassVar[str] = "JourneyReminderDue"
    kind: ReminderKind = Field(description="Which timer fired.")
    due_on: date = Field(description="Day the timer was set for.")

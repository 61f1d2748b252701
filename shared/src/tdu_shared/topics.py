"""Every Kafka topic of the platform: name, partitions, compaction, and its dead-letter twin."""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool
    event_types: tuple[str, ...]
    description: str

    @property
    def dlq(self) -> str:
        return dlq_of(self.name)


def dlq_of(topic: str) -> str:
    return f"{topic}.dlq"


OFFERS_SUBMITTED = TopicSpec(
    "offers.submitted",
    12,
    False,
    ("OfferSubmitted", "OfferRefreshCompleted"),
    "Raw offers from France Travail, partners and employer forms, and the end markers of full refreshes.",
)
OFFERS_STATE = TopicSpec(
    "offers.state",
    12,
    True,
    ("OfferPublished", "OfferUpdated", "OfferWithdrawn"),
    "Clean, located offers keyed by offer id, partitioned by basin.",
)
TRAININGS_SUBMITTED = TopicSpec(
    "trainings.submitted", 6, False, ("SessionSubmitted",), "Sessions sent by partner systems as JSON."
)
TRAININGS_SESSIONS = TopicSpec(
    "trainings.sessions",
    12,
    True,
    ("SessionPublished", "SessionUpdated", "SessionWithdrawn"),
    "Training sessions keyed by session id, partitioned by basin.",
)
MATCHING_ELIGIBILITY = TopicSpec(
    "matching.eligibility",
    12,
    True,
    ("OfferEligibilityChanged",),
    "Eligibility of each offer with its linked funded sessions, keyed by offer id, partitioned by basin.",
)
JOURNEYS_COMMANDS = TopicSpec(
    "journeys.commands",
    12,
    False,
    (
        "SubmitApplication",
        "DeclineApplication",
        "ScheduleImmersion",
        "RescheduleImmersion",
        "RecordImmersionOutcome",
        "SignHiringPromise",
        "SignTrainingCommitment",
        "ConfirmTrainingStart",
        "CompleteTraining",
        "RecordHire",
        "RecordFollowUp",
        "AbandonJourney",
        "CorrectStep",
    ),
    "Journey commands from partner systems; refusals go to the DLQ with the reason.",
)
JOURNEYS_EVENTS = TopicSpec(
    "journeys.events",
    12,
    False,
    (
        "ApplicationSubmitted",
        "ApplicationDeclined",
        "ImmersionScheduled",
        "ImmersionRescheduled",
        "ImmersionCompleted",
        "HiringPromiseSigned",
        "TrainingCommitmentSigned",
        "JourneyCommitted",
        "TrainingStarted",
        "TrainingCompleted",
        "SeekerHired",
        "FollowUpRecorded",
        "JourneyAbandoned",
        "StepCorrected",
        "JourneyReminderDue",
    ),
    "Every change of a journey, keyed by journey id, partitioned by basin.",
)
CONTACTS = TopicSpec(
    "contacts",
    12,
    True,
    ("ContactUpserted",),
    "Personal contact data keyed by person id; a tombstone (null value) erases the person.",
)
NOTIFICATIONS_DELIVERIES = TopicSpec(
    "notifications.deliveries", 6, False, ("DeliveryRecorded",), "Outcome of every e-mail and SMS."
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    OFFERS_SUBMITTED,
    OFFERS_STATE,
    TRAININGS_SUBMITTED,
    TRAININGS_SESSIONS,
    MATCHING_ELIGIBILITY,
    JOURNEYS_COMMANDS,
    JOURNEYS_EVENTS,
    CONTACTS,
    NOTIFICATIONS_DELIVERIES,
)


@dataclass(frozen=True)
class Topics:
    """Topic names as deployed: the registry's names behind an optional environment prefix."""

    prefix: str = ""

    def name(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def dlq(self, spec: TopicSpec) -> str:
        return dlq_of(self.name(spec))


def basin_partition(basin: str | None, partitions: int) -> int:
    """The partition of a basin: stable across processes and languages (CRC-32 of the code).

    Events of one basin always land in one partition, so the consumer-group member that owns a partition
    owns whole basins. Events without a basin go to partition 0.
    """
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    if not basin:
        return 0
    return zlib.crc32(basin.encode()) % partitions


def basins_of_partitions(basins: list[str], partitions: set[int], partition_count: int) -> set[str]:
    """Which of ``basins`` a consumer owning ``partitions`` is responsible for."""
    return {b for b in basins if basin_partition(b, partition_count) in partitions}

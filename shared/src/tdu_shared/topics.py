"""Every Kafka topic of the platform: name, partitions, compaction, and its dead-letter twin."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from functools import cache


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
    48,
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
ACCESS_KEYS = TopicSpec(
    "access.keys",
    1,
    True,
    ("PartnerKeyIssued", "PartnerKeyRevoked"),
    "Partner API keys (digests, never secrets) and their revocations, keyed by key id; every service "
    "follows it from the beginning.",
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
    ACCESS_KEYS,
)


@dataclass(frozen=True)
class Topics:
    """Topic names as deployed: the registry's names behind an optional environment prefix."""

    prefix: str = ""

    def name(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def dlq(self, spec: TopicSpec) -> str:
        return dlq_of(self.name(spec))


# ---------------------------------------------------------------- basin -> partition assignment


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


@dataclass(frozen=True)
class PartitionAssignment:
    """An explicit, versioned assignment of basins to partitions.

    Each basin owns one partition or more, and no partition is shared while there are at least as many
    partitions as basins. The events of a basin that owns several partitions are spread over them by
    entity key, so all the events of one entity (one offer, one journey) stay in one partition and are
    handled by one consumer. A topic whose partition count differs from ``partitions`` uses the plan
    :func:`plan_assignment` makes for its own count from the same basins and weights, so adding partitions
    never leaves a basin without one. Events without a basin are spread over all partitions by key.
    """

    version: int
    partitions: int
    basins: dict[str, tuple[int, ...]]
    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for basin, parts in self.basins.items():
            if not parts or any(not 0 <= p < self.partitions for p in parts):
                raise ValueError(f"basin {basin}: partitions {parts} outside 0..{self.partitions - 1}")

    def for_count(self, count: int) -> PartitionAssignment:
        """This assignment if made for ``count`` partitions, else the plan for ``count``."""
        if count == self.partitions:
            return self
        return _plan_cached(tuple(sorted(self.weights_or_ones().items())), count, self.version)

    def weights_or_ones(self) -> dict[str, float]:
        return {b: self.weights.get(b, 1.0) for b in self.basins}

    def partitions_of(self, basin: str, count: int) -> tuple[int, ...] | None:
        return self.for_count(count).basins.get(basin)

    def partition(self, basin: str | None, key: str | bytes | None, count: int) -> int:
        """The partition of an event of ``basin`` about the entity ``key`` on a topic of ``count``."""
        if count < 1:
            raise ValueError("a topic has at least one partition")
        raw_key = key.decode() if isinstance(key, bytes) else (key or "")
        if not basin:
            return _crc(raw_key) % count
        parts = self.partitions_of(basin, count)
        if parts is None:  # a basin this region does not know: kept whole, by hash
            return _crc(basin) % count
        return parts[0] if len(parts) == 1 else parts[_crc(raw_key) % len(parts)]

    def basins_of(self, partitions: set[int], count: int) -> set[str]:
        """Basins with at least one partition among ``partitions``."""
        plan = self.for_count(count)
        return {b for b, parts in plan.basins.items() if set(parts) & partitions}


def plan_assignment(weights: dict[str, float], partitions: int, version: int = 1) -> PartitionAssignment:
    """Spread basins over ``partitions`` in proportion to their weights (expected share of events).

    At least as many partitions as basins: every basin gets its own partition (in code order), then each
    spare partition goes to the basin whose events per partition are highest (the first in code order
    among equals). With equal weights and k basins per round, basin i owns partitions i, i + k, i + 2k ...:
    a group of n consumers, n dividing the rounds, gets one partition of every basin each, with Kafka's
    range as with its round-robin assignor. Fewer partitions than basins: basins, heaviest first, go to
    the least loaded partition. Deterministic: same input, same plan.
    """
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    codes = sorted(weights)
    owned: dict[str, list[int]] = {}
    if len(codes) <= partitions:
        owned = {code: [i] for i, code in enumerate(codes)}
        for spare in range(len(codes), partitions):
            if not codes:
                break
            busiest = max(codes, key=lambda c: (weights[c] / len(owned[c]), -codes.index(c)))
            owned[busiest].append(spare)
    else:
        load = [0.0] * partitions
        for code in sorted(codes, key=lambda c: (-weights[c], c)):
            target = min(range(partitions), key=lambda p: (load[p], p))
            owned[code] = [target]
            load[target] += weights[code]
    return PartitionAssignment(version, partitions, {c: tuple(p) for c, p in owned.items()}, dict(weights))


@cache
def _plan_cached(weights: tuple[tuple[str, float], ...], count: int, version: int) -> PartitionAssignment:
    return plan_assignment(dict(weights), count, version)


HASH_ASSIGNMENT = PartitionAssignment(0, 1, {})
"""No basin known: every basin kept whole on the partition its CRC-32 gives (the rule before version 1)."""


def basin_partition(
    basin: str | None, partitions: int, key: str | None = None, assignment: PartitionAssignment | None = None
) -> int:
    """The partition of an event of ``basin`` (about entity ``key``) on a topic of ``partitions``.

    Without an assignment: the region's own (``default_assignment``, Grand Est unless ``BASINS_FILE``).
    """
    return (assignment or default_assignment()).partition(basin, key, partitions)


def basins_of_partitions(basins: list[str], partitions: set[int], partition_count: int) -> set[str]:
    """Which of ``basins`` have a partition among ``partitions`` (their owner holds some of their events)."""
    owned = default_assignment().basins_of(partitions, partition_count)
    return {b for b in basins if b in owned}


@cache
def default_assignment() -> PartitionAssignment:
    """The assignment of the region this process serves (its basins file, Grand Est by default)."""
    from tdu_shared.geo import load_basins  # geo imports this module

    return load_basins(os.environ.get("BASINS_FILE") or None).partitioning

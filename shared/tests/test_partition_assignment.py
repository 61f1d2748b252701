"""The explicit, versioned basin -> partition assignment: no empty partition, no shared partition while
there are enough, busy basins spread by key, an even share for every instance, and how it changes."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from tdu_shared.geo import load_basins, load_region
from tdu_shared.topics import OFFERS_STATE, PartitionAssignment, plan_assignment

GRAND_EST = load_basins()


def used(assignment: PartitionAssignment, count: int) -> Counter[int]:
    """How many basins own each partition."""
    plan = assignment.for_count(count)
    return Counter(p for parts in plan.basins.values() for p in parts)


def test_grand_est_ships_an_explicit_assignment_for_offers_state() -> None:
    assignment = GRAND_EST.partitioning
    assert (assignment.version, assignment.partitions) == (1, OFFERS_STATE.partitions) == (1, 48)
    assert set(assignment.basins) == set(GRAND_EST.codes())


@pytest.mark.parametrize("count", [16, 24, 48, 64])
def test_no_empty_partition_and_no_shared_one_while_partitions_are_at_least_the_basins(count: int) -> None:
    owners = used(GRAND_EST.partitioning, count)
    assert set(owners) == set(range(count))  # no empty partition
    assert set(owners.values()) == {1}  # no partition shared by two basins


@pytest.mark.parametrize("count", [4, 12])
def test_fewer_partitions_than_basins_leave_none_empty_and_balance_the_weights(count: int) -> None:
    owners = used(GRAND_EST.partitioning, count)
    assert set(owners) == set(range(count))
    assert max(owners.values()) - min(owners.values()) <= 1  # equal weights: basins spread evenly


def test_a_busy_basin_spreads_over_its_partitions_by_key_and_one_entity_stays_in_one() -> None:
    assignment = GRAND_EST.partitioning
    metz = assignment.basins["4410"]
    spread = Counter(assignment.partition("4410", f"O-{i}", 48) for i in range(3000))
    assert set(spread) == set(metz)
    assert min(spread.values()) > 900  # about a third each
    assert {assignment.partition("4410", "O-42", 48) for _ in range(5)} == {
        assignment.partition("4410", "O-42", 48)
    }


@pytest.mark.parametrize("strategy", ["range", "roundrobin"])
def test_three_instances_get_an_equal_share_of_every_basin(strategy: str) -> None:
    """Offers weighted like real volumes (Metz, Strasbourg busy): each instance within 20% of the others."""
    assignment = GRAND_EST.partitioning
    rng = random.Random(7)
    codes = GRAND_EST.codes()
    volume = {
        code: (8 if code in ("4410", "4423") else 3 if code in ("4412", "4411", "4413") else 1)
        for code in codes
    }
    offers = [(code, f"O-{code}-{i}") for code in codes for i in range(volume[code] * rng.randint(400, 600))]
    per_partition = Counter(assignment.partition(code, key, 48) for code, key in offers)
    instance_of = (lambda p: p // 16) if strategy == "range" else (lambda p: p % 3)
    per_instance = Counter()  # type: Counter[int]
    for partition, n in per_partition.items():
        per_instance[instance_of(partition)] += n
    assert len(per_instance) == 3
    assert max(per_instance.values()) <= 1.2 * min(per_instance.values()), per_instance


def test_weights_give_busy_basins_more_partitions() -> None:
    plan = load_region("27").partitioning
    assert len(plan.basins["27-DIJ"]) > len(plan.basins["27-BES"]) > len(plan.basins["27-NEV"])
    assert set(used(plan, 48)) == set(range(48))


def test_changing_the_assignment_is_a_new_version_read_from_the_region_file(tmp_path: Path) -> None:
    """The documented operation: a new table (new version, new count) in the region file; every basin keeps
    partitions, one entity's events still land together, and the old table's partitions are known."""
    text = Path(GRAND_EST_FILE).read_text(encoding="utf-8")
    head = text[: text.index("partitioning:")]
    changed = tmp_path / "basins.yaml"
    changed.write_text(head + "partitioning: {version: 2, partitions: 64}\n", encoding="utf-8")
    new = load_basins(changed).partitioning
    old = GRAND_EST.partitioning
    assert (new.version, new.partitions) == (2, 64)
    assert set(used(new, 64)) == set(range(64))
    moved = {code for code in GRAND_EST.codes() if new.basins[code] != old.basins[code]}
    assert moved  # the consumers rebuild these basins' offers from the compacted topic after the change
    for key in ("O-1", "O-2", "O-3"):
        assert new.partition("4410", key, 64) in new.basins["4410"]


def test_an_assignment_naming_a_partition_outside_the_topic_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        PartitionAssignment(1, 4, {"4410": (4,)})


def test_a_plan_is_deterministic() -> None:
    weights = {c: 1.0 for c in GRAND_EST.codes()}
    assert plan_assignment(weights, 48) == plan_assignment(dict(reversed(weights.items())), 48)


GRAND_EST_FILE = str(
    Path(__file__).resolve().parents[1] / "src" / "tdu_shared" / "data" / "basins_grand_est.yaml"
)

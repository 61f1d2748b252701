"""Three matching instances on the 1M-offer setup: how much work each one does under the basin assignment.

The offers of bench/matching_scale.py's dataset (1,000,000 offers across France, those in Grand Est at real
commune centres) are given their basin (the region's rule) and their partition of offers.state through the
region's explicit assignment (48 partitions, Grand Est's three per basin), exactly as the publisher does.
The partitions are then split between three consumers as Kafka's range and round-robin assignors split
one topic, and each instance evaluates the eligibility of (a sample of) its own offers against the whole
catalogue (what a matcher does when it rebuilds its partitions). Prints one JSON object: offers (events)
and CPU seconds per instance, and the spread (max / min - 1), for the explicit assignment and for the
former CRC-32 modulo 12 rule, over all offers (those outside the region have no basin and are spread by
key) and over the offers of the region's basins only.

    uv run python bench/partition_balance.py                          # 1,000,000 offers, 300,000 sessions
    uv run python bench/partition_balance.py --offers 200000 --sessions 60000
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from matching_scale import AS_OF, build_dataset

from matching.domain.matcher import Matcher
from matching.domain.rules import window_from
from tdu_shared.geo import commune_table, load_basins
from tdu_shared.topics import OFFERS_STATE

INSTANCES = 3


def assignors(count: int) -> dict[str, Callable[[int], int]]:
    per = -(-count // INSTANCES)
    return {"range": lambda p: p // per, "roundrobin": lambda p: p % INSTANCES}


def spread(values: list[float]) -> float:
    return round(max(values) / min(values) - 1, 3) if min(values) > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--offers", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=300_000)
    parser.add_argument("--evaluate", type=int, default=60_000, help="offers evaluated per instance, 0: none")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out: dict[str, Any] = {"offers": args.offers, "sessions": args.sessions, "instances": INSTANCES}
    t = time.perf_counter()
    offers, sessions, _ = build_dataset(args.offers, args.sessions, args.seed)
    out["dataset_s"] = round(time.perf_counter() - t, 1)

    region = load_basins()
    communes = commune_table()
    basin_of_commune: dict[str, str | None] = {}
    basins: list[str | None] = []
    for o in offers:
        if o.commune_insee is None:
            basins.append(None)
            continue
        if o.commune_insee not in basin_of_commune:
            c = communes.by_insee(o.commune_insee)
            found = region.basin_of(c.lat, c.lon, c.insee) if c else None
            basin_of_commune[o.commune_insee] = found.code if found else None
        basins.append(basin_of_commune[o.commune_insee])
    out["offers_with_a_basin"] = sum(1 for b in basins if b)
    out["offers_per_basin"] = dict(sorted(Counter(b for b in basins if b).items()))

    count = OFFERS_STATE.partitions
    assignment = region.partitioning
    rules: dict[str, tuple[int, Callable[[str | None, str], int]]] = {
        f"explicit_v{assignment.version}_{count}": (count, lambda b, k: assignment.partition(b, k, count)),
        "crc32_mod_12": (12, lambda b, k: zlib.crc32(b.encode()) % 12 if b else 0),
    }
    window = window_from(AS_OF)
    for name, (partitions, rule) in rules.items():
        scopes = (("all_offers", lambda b: True), ("offers_of_the_basins", lambda b: b is not None))
        for scope, keep in scopes:
            per_partition = Counter(
                rule(b, o.offer_id) for b, o in zip(basins, offers, strict=True) if keep(b)
            )
            result: dict[str, Any] = {
                "partitions": partitions,
                "empty_partitions": sum(1 for p in range(partitions) if per_partition[p] == 0),
            }
            for strategy, instance_of in assignors(partitions).items():
                events = [0] * INSTANCES
                for p, n in per_partition.items():
                    events[instance_of(p)] += n
                result[f"{strategy}_events_per_instance"] = events
                result[f"{strategy}_events_spread"] = spread([float(e) for e in events])
            out[f"{name}_{scope}"] = result

    if args.evaluate:
        # Each instance evaluates (a sample of) its own offers against the whole catalogue: CPU seconds.
        instance_of = assignors(count)["roundrobin"]
        mine: list[list[int]] = [[] for _ in range(INSTANCES)]
        for i, (b, o) in enumerate(zip(basins, offers, strict=True)):
            mine[instance_of(assignment.partition(b, o.offer_id, count))].append(i)
        step = max(1, max(len(m) for m in mine) // args.evaluate)
        cpu = []
        for indices in mine:
            matcher = Matcher(region.radius_km, max_radius_km=region.default_radius_km)
            for s in sessions:
                matcher.put_session(s)
            picked = [offers[i] for i in indices[::step]]
            for o in picked:
                matcher.put_offer(o)
            matcher.evaluate_many([picked[0].offer_id], window)  # builds the KD-trees: not the measure
            gc.collect()  # the previous instance's matcher goes now, not during this measure
            gc.disable()
            t = time.process_time()
            matcher.evaluate_many([o.offer_id for o in picked], window)
            cpu.append(round(time.process_time() - t, 2))
            gc.enable()
            del matcher
        out["evaluation_sample_step"] = step
        out["evaluation_cpu_s_per_instance"] = cpu
        out["evaluation_cpu_spread"] = spread(cpu)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Two matcher instances in one consumer group split the basins, publish what one instance would, and the
survivor rebuilds the other's offers from offers.state after a rebalance."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from matching.main import build
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_shared.contracts.trainings import SessionWithdrawn
from tdu_shared.envelope import decode_event, new_envelope
from tdu_shared.kafka import EventPublisher
from tdu_shared.topics import MATCHING_ELIGIBILITY, TRAININGS_SESSIONS, Topics, basin_partition

from .test_eligibility_flow import (
    offer_state,
    publish_offer,
    publish_session,
    session_state,
    settings_for,
    until,
)

pytestmark = pytest.mark.integration

BASINS = {  # one basin per partition of the 4-partition test topics
    "4410": (49.133, 6.167),  # Metz, partition 0
    "4423": (48.583, 7.75),  # Strasbourg, partition 1
    "4411": (47.75, 7.333),  # Mulhouse, partition 2
    "4408": (49.183, 6.9),  # Forbach, partition 3
}


def components(app: FastAPI) -> Any:
    return app.state.components


def eligibility_of(records: list[Any]) -> dict[str, tuple[bool, list[str]]]:
    latest = {}
    for r in records:
        p = decode_event(r.value).payload
        latest[p.offer_id] = (p.eligible, [s.session_id for s in p.linked_sessions])
    return latest


async def test_two_instances_split_the_basins_and_publish_each_change_once(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    assert sorted(basin_partition(b, 4) for b in BASINS) == [0, 1, 2, 3]
    topic = topics.name(MATCHING_ELIGIBILITY)
    async with EventPublisher(kafka_bootstrap, topics) as publisher, AsyncExitStack() as stack:
        for basin, (lat, lon) in BASINS.items():
            await publish_session(publisher, session_state(f"S-{basin}", (lat + 0.05, lon), basin))
            await publish_offer(publisher, offer_state(f"O-{basin}", (lat, lon), basin))

        first = build(settings_for(service_env, role="matcher", instance_id="a"))
        await stack.enter_async_context(first.router.lifespan_context(first))
        records = await read_topic(kafka_bootstrap, topic, until=4, timeout=20)
        assert eligibility_of(records) == {f"O-{b}": (True, [f"S-{b}"]) for b in BASINS}

        second = build(settings_for(service_env, role="matcher", instance_id="b"))
        second_stack = AsyncExitStack()
        stack.push_async_callback(second_stack.aclose)
        await second_stack.enter_async_context(second.router.lifespan_context(second))
        a, b = components(first).partitions, components(second).partitions
        await until(lambda: a.owned and b.owned and a.owned | b.owned == {0, 1, 2, 3}, timeout=30)
        assert not a.owned & b.owned
        held_a = set(components(first).service.matcher.offers)
        held_b = set(components(second).service.matcher.offers)
        assert held_a == {f"O-{x}" for x in BASINS if basin_partition(x, 4) in a.owned}
        assert held_b == {f"O-{x}" for x in BASINS if basin_partition(x, 4) in b.owned}

        # a second session in every basin: each offer changes once, published by its owner only
        for basin, (lat, lon) in BASINS.items():
            await publish_session(publisher, session_state(f"T-{basin}", (lat - 0.05, lon), basin))
        records = await read_topic(kafka_bootstrap, topic, until=8, timeout=20, settle=1.5)
        assert len(records) == 8
        assert Counter(decode_event(r.value).payload.offer_id for r in records) == {
            f"O-{x}": 2 for x in BASINS
        }
        assert eligibility_of(records) == {f"O-{x}": (True, [f"S-{x}", f"T-{x}"]) for x in BASINS}
        assert all(r.partition == basin_partition(decode_event(r.value).basin, 4) for r in records)

        # the second instance leaves: the first takes its basins back, rebuilding their offers
        await second_stack.aclose()
        await until(lambda: a.owned == {0, 1, 2, 3}, timeout=30)
        assert set(components(first).service.matcher.offers) == {f"O-{x}" for x in BASINS}
        for basin in BASINS:
            gone = SessionWithdrawn(
                session_id=f"S-{basin}", reason="withdrawn_by_source", withdrawn_at=datetime.now(UTC)
            )
            await publisher.publish(
                TRAININGS_SESSIONS,
                f"S-{basin}",
                new_envelope(gone, producer="trainings", region="44", basin=basin),
            )
        records = await read_topic(kafka_bootstrap, topic, until=12, timeout=20, settle=1.0)
        assert len(records) == 12
        assert eligibility_of(records) == {f"O-{x}": (True, [f"T-{x}"]) for x in BASINS}
        await asyncio.sleep(0)

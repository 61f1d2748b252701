"""The service killed mid-stream (SIGKILL) and restarted: every offer published, each with one event id."""

from __future__ import annotations

from pathlib import Path

import pytest

from tdu_dev.testing.kafka_helpers import read_topic
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_shared.contracts.offers import OfferSubmitted
from tdu_shared.envelope import decode_event, new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing
from tdu_shared.topics import OFFERS_STATE, OFFERS_SUBMITTED, Topics

from ..unit.fakes import real_records

pytestmark = pytest.mark.integration

COUNT = 2000


async def test_killed_service_resumes_and_every_offer_is_published_with_one_event_id(
    service_env: dict[str, str], kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    base = real_records()
    offers = [{**base[i % len(base)], "id": f"K{i:05d}"} for i in range(COUNT)]
    port = free_port()
    env = {**service_env, "HTTP_PORT": str(port), "BATCH_SIZE": "200", "LOG_LEVEL": "WARNING"}
    service = ServiceProcess("offers", ["serve"], env, tmp_path / "offers.log", port=port).start()
    try:
        async with EventPublisher(kafka_bootstrap, topics) as publisher:
            items = [
                Outgoing(
                    OFFERS_SUBMITTED,
                    o["id"],
                    new_envelope(
                        OfferSubmitted(source="france_travail", record=o),
                        producer="test",
                        region="44",
                        basin=None,
                    ),
                )
                for o in offers
            ]
            await publisher.publish_many(items)
        before = await read_topic(kafka_bootstrap, topics.name(OFFERS_STATE), until=1, timeout=60)
        service.kill()
        service = ServiceProcess("offers", ["serve"], env, tmp_path / "offers.log", port=port).start()
        records = await read_topic(
            kafka_bootstrap,
            topics.name(OFFERS_STATE),
            until=lambda rs: len({r.key for r in rs}) >= COUNT,
            timeout=120,
        )
    finally:
        service.stop()
    assert len({r.key for r in before}) < COUNT  # killed mid-stream
    events = [decode_event(r.value) for r in records]
    assert {e.payload.offer.offer_id for e in events} == {o["id"] for o in offers}
    assert {e.type for e in events} == {"OfferPublished"}
    by_offer: dict[str, set[str]] = {}
    for e in events:
        by_offer.setdefault(e.payload.offer.offer_id, set()).add(str(e.event_id))
    assert all(len(ids) == 1 for ids in by_offer.values())  # a redelivery republishes the same event

"""Benchmark of the notifications service: journey events in, e-mails accepted by an SMTP server out.

Runs the service as a real process against the real broker and store, with an aiosmtpd server in this
process; feeds N ApplicationSubmitted events at a fixed rate (each calls for one e-mail to the seeker) and
prints one JSON object: events/s up to SMTP acceptance and the latency from publish to acceptance.

    uv run python bench/notifications_throughput.py --events 3000 --rate 100
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.admin import AIOKafkaAdminClient

from notifications.standins import MailCatcher
from tdu_shared.contracts import journeys as j
from tdu_shared.envelope import new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing, ensure_topics
from tdu_shared.mongo import connect
from tdu_shared.testing.contacts import contact_upserted
from tdu_shared.testing.processes import ServiceProcess, free_port
from tdu_shared.topics import ALL_TOPICS, JOURNEYS_EVENTS, Topics

JOURNEY = re.compile(r"/parcours/(B-\d+)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def submitted(n: int, seekers: int) -> Outgoing:
    event = j.ApplicationSubmitted(
        journey_id=f"B-{n}",
        offer_id="O-1",
        seeker_id=f"BS-{n % seekers}",
        from_state=None,
        to_state=j.JourneyState.APPLIED,
        actor_role=j.Role.SEEKER,
        offer_title="Soudeur",
    )
    return Outgoing(
        JOURNEYS_EVENTS, f"B-{n}", new_envelope(event, producer="bench", region="44", basin="4410")
    )


async def wait_for_mails(catcher: MailCatcher, count: int, timeout: float) -> None:
    for _ in range(int(timeout / 0.05)):  # the catcher runs in its own thread: poll it
        if len(catcher.messages) >= count:
            return
        await asyncio.sleep(0.05)


async def run(
    events: int, rate: float, seekers: int, kafka: str, mongodb_url: str, timeout: float
) -> dict[str, object]:
    name = f"bench{uuid.uuid4().hex[:8]}"
    topics = Topics(f"{name}.")
    created = await ensure_topics(kafka, topics, ALL_TOPICS, partitions=4)
    catcher = MailCatcher(port=free_port()).start()
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DATABASE": name,
        "TOPIC_PREFIX": topics.prefix,
        "CREATE_TOPICS": "false",
        "LOG_JSON": "true",
        "LOG_LEVEL": "WARNING",
        "HTTP_PORT": str(port),
        "SMTP_PORT": str(catcher.port),
        "QUIET_START": "00:00",
        "QUIET_END": "00:00",
        "DAILY_CAP": "1000000",
        "DISPATCH_POLL_S": "0.2",
    }
    log = Path(tempfile.gettempdir()) / f"{name}.log"
    service = ServiceProcess("notifications", ["serve"], env, log, port=port)
    try:
        service.start()
        async with EventPublisher(kafka, topics) as publisher:
            await publisher.publish_many(
                [contact_upserted(f"BS-{n}", j.Role.SEEKER, f"bs{n}@example.org") for n in range(seekers)]
            )
            await asyncio.sleep(2)
            await publisher.publish_many([submitted(-1, seekers)])  # warm-up: the path is open end to end
            await wait_for_mails(catcher, 1, 60)
            catcher.messages.clear()
            published: dict[str, float] = {}
            sending: list[asyncio.Task[None]] = []
            start = time.time()
            for n in range(events):  # on a fixed schedule: a slow acknowledgement does not delay the next
                delay = start + n / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                published[f"B-{n}"] = time.time()
                sending.append(asyncio.create_task(publisher.publish_many([submitted(n, seekers)])))
            await asyncio.gather(*sending)
            publish_s = time.time() - start
        await wait_for_mails(catcher, events, timeout)
        latencies = []
        for mail in catcher.messages:
            found = JOURNEY.search(mail.text)
            if found and found.group(1) in published:
                latencies.append(mail.received_at - published[found.group(1)])
        last = max((m.received_at for m in catcher.messages), default=time.time())
        return {
            "benchmark": "notifications_throughput",
            "events": events,
            "target_rate_per_s": rate,
            "publish_rate_per_s": round(events / publish_s, 1),
            "emails_accepted": len(latencies),
            "duplicates": len(catcher.duplicates),
            "events_per_s_to_smtp_acceptance": round(len(latencies) / (last - start), 1),
            "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "latency_p99_s": round(percentile(latencies, 99), 3) if latencies else None,
            "latency_max_s": round(max(latencies), 3) if latencies else None,
            "store": mongodb_url,
            "service_log": str(log),
        }
    finally:
        service.stop()
        catcher.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            await admin.delete_topics(created)
        finally:
            await admin.close()
        client = connect(mongodb_url)
        await client.drop_database(name)
        await client.close()


def main(
    events: Annotated[int, typer.Option(help="Journey events to feed.")] = 3000,
    rate: Annotated[
        float, typer.Option(help="Events per second fed into the broker (issue target: 100).")
    ] = 100,
    seekers: Annotated[int, typer.Option(help="Distinct seekers the events are spread over.")] = 200,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the last e-mail after feeding.")] = 120,
) -> None:
    """Print JSON: events/s up to SMTP acceptance, p50/p99 latency from event publish to SMTP acceptance."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    print(json.dumps(asyncio.run(run(events, rate, seekers, kafka, mongodb_url, timeout))))


if __name__ == "__main__":
    typer.run(main)

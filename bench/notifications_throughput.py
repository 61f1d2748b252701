"""Benchmark of the notifications service under a burst of applications, on a store that has history.

Runs the service as a real process against the real broker and store, with an SMTP server (the project's
mail catcher, aiosmtpd) in this process. Before the service starts, the store is given a past: deliveries
already made (``--past-deliveries``, on earlier days) and people already known (``--past-contacts``),
written straight into the service's collections as the service would have left them. Then it feeds
``--events`` ApplicationSubmitted at ``--rate`` per second, each one preceded by the seeker's
ContactUpserted (e-mail consent, as journeys publishes it when a person applies); each application calls
for an e-mail to the seeker and, with ``--employers``, one to the offer's employer (SMS are planned too and
skipped: no SMS consent). It prints one JSON object: e-mails/s accepted by SMTP, latency from publish to
acceptance (p50, p99, max), time until the last e-mail, the rate over the first and the last tenth of the
e-mails, and the CPU-seconds the store (FerretDB, read from /proc) and the service used.

    uv run python bench/notifications_throughput.py --events 2000 --rate 110 --past-deliveries 20000
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.admin import AIOKafkaAdminClient

from notifications.standins import MailCatcher
from tdu_dev.testing.contacts import contact_upserted
from tdu_dev.testing.measure import cpu_seconds, percentile, store_pid
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_shared.contracts import journeys as j
from tdu_shared.envelope import new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing, ensure_topics
from tdu_shared.kafka_auth import connection
from tdu_shared.mongo import Document, connect
from tdu_shared.topics import ALL_TOPICS, JOURNEYS_EVENTS, Topics

JOURNEY = re.compile(r"/parcours/(B-\d+)")


def seeker(n: int) -> str:
    return f"BS-{n}"


def employer(n: int, employers: int) -> str | None:
    return f"BE-{n % employers}" if employers else None


def submitted(n: int, employers: int) -> Outgoing:
    event = j.ApplicationSubmitted(
        journey_id=f"B-{n}",
        offer_id=f"O-{n % 997}",
        seeker_id=seeker(n),
        employer_id=employer(n, employers),
        from_state=None,
        to_state=j.JourneyState.APPLIED,
        actor_role=j.Role.SEEKER,
        offer_title="Soudeur",
    )
    return Outgoing(
        JOURNEYS_EVENTS, f"B-{n}", new_envelope(event, producer="bench", region="44", basin="4410")
    )


def past_delivery(n: int, now: datetime) -> tuple[Document, Document]:
    """A delivery sent on an earlier day, as the service logs it, and its key."""
    at = now - timedelta(days=1 + n % 60, minutes=n % 1440)
    key = uuid.uuid5(uuid.NAMESPACE_URL, f"past-{n}").hex
    recipient = f"P-{n % 5000}"
    doc = {
        "_id": key,
        "status": "sent",
        "recipient_id": recipient,
        "audience": "seeker",
        "channel": "email",
        "template": "candidature_envoyee",
        "attempts": 1,
        "created_at": at,
        "due_at": at,
        "journey_id": f"PJ-{n}",
        "event": {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"past-event-{n}")),
            "event_type": "ApplicationSubmitted",
            "occurred_at": at,
            "region": "44",
            "basin": "4410",
            "journey_id": f"PJ-{n}",
            "seeker_id": recipient,
            "employer_id": None,
            "provider_id": None,
            "reminder_kind": None,
            "fields": {"offer_id": f"O-{n % 997}", "session_id": None, "offer_title": "Soudeur"},
        },
        "parts_sent": 0,
        "reason": None,
        "provider_message_id": "250 OK",
        "sent_day": at.date().isoformat(),
    }
    return doc, {"_id": key, "recipient_id": recipient}


def past_contact(n: int, now: datetime) -> Document:
    return {
        "_id": f"P-{n}",
        "role": "seeker",
        "display_name": f"Personne {n}",
        "email": f"p{n}@example.org",
        "phone": None,
        "phone_normalised": None,
        "consent_email": True,
        "consent_sms": False,
        "as_of": now - timedelta(days=30),
        "known": True,
    }


async def give_history(mongodb_url: str, database: str, deliveries: int, contacts: int) -> None:
    client = connect(mongodb_url)
    db = client[database]
    now = datetime.now(UTC)
    try:
        for start in range(0, deliveries, 1000):
            pairs = [past_delivery(n, now) for n in range(start, min(deliveries, start + 1000))]
            await db["deliveries"].insert_many([d for d, _ in pairs], ordered=False)
            await db["delivery_keys"].insert_many([k for _, k in pairs], ordered=False)
        for start in range(0, contacts, 1000):
            await db["contacts"].insert_many(
                [past_contact(n, now) for n in range(start, min(contacts, start + 1000))], ordered=False
            )
    finally:
        await client.close()


async def wait_for_mails(catcher: MailCatcher, count: int, timeout: float) -> None:
    for _ in range(int(timeout / 0.05)):  # the catcher runs in its own thread: poll it
        if len(catcher.messages) >= count:
            return
        await asyncio.sleep(0.05)


def tenth_rates(accepted: list[float]) -> tuple[float | None, float | None]:
    """E-mails/s over the first and over the last tenth of the e-mails (by acceptance time)."""
    k = len(accepted) // 10
    if k < 2:
        return None, None
    first = k / max(1e-6, accepted[k] - accepted[0])
    last = k / max(1e-6, accepted[-1] - accepted[-1 - k])
    return round(first, 1), round(last, 1)


async def run(
    events: int,
    rate: float,
    employers: int,
    past_deliveries: int,
    past_contacts: int,
    kafka: str,
    mongodb_url: str,
    timeout: float,
) -> dict[str, Any]:
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
    }
    log = Path(tempfile.gettempdir()) / f"{name}.log"
    service = ServiceProcess("notifications", ["serve"], env, log, port=port)
    store = store_pid(mongodb_url)
    mails_expected = events * (2 if employers else 1)
    try:
        history_start = time.time()
        await give_history(mongodb_url, name, past_deliveries, past_contacts)
        history_s = time.time() - history_start
        service.start()
        async with EventPublisher(kafka, topics) as publisher:
            if employers:
                await publisher.publish_many(
                    [
                        contact_upserted(f"BE-{n}", j.Role.EMPLOYER, f"be{n}@example.org")
                        for n in range(employers)
                    ]
                )
            warm_up = contact_upserted("BS--1", j.Role.SEEKER, "bs-1@example.org")
            await publisher.publish_many([warm_up])
            await asyncio.sleep(2)
            await publisher.publish_many([submitted(-1, 0)])  # warm-up: the path is open end to end
            await wait_for_mails(catcher, 1, 60)
            await asyncio.sleep(1)
            catcher.messages.clear()
            store_cpu_0, service_cpu_0 = (
                cpu_seconds(store),
                cpu_seconds(service.proc.pid if service.proc else None),
            )
            published: dict[str, float] = {}
            sending: list[asyncio.Task[None]] = []
            start = time.time()
            for n in range(events):  # on a fixed schedule: a slow acknowledgement does not delay the next
                delay = start + n / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                published[f"B-{n}"] = time.time()
                person = contact_upserted(seeker(n), j.Role.SEEKER, f"bs{n}@example.org")
                sending.append(asyncio.create_task(publisher.publish_many([person, submitted(n, employers)])))
            await asyncio.gather(*sending)
            fed_at = time.time()
        await wait_for_mails(catcher, mails_expected, timeout)
        store_cpu, service_cpu = cpu_seconds(store), cpu_seconds(service.proc.pid if service.proc else None)
        latencies, accepted = [], []
        for mail in catcher.messages:
            found = JOURNEY.search(mail.text)
            if found and found.group(1) in published:
                latencies.append(mail.received_at - published[found.group(1)])
                accepted.append(mail.received_at)
        accepted.sort()
        last = accepted[-1] if accepted else time.time()
        first_tenth, last_tenth = tenth_rates(accepted)
        store_cpu_s = round(store_cpu - store_cpu_0, 2) if store_cpu and store_cpu_0 is not None else None
        service_cpu_s = (
            round(service_cpu - service_cpu_0, 2) if service_cpu and service_cpu_0 is not None else None
        )
        return {
            "benchmark": "notifications_throughput",
            "events": events,
            "employers": employers,
            "past_deliveries": past_deliveries,
            "past_contacts": past_contacts,
            "history_written_s": round(history_s, 1),
            "target_rate_per_s": rate,
            "publish_rate_per_s": round(events / (fed_at - start), 1),
            "emails_expected": mails_expected,
            "emails_accepted": len(latencies),
            "duplicates": len(catcher.duplicates),
            "emails_per_s": round(len(latencies) / max(1e-6, last - start), 1),
            "emails_per_s_first_tenth": first_tenth,
            "emails_per_s_last_tenth": last_tenth,
            "last_email_after_s": round(last - start, 1),
            "drained_after_feed_s": round(max(0.0, last - fed_at), 1),
            "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "latency_p99_s": round(percentile(latencies, 99), 3) if latencies else None,
            "latency_max_s": round(max(latencies), 3) if latencies else None,
            "store_cpu_s": store_cpu_s,
            "store_cpu_ms_per_email": round(1000 * store_cpu_s / len(latencies), 2)
            if store_cpu_s is not None and latencies
            else None,
            "store_cpu_share": round(store_cpu_s / max(1e-6, last - start), 2)
            if store_cpu_s is not None
            else None,
            "service_cpu_s": service_cpu_s,
            "store": mongodb_url,
            "service_log": str(log),
        }
    finally:
        service.stop()
        catcher.stop()
        admin = AIOKafkaAdminClient(**connection(kafka))
        await admin.start()
        try:
            await admin.delete_topics(created)
        finally:
            await admin.close()
        client = connect(mongodb_url)
        await client.drop_database(name)
        await client.close()


def main(
    events: Annotated[int, typer.Option(help="Applications (ApplicationSubmitted) to feed.")] = 2000,
    rate: Annotated[float, typer.Option(help="Applications per second fed into the broker.")] = 110,
    employers: Annotated[
        int, typer.Option(help="Employers the applications go to (each told by e-mail); 0: seekers only.")
    ] = 250,
    past_deliveries: Annotated[int, typer.Option(help="Deliveries in the store before the run.")] = 20_000,
    past_contacts: Annotated[int, typer.Option(help="Contacts in the store before the run.")] = 20_000,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the last e-mail after feeding.")] = 300,
) -> None:
    """Print JSON: e-mails/s to SMTP acceptance (overall, first and last tenth), latency, store CPU."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    result = asyncio.run(
        run(events, rate, employers, past_deliveries, past_contacts, kafka, mongodb_url, timeout)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    typer.run(main)

"""A short fault run across the whole platform: every service is killed (SIGKILL, no clean shutdown) once
while work goes through it, then started again, and so is one broker of the three-node Kafka cluster the
platform runs on (every topic at replication factor 3, ``min.insync.replicas`` 2); once quiet, nothing is
lost and nothing is sent twice. (``make chaos`` is the long, seeded version: bench/chaos.py.)

The load goes through the public interfaces only: a catalogue and France Travail offers through the
services' import commands, applications over HTTP (sent again with the same idempotency key until
accepted, as a front end does while a service is down). Checked afterwards: every offer searchable with
its funded session, one journey per application, exactly one confirmation per seeker and one notice per
application to the employer (one message per recipient and subject: a deduplicating relay drops a resend
with the same Message-ID), and no dead letter on the journeys and eligibility topics.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tdu_dev.infra.local import Endpoints, LocalInfra
from tdu_dev.infra.platform import Platform, wait_for
from tdu_dev.infra.servers import kafka_ready
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_dev.testing.platform import running_platform
from tdu_shared import kafka_auth
from tdu_shared.topics import JOURNEYS_COMMANDS, JOURNEYS_EVENTS, MATCHING_ELIGIBILITY, Topics

from .fixtures import EMPLOYER_EMAIL, apply_until_accepted, import_catalogue_and_offers, now_utc, offer_record

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.cluster, pytest.mark.timeout(900)]

APPLICATIONS = 24
"""As many offers, each with its own title: every message's subject names its offer."""


@pytest.fixture(scope="module")
def platform(infrastructure: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The five services on the three-node cluster (started here, stopped after) and the tests' store."""
    infra = LocalInfra()
    try:
        bootstrap = infra.start_cluster()
        on_cluster = Endpoints(bootstrap, infrastructure.mongodb_url, infra.endpoints().kafka_users)
        kafka_auth.use(on_cluster.kafka_auth())
        with running_platform(on_cluster, tmp_path_factory.mktemp("outbox"), replication_factor=3) as running:
            yield running
    finally:  # also when it did not come up: no broker left running
        kafka_auth.use(infrastructure.kafka_auth())
        for node in infra.cluster():
            node.stop()


def kill_a_broker(platform: Platform, down_s: float) -> threading.Thread:
    """SIGKILL one broker of the cluster; a thread starts it again after ``down_s`` and waits until the
    cluster has its three brokers."""
    node = LocalInfra().cluster()[1]
    pid = node.pid()
    assert pid is not None, "the cluster's second broker is not running"
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not node.running(), 10, f"{node.name} to be gone")
    auth = platform.endpoints.kafka_auth()

    def back() -> None:
        time.sleep(down_s)
        node.start()
        bootstrap = platform.endpoints.kafka_bootstrap_servers
        node.wait_ready(lambda: kafka_ready(bootstrap, expected_brokers=3, auth=auth), 120)

    thread = threading.Thread(target=back, daemon=True)
    thread.start()
    return thread


def title(n: int) -> str:
    return f"Agent de propreté {n} (H/F)"


def restart(platform: Platform, service: str) -> None:
    process = platform.processes[service]
    process.kill()
    process.start(ready_timeout=90)


def search_shows(platform: Platform) -> set[str]:
    answer = httpx.get(
        f"{platform.url('matching')}/search",
        params={"commune": "57463", "radius_km": 30, "limit": 100},
        timeout=10,
    )
    if answer.status_code != 200:
        return set()
    return {r["offer"]["offer_id"] for r in answer.json()["results"] if r["sessions"]}


def apply(platform: Platform, n: int, offer_id: str) -> dict[str, Any]:
    application = {
        "offer_id": offer_id,
        "first_name": "Camille",
        "last_name": f"Essai{n}",
        "email": f"seeker{n}@exemple.fr",
        "postal_code": "57000",
        "consent_email": True,
        "consent_sms": False,
    }
    seeker = platform.session("seeker", f"seeker-{n}")
    journey: dict[str, Any] = apply_until_accepted(
        platform.url("journeys"), application, seeker, f"f-{n}", timeout=180
    )
    return journey


def mails(platform: Platform) -> Counter[tuple[str, str]]:
    """How many messages each (recipient, subject) got."""
    index = platform.mail_dir / "index.jsonl"
    lines = index.read_text(encoding="utf-8").splitlines() if index.exists() else []
    got: Counter[tuple[str, str]] = Counter()
    for entry in (json.loads(line) for line in lines if line.strip()):
        for to in entry["to"]:
            got[(to, entry["subject"])] += 1
    return got


def expected_mail() -> set[tuple[str, str]]:
    seekers = {
        (f"seeker{n}@exemple.fr", f"Votre candidature « {title(n)} » est envoyée")
        for n in range(APPLICATIONS)
    }
    employer = {(EMPLOYER_EMAIL, f"Nouvelle candidature pour « {title(n)} »") for n in range(APPLICATIONS)}
    return seekers | employer


async def dead_letters(platform: Platform) -> dict[str, int]:
    topics = Topics(platform.topic_prefix)
    counts = {}
    for spec in (JOURNEYS_COMMANDS, JOURNEYS_EVENTS, MATCHING_ELIGIBILITY):
        try:
            found = await read_topic(
                platform.endpoints.kafka_bootstrap_servers, topics.dlq(spec), until=1, timeout=3
            )
        except TimeoutError:
            found = []
        counts[topics.dlq(spec)] = len(found)
    return counts


def test_each_service_killed_once_loses_nothing_and_sends_nothing_twice(
    platform: Platform, tmp_path: Path
) -> None:
    now = now_utc()
    offer_ids = [f"FAULT{n:04d}" for n in range(APPLICATIONS)]
    records = [offer_record(offer_id, now, title=title(n)) for n, offer_id in enumerate(offer_ids)]
    import_catalogue_and_offers(platform, tmp_path, "faults", records)
    restart(platform, "trainings")
    restart(platform, "offers")  # killed while it may still be storing and publishing the offers
    restart(platform, "matching")  # and matching while it may be evaluating them
    wait_for(lambda: search_shows(platform) >= set(offer_ids) or None, 120, "every offer in the search")

    killed: dict[str, bool] = {}
    broker_back: list[threading.Thread] = []

    def kill_midway(n: int) -> None:
        if n == APPLICATIONS // 6 and not broker_back:
            broker_back.append(kill_a_broker(platform, down_s=15))  # down while applications go on
        if n == APPLICATIONS // 3 and not killed.get("journeys"):
            killed["journeys"] = True
            restart(platform, "journeys")
        if n == 2 * APPLICATIONS // 3 and not killed.get("notifications"):
            killed["notifications"] = True
            restart(platform, "notifications")

    lock = threading.Lock()

    def one(n: int) -> dict[str, Any]:
        with lock:
            kill_midway(n)
        return apply(platform, n, offer_ids[n])

    with ThreadPoolExecutor(max_workers=4) as pool:
        journeys = list(pool.map(one, range(APPLICATIONS)))
    assert killed == {"journeys": True, "notifications": True}
    broker_back[0].join(150)
    bootstrap, auth = platform.endpoints.kafka_bootstrap_servers, platform.endpoints.kafka_auth()
    assert kafka_ready(bootstrap, expected_brokers=3, auth=auth), "the killed broker did not come back"
    assert len({j["journey_id"] for j in journeys}) == APPLICATIONS

    def all_mail_in() -> Counter[tuple[str, str]] | None:
        got = mails(platform)
        return got if expected_mail() <= set(got) else None

    got: Counter[tuple[str, str]] = wait_for(all_mail_in, 180, "every confirmation and employer notice")
    twice = {key: n for key, n in mails(platform).items() if n > 1}
    assert twice == {}  # nobody got one message twice
    assert all(got[key] == 1 for key in expected_mail())
    operator = platform.session("basin_operator", "operateur@metz.test", basins=["4410"])
    listed = httpx.get(f"{platform.url('journeys')}/journeys", params={"basin": "4410"}, headers=operator)
    assert listed.json()["total"] == APPLICATIONS
    assert asyncio.run(dead_letters(platform)) == {
        Topics(platform.topic_prefix).dlq(spec): 0
        for spec in (JOURNEYS_COMMANDS, JOURNEYS_EVENTS, MATCHING_ELIGIBILITY)
    }

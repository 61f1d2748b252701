"""Every query the delivery path sends is served by the ``_id`` index of the real store (its query plan,
``explain``), except the search for due deliveries, whose collection holds one small entry per delivery not
final yet: that bound is tested here too. Commands are captured with PyMongo's command monitoring."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import monitoring
from pymongo.asynchronous.database import AsyncDatabase

from notifications.adapters.mongo import DUE, UNREPORTED, MongoContactStore, MongoDeliveryStore
from notifications.adapters.mongo_webhooks import DUE as WEBHOOK_DUE
from notifications.adapters.mongo_webhooks import MongoWebhookStore
from notifications.adapters.operators import load_operators
from notifications.adapters.webhook_http import HttpWebhookSender
from notifications.domain.model import Audience, Channel, Contact, Delivery, JourneyFacts, Status
from notifications.main import build_service
from notifications.ports import Outcome
from notifications.settings import Settings
from notifications.standins import MailCatcher
from notifications.webhooks.dispatcher import OperatorAlerts, WebhookDispatcher
from notifications.webhooks.model import Retry as WebhookRetry
from notifications.webhooks.model import Subscription, WebhookStatus, new_subscription_id
from notifications.webhooks.planner import PartnerKeys, WebhookPlanner
from notifications.webhooks.urls import system_resolver
from tdu_dev.testing.access import partner_key
from tdu_dev.testing.contacts import contact_upserted
from tdu_dev.testing.plans import assert_id_only, query_plan
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_dev.testing.receiver import Receiver
from tdu_shared.access.keys import KeyRing
from tdu_shared.contracts import journeys as j
from tdu_shared.envelope import Envelope, new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing
from tdu_shared.mongo import Document, connect
from tdu_shared.topics import JOURNEYS_EVENTS, Topics

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
DAY = "2026-03-10"
CHECK = "test check"
BOUNDED = {(DUE, '{"_id": {"$lte": "str"}}'), (UNREPORTED, "{}"), (WEBHOOK_DUE, '{"_id": {"$lte": "str"}}')}
"""The reads with a filter other than one _id, on purpose: the searches for due deliveries (e-mails and
SMS, webhooks) and the outcomes left to publish. These collections only hold deliveries not final (or not
published) yet: the tests below check that bound."""


class Queries(monitoring.CommandListener):
    """The filters of every read, update and delete sent to one database."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.active = True
        self.seen: dict[tuple[str, str, str], Document] = {}  # (collection, command, shape) -> one filter

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.active or event.database_name != self.database:
            return
        cmd, name = event.command, event.command_name
        if cmd.get("comment") == CHECK:  # the test's own look at the store
            return
        if name in ("find", "count", "distinct", "aggregate"):
            filters = [cmd.get("filter", cmd.get("query", {}))]
        elif name == "update":
            filters = [u["q"] for u in cmd.get("updates", [])]
        elif name == "delete":
            filters = [d["q"] for d in cmd.get("deletes", [])]
        elif name == "findAndModify":
            filters = [cmd.get("query", {})]
        else:
            return
        for f in filters:
            self.seen.setdefault((cmd[name], name, shape(f)), dict(f))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def shape(value: Any) -> str:
    """A filter with its values replaced by their types: one explain per kind of query."""

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()}
        if isinstance(v, list):
            return [strip(x) for x in v[:1]]
        return type(v).__name__

    return json.dumps(strip(value), sort_keys=True)


@pytest.fixture
def queries(mongo_db_name: str) -> Iterator[Queries]:
    listener = Queries(mongo_db_name)
    monitoring.register(listener)  # clients made from now on report to it
    yield listener
    listener.active = False  # PyMongo has no unregister


async def assert_served_by_id(db: AsyncDatabase[Document], queries: Queries) -> list[str]:
    """Explain every captured filter on the store; the ones outside BOUNDED must use the _id index."""
    queries.active = False
    checked = []
    for (collection, command, kind), f in sorted(queries.seen.items()):
        if (collection, kind) in BOUNDED:
            continue
        col = db[collection]
        if await col.find_one({}) is None:  # no plan without a document
            await col.insert_one({"_id": "plan-probe"})
        await assert_id_only(col, f)
        checked.append(f"{collection} {command} {json.dumps(f, default=str)}")
    return checked


def delivery(key: str, recipient: str, channel: Channel = Channel.EMAIL) -> Delivery:
    facts = JourneyFacts(
        "5d6f3c1e-0000-4000-8000-000000000001",
        "ApplicationSubmitted",
        NOW,
        "44",
        "4410",
        "J1",
        recipient,
        None,
        None,
        None,
        {"offer_title": "Soudeur"},
    )
    return Delivery(
        key, facts, recipient, Audience.SEEKER, channel, "candidature_envoyee", Status.PENDING, 0, NOW, NOW
    )


async def count(db: AsyncDatabase[Document], collection: str) -> int:
    return await db[collection].count_documents({}, comment=CHECK)


async def test_the_store_reads_and_writes_deliveries_and_contacts_by_id_only(
    mongodb_url: str, mongo_db_name: str, queries: Queries
) -> None:
    client = connect(mongodb_url)
    try:
        db = client[mongo_db_name]
        store, contacts = MongoDeliveryStore(db), MongoContactStore(db)
        lease = timedelta(seconds=30)
        # a journey event's messages are stored, sent at once, recorded
        await contacts.upsert(Contact("S1", "seeker", "Camille", "c@example.org", None, True, False), NOW)
        await contacts.upsert(Contact("S1", "seeker", "Old", "o@example.org", None, True, False), NOW)
        await contacts.get_many(["S1", "S2"])
        fresh = [delivery(f"k{n}", "S1") for n in range(3)]
        assert await store.add(fresh) == ["k0", "k1", "k2"]
        assert await store.add(fresh) == []  # a replay
        claimed = await store.claim_these(fresh, NOW + lease)
        assert await store.sent_on(["S1"], DAY) == {}
        sent = Outcome(claimed[0], Status.SENT, "sent", attempts=1, sent_day=DAY)
        await store.record_sent(sent)
        retry = Outcome(
            claimed[1], Status.PENDING, None, "relay unreachable", 1, due_at=NOW + timedelta(seconds=2)
        )
        wait = Outcome(
            claimed[2], Status.PENDING, "deferred", "waiting for the contact", 0, due_at=NOW + lease
        )
        await store.record([sent, retry, wait])
        assert await store.sent_on(["S1"], DAY) == {"S1": 1}
        # the retry comes due and is claimed by the search; the process dies with it
        [again] = await store.claim(NOW + timedelta(seconds=2), NOW + timedelta(seconds=4), 10)
        assert again.key == "k1"
        # its lease runs out: another instance takes it over, and it was not sent: it is sent now
        other = MongoDeliveryStore(db)
        [taken] = await other.claim(NOW + timedelta(seconds=5), NOW + lease, 10)
        assert (taken.key, taken.was_in_flight) == ("k1", True)
        # the contact the waiting message wanted arrives
        assert await store.wake("S1", NOW + timedelta(seconds=6)) == 1
        [woken] = await store.claim(NOW + timedelta(seconds=6), NOW + lease, 10)
        assert woken.key == "k2"
        await other.record([Outcome(taken, Status.SENT, "sent", attempts=2, sent_day=DAY)])
        await store.record([Outcome(woken, Status.SKIPPED, "skipped", "daily cap of 1 messages reached")])
        reports = await store.unreported(10)
        await store.mark_reported([o.report_key for o in reports])
        assert await store.sent_on(["S1"], DAY) == {"S1": 2}
        # everything is final: the collections the delivery path searches are empty again
        assert [await count(db, c) for c in ("outbox", DUE, "in_flight", UNREPORTED)] == [0, 0, 0, 0]
        assert await count(db, "deliveries") == 3

        checked = await assert_served_by_id(db, queries)
        kinds = {" ".join(line.split(" ")[:2]) for line in checked}
        assert {
            "outbox find",
            "outbox update",
            "outbox delete",
            "due delete",
            "in_flight find",
            "in_flight delete",
            "deliveries find",
            "daily_counts find",
            "daily_counts update",
            "contacts find",
            "contacts update",
            "waiting find",
            "waiting delete",
            "waiting update",
            "unreported delete",
        } <= kinds, checked
        assert {kind for collection, _, kind in queries.seen if collection == DUE} == {
            '{"_id": "str"}',
            '{"_id": {"$lte": "str"}}',
        }
        plan = await query_plan(db["deliveries"], {"sent_day": DAY})  # the old daily count: a scan
        assert not plan["uses_id_index"], plan["plan"]
        with pytest.raises(AssertionError, match="not served by the _id index"):
            await assert_id_only(db["deliveries"], {"sent_day": DAY})
    finally:
        await client.close()


async def test_the_due_search_reads_one_entry_per_delivery_not_final_whatever_the_log_holds(
    mongo_db: AsyncDatabase[Document],
) -> None:
    store = MongoDeliveryStore(mongo_db)
    past = [delivery(f"past{n}", f"P{n}") for n in range(300)]
    await store.add(past)
    done = await store.claim(NOW, NOW + timedelta(seconds=30), 300)
    await store.record([Outcome(d, Status.SENT, "sent", attempts=1, sent_day=DAY) for d in done])
    assert (await count(mongo_db, "deliveries"), await count(mongo_db, DUE)) == (300, 0)

    later = [delivery(f"new{n}", f"S{n}") for n in range(20)]
    await store.add(later)
    assert await count(mongo_db, DUE) == await count(mongo_db, "outbox") == 20
    claimed = await store.claim(NOW, NOW + timedelta(seconds=30), 8)
    assert len(claimed) == 8 and await count(mongo_db, "in_flight") == 8  # a lease per delivery in hand
    retries = [
        Outcome(d, Status.PENDING, None, "busy", 1, due_at=NOW + timedelta(minutes=n))
        for n, d in enumerate(claimed)
    ]
    await store.record(retries)
    # rescheduled: still one entry each, none for the old due time, no lease left
    assert await count(mongo_db, DUE) == await count(mongo_db, "outbox") == 20
    assert await count(mongo_db, "in_flight") == 0
    rest = await store.claim(NOW + timedelta(hours=1), NOW + timedelta(hours=2), 100)
    assert sorted(d.key for d in rest) == sorted(d.key for d in later)
    await store.record([Outcome(d, Status.FAILED, "failed", "refused", 2) for d in rest])
    assert [await count(mongo_db, c) for c in (DUE, "outbox", "in_flight")] == [0, 0, 0]
    assert await count(mongo_db, "deliveries") == 320


def sms_standin(tmp_path: Path) -> tuple[ServiceProcess, str]:
    port = free_port()
    process = ServiceProcess(
        "notifications",
        ["sms-standin", "--port", str(port), "--record-file", str(tmp_path / "sms.jsonl")],
        {},
        tmp_path / "sms.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/received", timeout=1)
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def submitted(n: int, seeker: str) -> Outgoing:
    event = j.ApplicationSubmitted(
        journey_id=f"J-{n}",
        offer_id="O-1",
        seeker_id=seeker,
        from_state=None,
        to_state=j.JourneyState.APPLIED,
        actor_role=j.Role.SEEKER,
        offer_title="Soudeur",
    )
    return Outgoing(
        JOURNEYS_EVENTS, f"J-{n}", new_envelope(event, producer="journeys", region="44", basin="4410")
    )


async def test_the_running_service_reads_by_id_only(
    service_env: dict[str, str],
    kafka_bootstrap: str,
    topics: Topics,
    mongodb_url: str,
    mongo_db_name: str,
    queries: Queries,
    tmp_path: Path,
) -> None:
    """Consumers, delivery loop, retries and the contact that comes late, in one service in this process."""
    catcher = MailCatcher(port=free_port()).start()
    standin, sms_url = sms_standin(tmp_path)
    values = {k.lower(): v for k, v in service_env.items()}
    settings = Settings(
        **values,
        smtp_port=catcher.port,
        sms_api_base_url=sms_url,
        quiet_start="00:00",
        quiet_end="00:00",
        retry_base_s=0.2,
        dispatch_poll_s=0.2,
        contact_retry_s=60,
    )
    service = build_service(settings)
    try:
        async with service.app.router.lifespan_context(service.app):
            async with EventPublisher(kafka_bootstrap, topics) as publisher:
                await publisher.publish_many(
                    [
                        contact_upserted(
                            "S-1", j.Role.SEEKER, "s1@example.org", phone="0612345678", consent_sms=True
                        )
                    ]
                )
                await asyncio.sleep(1)
                async with httpx.AsyncClient() as http:  # one SMS retried
                    await http.post(f"{sms_url}/fail-next", params={"status": 503}, timeout=5)
                await publisher.publish_many([submitted(1, "S-1"), submitted(2, "S-2")])  # S-2 unknown yet
                await asyncio.sleep(2)
                await publisher.publish_many([contact_upserted("S-2", j.Role.SEEKER, "s2@example.org")])
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient() as http:
                while len(catcher.messages) < 2 or len((await http.get(f"{sms_url}/received")).json()) < 1:
                    assert time.monotonic() < deadline, "the messages did not all arrive"
                    await asyncio.sleep(0.1)
        assert sorted(m.rcpt_to[0] for m in catcher.messages) == ["s1@example.org", "s2@example.org"]
        client = connect(mongodb_url)
        try:
            db = client[mongo_db_name]
            checked = await assert_served_by_id(db, queries)
            kinds = {" ".join(line.split(" ")[:2]) for line in checked}
            assert {
                "outbox find",
                "outbox update",
                "outbox delete",
                "due delete",
                "in_flight delete",
                "daily_counts find",
                "daily_counts update",
                "contacts find",
                "contacts update",
                "waiting find",
                "waiting delete",
            } <= kinds, checked
        finally:
            await client.close()
    finally:
        standin.stop()
        catcher.stop()


class Now:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Offered:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    def offer(self, deliveries: Sequence[Delivery]) -> None:
        self.deliveries.extend(deliveries)


def journey_event(journey: str, event: type[j.JourneyEvent] = j.TrainingCommitmentSigned) -> Envelope[Any]:
    extra = {"reason": "erreur de saisie"} if event is j.StepCorrected else {}
    payload = event(
        **extra,
        journey_id=journey,
        offer_id="O-1",
        seeker_id="S-1",
        from_state=None,
        to_state=j.JourneyState.COMMITMENT_SIGNED,
        actor_role=j.Role.SEEKER,
    )
    return new_envelope(payload, producer="journeys", region="44", basin="4410")


async def idle(dispatcher: WebhookDispatcher) -> None:
    deadline = time.monotonic() + 20
    while dispatcher.busy:
        assert time.monotonic() < deadline, "webhook tasks did not end"
        await asyncio.sleep(0.02)


async def test_webhook_paths_read_and_write_by_id_only(
    mongodb_url: str, mongo_db_name: str, queries: Queries
) -> None:
    """Planning, claiming, sending, retrying, giving up, parking, resuming, the log and the partner API's
    reads, with the store, a real receiver and the real HTTP sender."""
    receiver = Receiver().start()
    client = connect(mongodb_url)
    sender = HttpWebhookSender(timeout_s=5)
    try:
        db = client[mongo_db_name]
        store, clock, offered = MongoWebhookStore(db), Now(), Offered()
        ring = KeyRing()
        partner_key(ring, "ml-metz", ["webhooks:write"], basins=["4410"])
        keys = PartnerKeys(ring)
        planner = WebhookPlanner(store, keys, clock)
        dispatcher = WebhookDispatcher(
            store=store,
            sender=sender,
            resolver=system_resolver,
            keys=keys,
            alerts=OperatorAlerts(MongoDeliveryStore(db), offered, load_operators()),
            clock=clock,
            retry=WebhookRetry(base_s=0.05, max_s=0.1, give_up_s=0.5),
            allow_loopback=True,
            timeout_s=5,
        )
        sub = Subscription(
            new_subscription_id(), "ml-metz", "44", receiver.url, (), ("4410",), "s", clock.now()
        )
        await store.create(sub, 20)
        events = [journey_event("J-1"), journey_event("J-1", j.JourneyCommitted), journey_event("J-2")]
        planned = await planner.plan(events)
        assert planned.deliveries == 3 and len(planned.due) == 2  # one queue per journey
        replayed = await planner.plan(events)  # adds nothing; makes the queues due again (a crash may have
        assert replayed.deliveries == 0 and len(replayed.due) == 2  # come between their queueing and that)
        assert await dispatcher.run_once(planned.due) == 0  # those entries are no longer the queues'
        assert await dispatcher.run_once(replayed.due) == 2
        await idle(dispatcher)
        assert len(receiver.delivered()) == 3

        receiver.answer(500)  # failures, retries, then the subscription gives up
        planned = await planner.plan([journey_event("J-1", j.StepCorrected)])
        await dispatcher.run_once(planned.due)
        deadline = time.monotonic() + 20
        while (await store.get_many([sub.id]))[sub.id].status is WebhookStatus.ACTIVE:
            assert time.monotonic() < deadline, "not flagged"
            await idle(dispatcher)
            await dispatcher.run_once()
            await asyncio.sleep(0.05)
        await idle(dispatcher)
        assert [d.template for d in offered.deliveries] == ["webhook_en_echec"]

        receiver.answer(204)  # resumed: the parked queue goes
        pairs = await store.resume(sub.id, clock.now())
        assert pairs == [f"{sub.id}|J-1"]
        entries = await store.schedule(dict.fromkeys(pairs, clock.now()))
        await dispatcher.run_once([(entry, pair) for pair, entry in entries.items()])
        await idle(dispatcher)
        assert len(receiver.delivered()) == 4
        # a lease run out is taken over
        assert await store.lease(["probe|J"], clock.now(), clock.now()) == {"probe|J": None}
        taken = await store.lease(["probe|J"], clock.now() + timedelta(seconds=1), clock.now())
        assert taken["probe|J"] is not None and taken["probe|J"].startswith("probe|J#")  # the takeover marker
        await store.release(taken)

        items, cursor = await store.page(sub.id, None, 2)
        assert [d.seq for d in items] == [4, 3] and cursor == 3
        assert [d.seq for d in (await store.page(sub.id, cursor, 2))[0]] == [2, 1]
        await store.rotate_secret(sub.id, "new", "s", clock.now())
        assert [s.id for s in await store.of_partner("44", "ml-metz")] == [sub.id]
        assert [await count(db, c) for c in ("webhook_due", "webhook_in_flight")] == [0, 0]
        await store.delete(sub)

        checked = await assert_served_by_id(db, queries)
        kinds = {" ".join(line.split(" ")[:2]) for line in checked}
        assert {
            "webhook_routes find",
            "webhook_routes update",
            "webhook_subscriptions find",
            "webhook_subscriptions findAndModify",
            "webhook_subscriptions update",
            "webhook_partners find",
            "webhook_partners update",
            "webhook_keys find",
            "webhook_deliveries find",
            "webhook_deliveries update",
            "webhook_queues find",
            "webhook_queues findAndModify",
            "webhook_due delete",
            "webhook_in_flight find",
            "webhook_in_flight delete",
            "webhook_parked find",
            "webhook_parked update",
            "webhook_parked delete",
        } <= kinds, checked
        assert {kind for collection, _, kind in queries.seen if collection == WEBHOOK_DUE} == {
            '{"_id": "str"}',
            '{"_id": {"$lte": "str"}}',
        }
    finally:
        await sender.close()
        await client.close()
        receiver.stop()

"""Webhooks end to end: the service in-process on the real broker and store, partner keys published on
``access.keys``, journey events published on ``journeys.events``, and real HTTP receivers (a local server
each, on a free port) that answer what the test tells them to."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
import pytest_asyncio

from notifications.main import build_service
from notifications.settings import Settings
from notifications.standins import MailCatcher
from tdu_dev.testing.processes import free_port
from tdu_dev.testing.receiver import Hit, Receiver
from tdu_shared.access.keys import new_key
from tdu_shared.contracts import journeys as j
from tdu_shared.contracts.access import PartnerKeyIssued
from tdu_shared.envelope import Envelope, new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing
from tdu_shared.problems import PROBLEM_JSON
from tdu_shared.topics import ACCESS_KEYS, JOURNEYS_EVENTS, Topics

pytestmark = pytest.mark.integration

OPERATOR_METZ = "operateur.metz@traitdunion.eu"


def signatures(secret: str, hit: Hit) -> list[str]:
    """The signature a receiver computes itself (no code of the service), against those in the header."""
    expected = hmac.new(
        secret.encode(), hit.headers["x-tdu-timestamp"].encode() + b"." + hit.body, hashlib.sha256
    ).hexdigest()
    sent = [part.strip() for part in hit.headers["x-tdu-signature"].split(",")]
    return [expected, *sent]


def signed_by(secret: str, hit: Hit) -> bool:
    expected, *sent = signatures(secret, hit)
    return f"sha256={expected}" in sent and abs(int(hit.headers["x-tdu-timestamp"]) - hit.at) < 300


async def issue_key(bootstrap: str, topics: Topics, partner: str, basins: list[str]) -> dict[str, str]:
    """A partner key, published on access.keys as `tdu-access keys create` does; its Authorization header."""
    key_id, key, digest = new_key()
    issued = PartnerKeyIssued(
        key_id=key_id,
        partner=partner,
        region="44",
        basins=basins,
        capabilities=["webhooks:write", "journeys:read"],
        secret_sha256=digest,
        issued_by="tests@traitdunion.test",
    )
    async with EventPublisher(bootstrap, topics) as publisher:
        await publisher.publish(
            ACCESS_KEYS, key_id, new_envelope(issued, producer="tdu-access", region="44", basin=None)
        )
    return {"Authorization": f"Bearer {key}"}


def base(journey: str) -> dict[str, Any]:
    return dict(
        journey_id=journey,
        offer_id=f"O-{journey}",
        seeker_id=f"S-{journey}",
        employer_id=f"E-{journey}",
        session_id="SE-1",
        provider_id="P-1",
        from_state=None,
        to_state=j.JourneyState.APPLIED,
        actor_role=j.Role.SEEKER,
    )


def journey(journey_id: str, basin: str) -> list[Envelope[Any]]:
    """A scripted journey: application, immersion, promise, commitment, committed, training, hire."""
    b = base(journey_id)
    events: list[j.JourneyEvent] = [
        j.ApplicationSubmitted(**b, offer_title="Soudeur"),
        j.ImmersionScheduled(**b, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 3), place="Metz"),
        j.ImmersionCompleted(**b, outcome="positive"),
        j.HiringPromiseSigned(**b, contract_type="CDI", planned_start=date(2027, 6, 1), position="Soudeur"),
        j.TrainingCommitmentSigned(**b),
        j.JourneyCommitted(**b),
        j.TrainingStarted(**b, started_on=date(2027, 1, 4)),
        j.SeekerHired(**b, contract_start=date(2027, 6, 1), contract_type="CDI"),
    ]
    return [new_envelope(e, producer="journeys", region="44", basin=basin) for e in events]


async def publish(publisher: EventPublisher, events: list[Envelope[Any]]) -> float:
    await publisher.publish_many([Outgoing(JOURNEYS_EVENTS, e.payload.journey_id, e) for e in events])
    return time.time()


async def until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def settings_for(service_env: dict[str, str], **extra: Any) -> Settings:
    values = {k.lower(): v for k, v in service_env.items()}
    nowhere = f"http://127.0.0.1:{free_port()}"  # the journeys' own SMS: not what these tests look at
    return Settings(
        **{
            **values,
            "sms_api_base_url": nowhere,
            "webhooks_allow_loopback": True,
            "webhooks_poll_s": 0.2,
            "webhooks_retry_base_s": 0.2,
            "webhooks_retry_max_s": 1.0,
            **extra,
        }
    )


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    metz, nancy = Receiver().start(), Receiver().start()
    yield metz, nancy
    metz.stop()
    nancy.stop()


@pytest_asyncio.fixture
async def keys(kafka_bootstrap: str, topics: Topics) -> dict[str, dict[str, str]]:
    return {
        "metz": await issue_key(kafka_bootstrap, topics, "mission-locale-metz", ["4410"]),
        "nancy": await issue_key(kafka_bootstrap, topics, "mission-locale-nancy", ["4412"]),
    }


@pytest_asyncio.fixture
async def api(
    service_env: dict[str, str], mail_catcher: MailCatcher, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    extra = getattr(request, "param", {})
    service = build_service(settings_for(service_env, smtp_port=mail_catcher.port, **extra))
    async with service.app.router.lifespan_context(service.app):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as client:
            yield client


async def subscribe(api: httpx.AsyncClient, key: dict[str, str], **body: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:  # the service learns the key from access.keys
        answer = await api.post("/v1/webhooks", json=body, headers=key)
        if answer.status_code != 401 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_each_event_reaches_its_receivers_once_signed_and_in_order_after_a_failing_spell(
    api: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    receivers: tuple[Receiver, Receiver],
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    metz, nancy = receivers
    sub = await subscribe(api, keys["metz"], callback_url=metz.url)
    assert (sub["basins"], sub["event_types"], sub["status"]) == (["4410"], [], "active")
    secret = sub["secret"]
    sub_nancy = await subscribe(api, keys["nancy"], callback_url=nancy.url, basins=["4412"])
    j1, j2, j3 = journey("J-1", "4410"), journey("J-2", "4410"), journey("J-3", "4412")
    await asyncio.sleep(3)  # the webhook consumer has joined its group

    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        # 1. the receiver answers 204: each event arrives, once, signed
        published = {e.event_id: await publish(publisher, [e]) for e in j1[:3]}
        await publish(publisher, j3[:2])
        await until(lambda: len(metz.delivered()) >= 3, 30, "the first three events did not arrive")
        latencies = [
            next(h.at for h in metz.delivered() if h.json["event_id"] == str(e)) - at
            for e, at in published.items()
        ]
        print(f"\nevent published -> receiver answered 2xx: {[f'{s:.2f}s' for s in latencies]}")

        # 2. it answers 500 for a while: nothing behind a failing delivery of a journey is attempted
        metz.answer(500)
        await publish(publisher, j1[3:6])
        await publish(publisher, j2[:2])
        await until(lambda: len(metz.all()) >= 3 + 6, 30, "no retries while the receiver answered 500")
        await asyncio.sleep(1.5)
        failed_spell_hits = len(metz.all()) - 3
        metz.answer(204)
        recovered_at = time.time()
        await until(lambda: len(metz.delivered()) >= 8, 30, "the deliveries did not arrive after recovery")
        await asyncio.sleep(2)  # a repeat would show by now

    hits, delivered = metz.all(), metz.delivered()
    expected = {str(e.event_id): e for e in [*j1[:6], *j2[:2]]}
    assert sorted(h.json["event_id"] for h in delivered) == sorted(expected)  # each once, nothing of 4412
    assert len({h.delivery for h in delivered}) == len(delivered) == 8
    for hit in delivered:
        body, event = hit.json, expected[hit.json["event_id"]]
        assert signed_by(secret, hit) and not signed_by(sub_nancy["secret"], hit)
        assert body["delivery_id"] == hit.delivery and hit.headers["content-type"] == "application/json"
        assert (body["event_type"], body["journey_id"], body["basin"], body["region"]) == (
            event.type,
            event.payload.journey_id,
            "4410",
            "44",
        )
        assert body["data"] == event.payload.model_dump(mode="json")
        assert body["occurred_at"] == event.occurred_at.isoformat()
    assert failed_spell_hits >= 6 and all(h.status == 500 for h in hits[3 : 3 + failed_spell_hits])
    assert min(h.at for h in delivered[3:]) >= recovered_at - 0.5  # none of those got through while failing
    print(f"receiver recovered -> last pending delivery answered 2xx: {delivered[-1].at - recovered_at:.2f}s")
    # in order per journey: every attempt (500s included) is for the first delivery not yet delivered
    for events in (j1[:6], j2[:2]):
        order = [str(e.event_id) for e in events]
        done = 0
        for hit in (h for h in hits if h.json["event_id"] in order):
            assert hit.json["event_id"] == order[done], "an event was attempted before an earlier one"
            done += 1 if hit.status < 300 else 0
        assert done == len(order)
    # the other basin's receiver got its own events and nothing else
    assert sorted(h.json["event_id"] for h in nancy.delivered()) == sorted(str(e.event_id) for e in j3[:2])
    assert all(h.json["basin"] == "4412" and signed_by(sub_nancy["secret"], h) for h in nancy.all())

    # 3. the delivery log, newest first, page by page
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await api.get(f"/v1/webhooks/{sub['id']}/deliveries", params=params, headers=keys["metz"])
        assert page.status_code == 200, page.text
        pages.append(page.json()["deliveries"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    log = [d for p in pages for d in p]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [d["delivery_id"] for d in log] == [f"{sub['id']}-{n}" for n in range(8, 0, -1)]
    assert all(d["status"] == "delivered" and d["last_result"] == "HTTP 204" for d in log)
    assert sum(d["attempts"] for d in log) == len(hits)
    assert {d["event_id"] for d in log} == set(expected)

    # 4. a replay: a new delivery of the same event
    first = log[-1]
    replayed = await api.post(
        f"/v1/webhooks/{sub['id']}/deliveries/{first['delivery_id']}/replay", headers=keys["metz"]
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["replay_of"] == first["delivery_id"]
    await until(lambda: len(metz.delivered()) == 9, 20, "the replay did not arrive")
    again = metz.delivered()[-1]
    assert again.delivery == replayed.json()["delivery_id"] != first["delivery_id"]
    assert again.json["event_id"] == first["event_id"] and signed_by(secret, again)

    # 5. a rotation: the next delivery is signed with the new secret and, for a while, the old one
    rotated = await api.post(f"/v1/webhooks/{sub['id']}/secret", headers=keys["metz"])
    assert rotated.status_code == 200 and rotated.json()["secret"] != secret
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await publish(publisher, [j1[6]])
    await until(lambda: len(metz.delivered()) == 10, 20, "the event after the rotation did not arrive")
    last = metz.delivered()[-1]
    assert signed_by(rotated.json()["secret"], last) and signed_by(secret, last)
    assert last.headers["x-tdu-signature"].startswith(
        f"sha256={signatures(rotated.json()['secret'], last)[0]}"
    )


async def test_a_partner_sees_and_changes_its_own_subscriptions_only_and_errors_are_problem_details(
    api: httpx.AsyncClient, keys: dict[str, dict[str, str]], receivers: tuple[Receiver, Receiver]
) -> None:
    metz, _ = receivers
    sub = await subscribe(api, keys["metz"], callback_url=metz.url, event_types=["SeekerHired"])

    listed = await api.get("/v1/webhooks", headers=keys["metz"])
    assert [s["id"] for s in listed.json()["subscriptions"]] == [sub["id"]]
    assert "secret" not in listed.json()["subscriptions"][0]
    assert (await api.get("/v1/webhooks", headers=keys["nancy"])).json() == {"subscriptions": []}
    for method, path in [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/secret"),
        ("GET", "/deliveries"),
        ("POST", "/resume"),
        ("POST", "/deliveries/x-1/replay"),
    ]:
        answer = await api.request(method, f"/v1/webhooks/{sub['id']}{path}", headers=keys["nancy"])
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.json()["title"] == "Not Found" and sub["id"] in answer.json()["detail"]

    refused = await api.post(
        "/v1/webhooks", json={"callback_url": "http://169.254.169.254/latest"}, headers=keys["metz"]
    )
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM_JSON
    problem = refused.json()
    assert (problem["type"], problem["status"]) == ("about:blank", 422)
    assert [e["field"] for e in problem["errors"]] == ["callback_url"]
    assert "lien-local" in problem["errors"][0]["detail"]
    private = await api.post(
        "/v1/webhooks", json={"callback_url": "https://10.0.0.8/x"}, headers=keys["metz"]
    )
    assert private.status_code == 422 and "privée" in private.json()["errors"][0]["detail"]
    unknown = await api.post(
        "/v1/webhooks", json={"callback_url": metz.url, "event_types": ["Nope"]}, headers=keys["metz"]
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "event_types"
    outside = await api.post(
        "/v1/webhooks", json={"callback_url": metz.url, "basins": ["4412"]}, headers=keys["metz"]
    )
    assert outside.status_code == 403 and "4412" in outside.json()["detail"]
    anonymous = await api.get("/v1/webhooks")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == PROBLEM_JSON
    assert (await api.post(f"/v1/webhooks/{sub['id']}/resume", headers=keys["metz"])).status_code == 409

    deleted = await api.delete(f"/v1/webhooks/{sub['id']}", headers=keys["metz"])
    assert deleted.status_code == 200 and deleted.json()["id"] == sub["id"]
    assert (await api.get(f"/v1/webhooks/{sub['id']}", headers=keys["metz"])).status_code == 404
    assert (await api.get("/v1/webhooks", headers=keys["metz"])).json() == {"subscriptions": []}


@pytest.mark.parametrize("api", [{"webhooks_give_up_s": 2.0, "webhooks_retry_max_s": 0.5}], indirect=True)
async def test_a_receiver_failing_past_the_give_up_time_is_flagged_and_the_operators_told(
    api: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    receivers: tuple[Receiver, Receiver],
    mail_catcher: MailCatcher,
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    metz, _ = receivers
    metz.answer(503)
    sub = await subscribe(api, keys["metz"], callback_url=metz.url)
    j1 = journey("J-1", "4410")
    await asyncio.sleep(3)
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await publish(publisher, j1[:2])

        async def status() -> str:
            answer = await api.get(f"/v1/webhooks/{sub['id']}", headers=keys["metz"])
            return str(answer.json()["status"])

        deadline = time.monotonic() + 30
        while await status() != "failing":
            assert time.monotonic() < deadline, "the subscription was not flagged"
            await asyncio.sleep(0.2)
        flagged = (await api.get(f"/v1/webhooks/{sub['id']}", headers=keys["metz"])).json()
        assert flagged["last_result"] == "HTTP 503" and flagged["failing_since"]
        alert_subject = "Webhook en échec : mission-locale-metz ne reçoit plus les événements"
        await until(
            lambda: any(m.subject == alert_subject for m in mail_catcher.to(OPERATOR_METZ)),
            30,
            "the operators' e-mail did not arrive",
        )
        alert = next(m for m in mail_catcher.to(OPERATOR_METZ) if m.subject == alert_subject)
        assert sub["id"] in alert.text and "HTTP 503" in alert.text and "/resume" in alert.text
        assert all(h.json["event_id"] == str(j1[0].event_id) for h in metz.all())  # the second one waits

        # failing: nothing attempted, nothing planned
        attempts = len(metz.all())
        await publish(publisher, [j1[2]])
        await asyncio.sleep(2.5)
        assert len(metz.all()) == attempts
        log = (await api.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=keys["metz"])).json()
        assert [d["status"] for d in log["deliveries"]] == ["pending", "pending"]

    # resumed: the pending deliveries go, in order, once
    metz.answer(200)
    resumed = await api.post(f"/v1/webhooks/{sub['id']}/resume", headers=keys["metz"])
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    await until(lambda: len(metz.delivered()) == 2, 20, "the pending deliveries did not go after the resume")
    await asyncio.sleep(1)
    assert [h.json["event_id"] for h in metz.delivered()] == [str(e.event_id) for e in j1[:2]]
    assert len([m for m in mail_catcher.to(OPERATOR_METZ) if m.subject == alert_subject]) == 1

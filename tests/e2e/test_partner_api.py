"""Contract test of the partners' API: every operation of docs/partner-api.json, called on the running
platform with a partner key of the Metz basin, in the order a partner system would (publish a catalogue
and an offer, search, apply on a seeker's behalf, take the journey through every step partners may take,
read the KPIs), with the document's own examples as bodies (ids and dates made real). Each answers as
documented; an operation of the document that this test does not call fails it."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tdu_dev import partner_api
from tdu_dev.infra.local import Endpoints
from tdu_dev.infra.platform import Platform, wait_for
from tdu_dev.testing.platform import FAST_TEST_ENV, running_platform
from tdu_dev.testing.receiver import Receiver
from tdu_shared.access.keys import CAPABILITIES

from .fixtures import SESSION_NUMBER, write_catalogue

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

PARTNER = "mission-locale-metz"
SERVICE_OF = {
    "/v1/partners": "offers",
    "/v1/offers": "offers",
    "/v1/catalogue": "trainings",
    "/v1/sessions": "trainings",
    "/v1/search": "matching",
    "/v1/journeys": "journeys",
    "/v1/kpis": "journeys",
    "/v1/webhooks": "notifications",
}


@pytest.fixture(scope="module")
def platform(infrastructure: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform, its webhooks allowed to post to a receiver on this machine (development setting)."""
    env = {**FAST_TEST_ENV, "WEBHOOKS_ALLOW_LOOPBACK": "true", "WEBHOOKS_POLL_S": "0.2"}
    with running_platform(infrastructure, tmp_path_factory.mktemp("outbox"), extra_env=env) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def signed_by(hit: Any, secret: str) -> bool:
    """Whether a delivery carries the HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    timestamp = hit.headers["x-tdu-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + hit.body, hashlib.sha256).hexdigest()
    return f"sha256={expected}" in [s.strip() for s in hit.headers["x-tdu-signature"].split(",")]


class PartnerClient:
    """Calls the document's operations with the key, recording which were called."""

    def __init__(self, platform: Platform, key: dict[str, str]) -> None:
        self.platform, self.key = platform, key
        self.document = json.loads(partner_api.OUT.read_text(encoding="utf-8"))
        self.called: set[tuple[str, str]] = set()

    def example(self, method: str, path: str) -> Any:
        body = self.document["paths"][path][method.lower()]["requestBody"]["content"]
        return next(iter(body.values()))["example"]

    def call(
        self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None, **ids: str
    ) -> httpx.Response:
        assert path in self.document["paths"] and method.lower() in self.document["paths"][path], path
        self.called.add((method, path))
        service = next(s for prefix, s in SERVICE_OF.items() if path.startswith(prefix))
        url = self.platform.url(service) + path.format(**ids)
        if isinstance(body, str):
            return httpx.request(
                method,
                url,
                content=body.encode(),
                params=params,
                timeout=30,
                headers={**self.key, "Content-Type": "application/xml"},
            )
        return httpx.request(method, url, json=body, params=params, headers=self.key, timeout=30)

    def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        answer = self.call(method, path, **kwargs)
        assert answer.status_code == expected, f"{method} {path}: {answer.status_code} {answer.text[:500]}"
        return answer.json()

    def act(self, journey_id: str, action: str, **changes: Any) -> dict[str, Any]:
        path = f"/v1/journeys/{{journey_id}}/{action}"
        body = {**self.example("POST", path), **changes}
        answer: dict[str, Any] = self.ok("POST", path, body=body, journey_id=journey_id)
        return answer


def test_a_partner_key_calls_every_operation_of_the_partner_api(
    platform: Platform, tmp_path: Path, receiver: Receiver
) -> None:
    key = platform.partner_key(PARTNER, sorted(CAPABILITIES), ["4410"])
    api = PartnerClient(platform, key)
    today = date.today()
    wait_for(lambda: api.call("GET", "/v1/kpis", params={"basin": "4410"}).status_code == 200, 30, "the key")

    # The partner subscribes to the journey events of its basin (a receiver on this machine).
    subscription = api.ok(
        "POST",
        "/v1/webhooks",
        201,
        body={**api.example("POST", "/v1/webhooks"), "callback_url": receiver.url, "event_types": []},
    )
    sub_id, secret = subscription["id"], subscription["secret"]

    # A training provider's system publishes its catalogue; a Mission Locale its offer near Metz.
    catalogue = write_catalogue(tmp_path, today).read_text(encoding="utf-8")
    imported = api.ok("POST", "/v1/catalogue/imports", body=catalogue, params={"source": "cf-woippy"})
    assert imported["funded_sessions"] == 1 and imported["complete"]
    offer = {**api.example("POST", "/v1/partners/{partner}/offers")[0], "rome_code": "K2303", "id": "ML-1"}
    accepted = api.ok("POST", "/v1/partners/{partner}/offers", 202, body=[offer], partner=PARTNER)
    [offer_id] = accepted["offer_ids"]
    wait_for(
        lambda: api.call("GET", "/v1/offers/{offer_id}", offer_id=offer_id).status_code == 200, 60, "offer"
    )
    assert api.ok("GET", "/v1/offers/{offer_id}", offer_id=offer_id)["offer"]["basin"] == "4410"

    # The search finds it with its funded session.
    def found() -> dict[str, Any] | None:
        results = api.ok("GET", "/v1/search", params={"commune": "57463", "radius_km": 30})["results"]
        return next((r for r in results if r["offer"]["offer_id"] == offer_id), None)

    hit = wait_for(found, 90, "the partner's offer in the search")
    [session] = hit["sessions"]
    assert session["session_id"].endswith(SESSION_NUMBER)
    one = api.ok("GET", "/v1/search/offers/{offer_id}", params={"commune": "57463"}, offer_id=offer_id)
    assert one["sessions"][0]["session_id"] == session["session_id"]
    stored = api.ok("GET", "/v1/sessions/{session_id}", session_id=session["session_id"])
    assert stored["session_id"] == session["session_id"]

    # Apply on behalf of three seekers who consented; take the first through every step.
    def apply(n: int) -> str:
        body = {
            **api.example("POST", "/v1/journeys"),
            "offer_id": offer_id,
            "command_id": f"apply-{n}",
            "email": f"candidat{n}@exemple.fr",
        }
        answer = wait_for(
            lambda: (r := api.call("POST", "/v1/journeys", body=body)).status_code == 201 and r,
            60,
            "the application to be accepted",
        )
        journey_id: str = answer.json()["journey_id"]
        return journey_id

    journey_id, declined, abandoned = apply(1), apply(2), apply(3)
    listed = api.ok("GET", "/v1/journeys", params={"basin": "4410", "page_size": 2})
    assert listed["total"] == 3 and listed["next_cursor"]
    rest = api.ok("GET", "/v1/journeys", params={"basin": "4410", "cursor": listed["next_cursor"]})
    assert len(listed["items"]) + len(rest["items"]) == 3
    steps = [
        (
            "schedule-immersion",
            {"starts_on": str(today + timedelta(days=3)), "ends_on": str(today + timedelta(days=5))},
        ),
        (
            "reschedule-immersion",
            {"starts_on": str(today + timedelta(days=6)), "ends_on": str(today + timedelta(days=8))},
        ),
        ("immersion-outcome", {}),
        ("hiring-promise", {"planned_start": str(today + timedelta(days=200))}),
        ("training-commitment", {"session_id": session["session_id"]}),
        ("training-start", {"started_on": str(today + timedelta(days=60))}),
        ("training-completion", {"completed_on": str(today + timedelta(days=180))}),
        ("hire", {"contract_start": str(today + timedelta(days=200))}),
        ("follow-up", {}),
    ]
    for action, changes in steps:
        state = api.act(journey_id, action, **changes)["state"]
    assert state == "followed_up_6m"
    assert api.act(declined, "decline")["state"] == "declined"
    assert api.act(abandoned, "abandon")["state"] == "abandoned"
    assert api.ok("GET", "/v1/journeys/{journey_id}", journey_id=journey_id)["state"] == "followed_up_6m"
    kpis = api.ok("GET", "/v1/kpis", params={"basin": "4410"})["basins"]["4410"]
    assert kpis["journeys"] == 3 and kpis["hires"] == 1

    # Each event of the journeys reached the receiver, signed; the log, a replay, a new secret, the end.
    def delivered() -> list[Any]:
        """Once the last step's event is in (a step may cause two events: waiting for a count of steps
        could read the list before the last ones arrive)."""
        hits = [h for h in receiver.delivered() if h.json["journey_id"] == journey_id]
        done = any(h.json["event_type"] == "FollowUpRecorded" for h in hits)
        return hits if done and len(hits) >= len(steps) + 1 else []

    hits = wait_for(delivered, 60, "the journey's events at the receiver")
    assert all(signed_by(h, secret) for h in hits)
    types = [h.json["event_type"] for h in hits]
    assert types[0] == "ApplicationSubmitted" and "SeekerHired" in types
    assert len({h.delivery for h in hits}) == len(hits), "each delivery once"
    assert api.ok("GET", "/v1/webhooks")["subscriptions"][0]["id"] == sub_id
    assert api.ok("GET", "/v1/webhooks/{subscription_id}", subscription_id=sub_id)["status"] == "active"
    log = api.ok("GET", "/v1/webhooks/{subscription_id}/deliveries", subscription_id=sub_id)
    first = log["deliveries"][-1]["delivery_id"]
    before = len(receiver.all())
    api.ok(
        "POST",
        "/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/replay",
        202,
        subscription_id=sub_id,
        delivery_id=first,
    )
    wait_for(lambda: len(receiver.all()) > before, 30, "the replayed delivery")
    rotated = api.ok("POST", "/v1/webhooks/{subscription_id}/secret", subscription_id=sub_id)
    assert rotated["secret"] != secret
    resumed = api.call("POST", "/v1/webhooks/{subscription_id}/resume", subscription_id=sub_id)
    assert resumed.status_code == 409 and resumed.headers["content-type"] == "application/problem+json"
    api.ok("DELETE", "/v1/webhooks/{subscription_id}", subscription_id=sub_id)

    every = {(m.upper(), p) for p, entries in api.document["paths"].items() for m in entries}
    assert every - api.called == set(), "operations of the partner API no test calls"

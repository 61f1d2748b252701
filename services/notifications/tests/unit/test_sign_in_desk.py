"""The sign-in desk's rules on in-memory stores: one link per request, at most three waiting, never a
server error for an address the relay refuses, and 503 while the relay is down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from notifications.access import POLICY
from notifications.adapters.memory import MemoryContactStore, MemorySignInStore, RecordingEmail
from notifications.adapters.rendering import JinjaRenderer
from notifications.api import sign_in_router
from notifications.domain.model import Contact
from notifications.ports import PermanentFailure, TransientFailure
from notifications.signin import LinkRefused, SignInDesk
from tdu_dev.testing.access import guarded_app, secret
from tdu_shared.clock import FixedClock
from tdu_shared.contracts.journeys import Role

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def desk(email: RecordingEmail, clock: FixedClock | None = None) -> SignInDesk:
    return SignInDesk(
        contacts=MemoryContactStore(),
        links=MemorySignInStore(),
        email=email,
        renderer=JinjaRenderer(),
        clock=clock or FixedClock(NOW),
        frontend_base_url="https://app.test",
        mail_domain="traitdunion.test",
        token_secret=secret(),
        region="44",
    )


def app_of(signin: SignInDesk) -> FastAPI:
    return guarded_app([sign_in_router(signin)], POLICY)


async def test_a_person_holds_three_links_at_most_and_a_link_expires() -> None:
    email, clock = RecordingEmail(), FixedClock(NOW)
    signin = desk(email, clock)
    await signin.contacts.upsert(Contact("E-1", "employer", None, "rh@acme.fr", None, True, False), NOW)
    sent = [await signin.request("RH@acme.fr", Role.EMPLOYER) for _ in range(5)]
    assert sent == [1, 1, 1, 0, 0] and len(email.sent) == 3
    token = email.sent[0].text.split("jeton=")[1].split()[0]
    clock.moment = NOW + timedelta(minutes=16)
    with pytest.raises(LinkRefused):
        await signin.exchange(token)


@pytest.mark.parametrize(
    ("failure", "status"),
    [(PermanentFailure("550 mailbox unavailable"), 202), (TransientFailure("relay unreachable"), 503)],
)
async def test_a_refused_address_is_answered_like_any_other_and_a_relay_down_is_503(
    failure: Exception, status: int
) -> None:
    email = RecordingEmail(failures=[failure])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_of(desk(email))), base_url="http://t"
    ) as http:
        answer = await http.post("/sign-in", json={"email": "nouvelle@exemple.fr"})
    assert answer.status_code == status, answer.text
    if status == 503:
        assert answer.headers["retry-after"] == "60"


async def test_an_address_with_control_characters_is_a_field_error() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_of(desk(RecordingEmail()))), base_url="http://t"
    ) as http:
        answer = await http.post("/sign-in", json={"email": "\u0001@\u00afVsj.KUEHLI"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "email"]

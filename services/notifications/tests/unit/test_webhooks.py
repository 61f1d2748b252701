"""Webhooks without the broker and the store: callback URL checks, the signature, the retry schedule, the
ordering rule, the HTTP request (to a local receiver)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from notifications.adapters.rendering import JinjaRenderer
from notifications.adapters.webhook_http import HttpWebhookSender
from notifications.settings import Settings
from notifications.webhooks.dispatcher import Answer
from notifications.webhooks.model import (
    Retry,
    Subscription,
    encode_body,
    may_attempt,
    next_attempt,
    retry_delay,
)
from notifications.webhooks.signing import signature_header, verify
from notifications.webhooks.urls import (
    Target,
    UrlRefused,
    address_refusal,
    check_callback_url,
    system_resolver,
)
from tdu_dev.testing.receiver import Receiver

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


async def refused(url: str, *, allow_loopback: bool = False, resolver=system_resolver) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UrlRefused) as caught:
        await check_callback_url(url, allow_loopback=allow_loopback, resolver=resolver)
    return caught.value.reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/x", "https://"),
        ("http://169.254.169.254/latest", "https://"),
        ("https://127.0.0.1/x", "bouclage"),
        ("https://169.254.169.254/latest", "lien-local"),
        ("https://[::1]/", "bouclage"),
        ("https://[::ffff:127.0.0.1]/", "127.0.0.1"),
        ("https://[::ffff:169.254.169.254]/latest", "lien-local"),
        ("https://[fd00::1]/", "privée"),
        ("https://[fe80::1]/", "lien-local"),
        ("https://10.1.2.3/", "privée"),
        ("https://192.168.1.10:8443/hook", "privée"),
        ("https://100.64.0.1/", "pas une adresse publique"),
        ("https://0.0.0.0/", "non spécifiée"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[64:ff9b::a00:1]/", "10.0.0.1"),
        ("https://[2002:a00:1::]/", "10.0.0.1"),
        ("https://user:secret@example.org/", "identifiants"),
        ("ftp://example.org/", "https://"),
        ("https:///nohost", "aucun hôte"),
    ],
)
async def test_callback_urls_that_reach_inside_are_refused(url: str, reason: str) -> None:
    assert reason in await refused(url, resolver=resolving_to("93.184.215.14"))


async def test_a_name_resolving_to_a_loopback_or_private_address_is_refused() -> None:
    assert "bouclage" in await refused("https://localhost/hook")  # the real resolver
    private = resolving_to("93.184.215.14", "10.0.0.7")  # one bad address among good ones is enough
    assert "partner.example se résout en 10.0.0.7" in await refused(
        "https://partner.example/h", resolver=private
    )
    # the development setting lets loopback through, never private or link-local addresses
    assert "privée" in await refused("https://partner.example/h", allow_loopback=True, resolver=private)
    assert "lien-local" in await refused("http://169.254.169.254/latest", allow_loopback=True)


async def test_a_public_https_address_is_accepted_and_called_at_the_address_checked() -> None:
    target = await check_callback_url(
        "https://partenaire.example.org/tdu/webhooks?source=tdu",
        allow_loopback=False,
        resolver=resolving_to("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
    )
    assert target.addresses == ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    assert target.host_header == "partenaire.example.org"
    assert target.url_for("93.184.215.14") == "https://93.184.215.14:443/tdu/webhooks?source=tdu"
    assert target.url_for(target.addresses[1]).startswith(
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443/"
    )


async def test_the_development_setting_allows_http_and_loopback() -> None:
    target = await check_callback_url(
        "http://127.0.0.1:8080/x", allow_loopback=True, resolver=system_resolver
    )
    assert (target.scheme, target.port, target.path, target.host_header) == (
        "http",
        8080,
        "/x",
        "127.0.0.1:8080",
    )
    local = await check_callback_url("https://localhost/h", allow_loopback=True, resolver=system_resolver)
    assert all(address_refusal(a) for a in local.addresses)  # loopback, allowed by the setting only


def test_the_development_setting_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="WEBHOOKS_ALLOW_LOOPBACK"):
        Settings(
            environment="production",
            webhooks_allow_loopback=True,
            link_secret="x" * 40,
            sms_api_key="k" * 40,
            inbound_sms_key="i" * 40,
            access_token_secret="s" * 40,
        )
    assert Settings(webhooks_allow_loopback=True).webhooks_allow_loopback


def test_the_signature_is_an_hmac_of_timestamp_dot_body_any_receiver_can_compute() -> None:
    body = encode_body({"delivery_id": "wh_1-1", "event_type": "ApplicationSubmitted", "data": {"x": "é"}})
    header = signature_header(["whsec_current"], 1773133200, body)
    expected = hmac.new(b"whsec_current", b"1773133200." + body, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    assert json.loads(body)["data"] == {"x": "é"}
    assert verify("whsec_current", header, "1773133200", body, now=1773133200 + 299)
    assert not verify("whsec_current", header, "1773133200", body, now=1773133200 + 301)  # too old
    assert not verify("whsec_current", header, "1773133200", body + b" ", now=1773133200)  # tampered
    assert not verify("whsec_other", header, "1773133200", body, now=1773133200)


def test_after_a_rotation_the_old_secret_signs_too_until_the_grace_period_ends() -> None:
    sub = Subscription(
        "wh_1", "p", "44", "https://x.example/", (), None, "new", NOW, previous_secret="old",
        previous_until=NOW + timedelta(hours=1),
    )  # fmt: skip
    assert sub.signing_secrets(NOW) == ["new", "old"]
    assert sub.signing_secrets(NOW + timedelta(hours=1)) == ["new"]
    header = signature_header(sub.signing_secrets(NOW), 100, b"{}")
    assert verify("old", header, "100", b"{}", now=100) and verify("new", header, "100", b"{}", now=100)
    assert header.index(signature_header(["new"], 100, b"{}")) == 0  # the current secret's first


def test_retries_back_off_exponentially_up_to_the_cap_then_give_up() -> None:
    retry = Retry(base_s=10, max_s=3600, give_up_s=86_400)
    assert [retry_delay(n, 10, 3600).total_seconds() for n in range(1, 11)] == [
        10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600,
    ]  # fmt: skip
    assert retry_delay(500, 10, 3600) == timedelta(hours=1)
    start, now, failures, attempts = NOW, NOW, 1, [NOW]
    while (when := next_attempt(start, now, failures, retry)) is not None:
        assert when > now
        now, failures = when, failures + 1
        attempts.append(now)
    assert attempts[-1] == start + timedelta(days=1)  # the last attempt falls on the give-up time
    assert len(attempts) == 33  # 10 + 20 + ... + 2560 (5110 s), then hourly up to 24 h
    assert next_attempt(start, start + timedelta(days=1), 40, retry) is None


def test_only_the_first_undelivered_delivery_of_a_journey_is_attempted() -> None:
    queue = ["wh_1-3", "wh_1-5", "wh_1-9"]
    assert may_attempt(queue, "wh_1-3")
    assert not may_attempt(queue, "wh_1-5") and not may_attempt(queue, "wh_1-9")
    assert may_attempt(queue[1:], "wh_1-5")  # once the first is delivered (it leaves the queue)
    assert not may_attempt([], "wh_1-3")


def test_subscriptions_match_their_basins_and_event_types() -> None:
    sub = Subscription("wh_1", "p", "44", "https://x/", ("SeekerHired",), ("4410",), "s", NOW)
    assert sub.wants("SeekerHired", "4410")
    assert not sub.wants("SeekerHired", "4412") and not sub.wants("ApplicationSubmitted", "4410")
    everywhere = Subscription("wh_2", "p", "44", "https://x/", (), None, "s", NOW)
    assert everywhere.wants("ApplicationSubmitted", "4412") and everywhere.wants("SeekerHired", None)


def test_the_operators_alert_is_in_french() -> None:
    email = JinjaRenderer().email(
        "webhook_en_echec",
        {
            "recipient_name": "Équipe Metz",
            "subscription_id": "wh_1",
            "partner": "mission-locale-metz",
            "callback_url": "https://ml.example/hook",
            "first_failure": "2026-03-09T08:00:00+00:00",
            "last_result": "HTTP 503",
            "delivery_id": "wh_1-4",
            "basin": "4410",
            "journey_url": "https://app.test/operateur/parcours/J-1",
            "unsubscribe_url": "https://notif.test/unsubscribe?token=t",
        },
    )
    assert email.subject == "Webhook en échec : mission-locale-metz ne reçoit plus les événements"
    assert "échouent depuis le 09/03/2026" in email.text and "HTTP 503" in email.text
    assert "/v1/webhooks/wh_1/resume" in email.text and "journey" not in email.text


async def test_the_request_goes_to_a_checked_address_keeps_the_name_and_never_follows_a_redirect() -> None:
    receiver = Receiver().start()
    sender = HttpWebhookSender(timeout_s=5)
    try:
        port = int(receiver.url.split(":")[2].split("/")[0])
        # 127.0.0.2 refuses the connection (the receiver listens on 127.0.0.1 only): the next address is tried
        target = Target(
            f"http://partner.test:{port}/h",
            "http",
            "partner.test",
            port,
            "/h?x=1",
            ("127.0.0.2", "127.0.0.1"),
        )
        answer = await sender.post(target, b'{"a":1}', {"X-TDU-Delivery": "wh_1-1"})
        assert answer == Answer(True, "HTTP 204")
        [hit] = receiver.all()
        assert hit.headers["host"] == f"partner.test:{port}" and hit.body == b'{"a":1}'
        receiver.answer(302)
        assert await sender.post(target, b"{}", {}) == Answer(False, "HTTP 302 (redirection non suivie)")
        receiver.answer(500)
        assert await sender.post(target, b"{}", {}) == Answer(False, "HTTP 500")
        nowhere = Target("http://x/", "http", "x", port, "/", ("127.0.0.2",))
        assert (await sender.post(nowhere, b"{}", {})).result == "échec de la connexion (ConnectError)"
    finally:
        await sender.close()
        receiver.stop()

"""Every link of every e-mail lands on the right page of the web service.

Each template is rendered for each audience that receives it, with the links the notifications service
really builds (journey pages, unsubscribe page, sign-in link); each link under the web's address is then
opened on the web app: the journey pages send a visitor who is not signed in to the sign-in of the right
role (and back to that very page after), the sign-in link opens the confirmation of the sign-in, the
unsubscribe link the unsubscribe page.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from notifications.adapters.rendering import EXAMPLE_FACTS, JinjaRenderer
from notifications.domain.model import Audience, Channel
from notifications.domain.routing import EVENT_ROUTES, REMINDER_ROUTES
from notifications.handlers import Links
from notifications.signin import sign_in_url
from web.app import create_app
from web.backend import Backend
from web.settings import Settings

WEB, NOTIFICATIONS = "https://web.test", "https://notif.test"
ROLE_OF = {
    Audience.SEEKER: "seeker",
    Audience.EMPLOYER: "employer",
    Audience.TRAINING_PROVIDER: "training_provider",
}
SENT = sorted(
    {
        (route.template, route.audience)
        for group in (*EVENT_ROUTES.values(), *REMINDER_ROUTES.values())
        for route in group
    },
    key=lambda pair: (pair[0], pair[1].value),
)


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no service in this test", request=request)


@pytest.fixture(scope="module")
def web() -> TestClient:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return TestClient(create_app(settings, Backend(settings, httpx.MockTransport(unreachable))))


def links_in(text: str) -> set[str]:
    return set(re.findall(r"https?://[^\s<>\"]+", text))


def opened(web: TestClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return web.get(parts.path + (f"?{parts.query}" if parts.query else ""), follow_redirects=False)


@pytest.mark.parametrize(("template", "audience"), SENT, ids=lambda v: getattr(v, "value", v))
def test_each_link_of_each_message_opens_the_page_for_its_reader(
    web: TestClient, template: str, audience: Audience
) -> None:
    links = Links(WEB, NOTIFICATIONS, "secret", "traitdunion.eu")
    context = {
        **EXAMPLE_FACTS,
        "audience": audience.value,
        "journey_url": links.journey(audience, "J-1"),
        "unsubscribe_url": links.unsubscribe_page("P-1", Channel.EMAIL),
    }
    email = JinjaRenderer().email(template, context)
    found = links_in(email.text) | links_in(email.html)
    assert found, f"{template} has no link"
    for url in found:
        assert url.startswith(WEB), f"{template}: {url} does not lead to the web pages"
        answer = opened(web, url)
        path = urlsplit(url).path
        if path == "/desinscription":
            assert answer.status_code == 200 and "Me désinscrire" in answer.text, url
            continue
        assert path.endswith("/J-1"), url
        if audience == Audience.BASIN_OPERATOR:  # agents sign in with ProConnect
            target = urlsplit(answer.headers["location"])
            assert (answer.status_code, target.path) == (303, "/connexion/operateur"), url
            assert parse_qs(target.query)["suite"] == [path], url
            continue
        assert answer.status_code == 303, (url, answer.status_code)
        target = urlsplit(answer.headers["location"])
        asked = parse_qs(target.query)
        assert target.path == "/connexion" and asked["role"] == [ROLE_OF[audience]], url
        assert asked["suite"] == [path], url
        sign_in = web.get(answer.headers["location"])
        assert sign_in.status_code == 200 and f'value="{ROLE_OF[audience]}" checked' in sign_in.text


def test_the_sign_in_link_opens_the_confirmation_of_the_sign_in(web: TestClient) -> None:
    email = JinjaRenderer().email(
        "lien_connexion",
        {"sign_in_url": sign_in_url(WEB, "abc_DEF-123"), "minutes": 15, "unsubscribe_url": None},
    )
    [url] = links_in(email.text)
    page = opened(web, url)
    assert page.status_code == 200
    assert 'name="jeton" value="abc_DEF-123"' in page.text and 'action="/connexion/jeton"' in page.text

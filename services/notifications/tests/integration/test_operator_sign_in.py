"""Operators sign in with OpenID Connect, against the ProConnect-shaped stand-in run as a real local server:
a listed operator gets a session for their basins, anyone else 403, a replayed or forged answer 401."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import pytest_asyncio

from notifications.main import build_service
from notifications.settings import Settings
from tdu_dev.infra.platform import wait_for
from tdu_dev.infra.servers import port_open
from tdu_dev.testing.access import secret
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_shared.access.tokens import read_session
from tdu_shared.contracts.journeys import Role

pytestmark = pytest.mark.integration

CLIENT_ID, CLIENT_SECRET = "traitdunion-test", "a-client-secret-for-the-tests"


@pytest.fixture(scope="module")
def identity_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    args = ["oidc-standin", "--port", str(port), "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]
    process = ServiceProcess("notifications", args, {}, tmp_path_factory.mktemp("oidc") / "oidc.log")
    process.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: port_open("127.0.0.1", port), 20, "the identity provider stand-in")
    yield url
    process.stop()


@pytest_asyncio.fixture
async def client(service_env: dict[str, str], identity_provider: str) -> AsyncIterator[httpx.AsyncClient]:
    values = {k.lower(): v for k, v in service_env.items()}
    settings = Settings(
        **values,
        public_base_url="http://notifications.test",
        oidc_issuer=identity_provider,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
    )
    service = build_service(settings)
    async with service.app.router.lifespan_context(service.app):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifications.test") as http:
            yield http


async def through_the_provider(client: httpx.AsyncClient, email: str) -> str:
    """The browser's trip: to the provider, and back to the callback; the callback's path and query."""
    start = await client.get("/sign-in/operator", params={"login_hint": email})
    assert start.status_code == 302
    authorize = start.headers["location"]
    assert parse_qs(urlparse(authorize).query)["redirect_uri"] == [
        "http://notifications.test/sign-in/operator/callback"
    ]
    async with httpx.AsyncClient(timeout=10) as browser:
        back = await browser.get(authorize)
    assert back.status_code == 302
    location = urlparse(back.headers["location"])
    return f"{location.path}?{location.query}"


async def test_a_listed_operator_gets_a_session_for_their_basins_and_only_once(
    client: httpx.AsyncClient,
) -> None:
    callback = await through_the_provider(client, "Operateur.Metz@traitdunion.eu")
    answer = await client.get(callback)
    assert answer.status_code == 200, answer.text
    principal = read_session(secret(), answer.json()["session"])
    assert principal.role == Role.BASIN_OPERATOR and principal.subject == "operateur.metz@traitdunion.eu"
    assert principal.basins == {"4410"} and answer.json()["basins"] == ["4410"]
    replayed = await client.get(callback)
    assert replayed.status_code == 401 and "recommencez" in replayed.json()["detail"]


async def test_someone_the_provider_knows_but_not_an_operator_here_is_refused(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get(await through_the_provider(client, "agent.ailleurs@interieur.gouv.fr"))
    assert answer.status_code == 403 and "n'est pas opérateur" in answer.json()["detail"]


async def test_an_answer_the_platform_did_not_ask_for_is_refused(client: httpx.AsyncClient) -> None:
    forged = await client.get("/sign-in/operator/callback", params={"code": "x" * 30, "state": "y" * 30})
    assert forged.status_code == 401
    denied = await client.get("/sign-in/operator/callback", params={"error": "access_denied"})
    assert denied.status_code == 401 and "access_denied" in denied.json()["detail"]

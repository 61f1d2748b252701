"""Credentials: sessions and partner keys are checked by signature, digest, expiry, revocation and region;
the policy refuses an app with an operation it has no rule for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import APIRouter

from tdu_dev.testing.access import guarded_app, partner_key, secret, session
from tdu_shared.access import Forbidden, Unauthorized
from tdu_shared.access.keys import KeyRing, known_capability
from tdu_shared.access.policy import OPERATOR, Caller, Policy, Rule, Verifier, guard, partner, roles
from tdu_shared.access.tokens import issue_session, read_session
from tdu_shared.contracts.access import PartnerKeyRevoked
from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import new_envelope


def test_a_session_names_its_holder_and_basins() -> None:
    token = issue_session(
        secret(), role=Role.BASIN_OPERATOR, subject="op@metz.test", region="44", basins=["4410"]
    )
    principal = read_session(secret(), token)
    assert (principal.role, principal.subject, principal.basins) == (
        Role.BASIN_OPERATOR,
        "op@metz.test",
        {"4410"},
    )
    assert principal.covers("4410") and not principal.covers("4412") and not principal.covers(None)


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("not-a-token", "invalide"),
        (
            issue_session(
                "another-secret-of-at-least-32-characters", role=Role.SEEKER, subject="S", region="44"
            ),
            "signature",
        ),
        (
            issue_session(
                secret(),
                role=Role.SEEKER,
                subject="S",
                region="44",
                now=datetime.now(UTC) - timedelta(days=1),
            ),
            "expirée",
        ),
        (jwt.encode({"sub": "S", "role": "seeker"}, secret(), algorithm="HS256"), "invalide"),
        (
            jwt.encode(
                {
                    "sub": "S",
                    "role": "partner_system",
                    "region": "44",
                    "aud": "traitdunion-api",
                    "iss": "traitdunion",
                    "iat": 0,
                    "exp": 4102444800,
                },
                secret(),
                algorithm="HS256",
            ),
            "rôle",
        ),
    ],
    ids=["malformed", "forged", "expired", "claims-missing", "partner-role-in-a-session"],
)
def test_a_bad_session_is_refused_with_its_reason(token: str, says: str) -> None:
    with pytest.raises(Unauthorized, match=says):
        read_session(secret(), token)


def test_a_partner_key_is_checked_by_digest_revocation_and_region() -> None:
    ring = KeyRing()
    key_id, header = partner_key(ring, "mission-locale", ["journeys:read"], basins=["4410"])
    key = header["Authorization"].removeprefix("Bearer ")
    verifier = Verifier("44", secret(), ring)
    principal = verifier.principal(key)
    assert (principal.role, principal.subject, principal.basins) == (
        Role.PARTNER_SYSTEM,
        "mission-locale",
        {"4410"},
    )
    with pytest.raises(Unauthorized, match="secret incorrect"):
        verifier.principal(key[:-4] + "AAAA")
    with pytest.raises(Unauthorized, match="mal formée"):
        verifier.principal("tdu_123")
    with pytest.raises(Unauthorized, match="inconnue"):
        verifier.principal(f"tdu_{'0' * 16}_{'A' * 43}")
    with pytest.raises(Forbidden, match="région 44"):
        Verifier("27", secret(), ring).principal(key)
    revoked = PartnerKeyRevoked(
        key_id=key_id, partner="mission-locale", revoked_by="op", reason="fuite", revoked_at=datetime.now(UTC)
    )
    ring.apply(key_id, new_envelope(revoked, producer="tests", region="44", basin=None))
    with pytest.raises(Unauthorized, match="révoquée"):
        verifier.principal(key)


def test_capabilities_are_known_or_refused() -> None:
    assert known_capability("offers:write") and known_capability("catalogue:write:lheo-ge")
    assert not known_capability("offers:delete") and not known_capability("offers:write:x")


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/open")
    async def open_() -> dict[str, str]:
        return {"ok": "yes"}

    @router.post("/close")
    async def close(caller: Caller) -> dict[str, str | None]:
        return {"by": caller.subject, "role": caller.role}

    return router


POLICY = Policy(
    "demo",
    (
        Rule("GET", "/open", public=True),
        Rule("POST", "/close", roles(OPERATOR, partner("offers:write"))),
    ),
)


async def test_the_policy_answers_401_403_and_lets_the_allowed_in() -> None:
    ring = KeyRing()
    _, writer = partner_key(ring, "france-travail", ["offers:write"])
    _, reader = partner_key(ring, "mission-locale", ["journeys:read"])
    app = guarded_app([_router()], POLICY, ring)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/open")).status_code == 200
        missing = await client.post("/close", headers={"X-Actor-Role": "basin_operator", "X-Actor-Id": "x"})
        assert missing.status_code == 401 and "authentification requise" in missing.json()["detail"]
        assert (await client.post("/close", headers={"Authorization": "Bearer nope"})).status_code == 401
        seeker = await client.post("/close", headers=session("seeker", "S1"))
        assert seeker.status_code == 403 and "basin_operator" in seeker.json()["detail"]
        assert (await client.post("/close", headers=reader)).status_code == 403
        assert (await client.post("/close", headers=writer)).json()["by"] == "france-travail"
        operator = await client.post("/close", headers=session("basin_operator", "op@metz.test"))
        assert operator.json() == {"by": "op@metz.test", "role": "basin_operator"}


def test_an_operation_without_a_rule_stops_the_app_from_being_built() -> None:
    from fastapi import FastAPI

    with pytest.raises(RuntimeError, match="POST /close"):
        guard(FastAPI(), [_router()], Policy("demo", POLICY.rules[:1]), Verifier("44", secret(), KeyRing()))

"""Credentials for tests: session tokens signed as the sign-in would, partner keys in a ring, guarded apps."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from tdu_shared.access.keys import KeyRing, new_key
from tdu_shared.access.policy import Policy, Verifier, guard
from tdu_shared.access.tokens import issue_session
from tdu_shared.contracts.access import PartnerKeyIssued
from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import new_envelope
from tdu_shared.settings import ServiceSettings

REGION = "44"


def secret() -> str:
    """The signing secret the services under test use (ACCESS_TOKEN_SECRET, else its development value)."""
    return ServiceSettings().access_token_secret.get_secret_value()


def session(
    role: Role | str,
    subject: str,
    *,
    basins: Sequence[str] = (),
    email: str | None = None,
    region: str = REGION,
    signing_secret: str | None = None,
) -> dict[str, str]:
    """``Authorization`` header of a signed-in person (as the sign-in would issue it), signed with
    ``signing_secret`` (default: the services' ACCESS_TOKEN_SECRET)."""
    token = issue_session(
        signing_secret or secret(),
        role=Role(role),
        subject=subject,
        region=region,
        basins=list(basins),
        email=email,
    )
    return {"Authorization": f"Bearer {token}"}


def partner_key(
    ring: KeyRing,
    partner: str,
    capabilities: Sequence[str],
    *,
    basins: Sequence[str] = (),
    region: str = REGION,
) -> tuple[str, dict[str, str]]:
    """A partner key put straight into ``ring`` (unit tests): its id and its ``Authorization`` header."""
    key_id, key, digest = new_key()
    issued = PartnerKeyIssued(
        key_id=key_id,
        partner=partner,
        region=region,
        basins=list(basins),
        capabilities=list(capabilities),
        secret_sha256=digest,
        issued_by="tests@traitdunion.test",
    )
    ring.apply(key_id, new_envelope(issued, producer="tests", region=region, basin=None))
    ring.loaded.set()
    return key_id, {"Authorization": f"Bearer {key}"}


def guarded_app(routers: Sequence[APIRouter], policy: Policy, ring: KeyRing | None = None) -> FastAPI:
    """An app with ``routers`` behind ``policy``, as the service runtime builds it."""
    app = FastAPI()
    guard(app, routers, policy, Verifier(REGION, secret(), ring or KeyRing()))
    return app

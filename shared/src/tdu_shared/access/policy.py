"""Who may call which operation: one table per service, enforced by one dependency on every route.

Each service declares a :class:`Policy`: one :class:`Rule` per HTTP operation, naming the roles (and, for
partner keys, the capability) allowed, and in words the scope checked on the thing itself (own journeys,
the basins of the credential). :func:`guard` puts :func:`authorized` in front of every route of the app
and refuses to build an app with an operation that has no rule. The credential (``Authorization: Bearer``)
is a partner key or a session token; nothing is taken from headers the caller writes about itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tdu_shared.access.keys import PREFIX, KeyRing
from tdu_shared.access.principal import ANONYMOUS, Forbidden, Principal, Unauthorized
from tdu_shared.access.tokens import read_session
from tdu_shared.contracts.journeys import Role

CONVERTER = re.compile(r"\{(\w+):\w+\}")
SEEKER, EMPLOYER, PROVIDER = Role.SEEKER, Role.EMPLOYER, Role.TRAINING_PROVIDER
OPERATOR, PARTNER = Role.BASIN_OPERATOR, Role.PARTNER_SYSTEM


@dataclass(frozen=True)
class Grant:
    """One kind of caller allowed: a role, and for partner keys the capability they must hold."""

    role: Role
    capability: str | None = None

    def admits(self, principal: Principal) -> bool:
        if principal.role != self.role:
            return False
        if self.capability is None:
            return True
        return any(
            c == self.capability or c.startswith(f"{self.capability}:") for c in principal.capabilities
        )

    def __str__(self) -> str:
        return f"{self.role.value} ({self.capability})" if self.capability else self.role.value


def partner(capability: str) -> Grant:
    return Grant(PARTNER, capability)


def roles(*allowed: Role | Grant) -> frozenset[Grant]:
    return frozenset(a if isinstance(a, Grant) else Grant(a) for a in allowed)


@dataclass(frozen=True)
class Rule:
    method: str
    path: str
    allow: frozenset[Grant] = frozenset()
    scope: str = ""
    """What is checked on the thing itself, in words (the README's policy table shows it)."""
    public: bool = False
    """Anyone may call it, with no credential (it returns no personal data)."""

    @property
    def operation(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Policy:
    service: str
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def rule(self, method: str, path: str) -> Rule | None:
        path = CONVERTER.sub(r"{\1}", path)  # "/sessions/{session_id:path}" as OpenAPI writes it
        for rule in self.rules:
            if rule.method == method and rule.path == path:
                return rule
        return None


@dataclass
class Verifier:
    """Checks credentials for one service instance: partner keys from its ring, sessions by signature."""

    region: str
    token_secret: str
    ring: KeyRing

    def principal(self, credential: str) -> Principal:
        if credential.startswith(PREFIX):
            found = self.ring.verify(credential)
        else:
            found = read_session(self.token_secret, credential)
        if found.region != self.region:
            raise Forbidden(
                f"votre accès vaut pour la région {found.region}, ce service sert la région {self.region}"
            )
        return found


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="credential",
    description="A partner API key (`tdu_…`) or a session token from sign-in.",
)


async def authorized(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller of this operation, checked against its rule (401 no valid credential, 403 not allowed)."""
    route = request.scope.get("route")
    policy: Policy = request.app.state.policy
    rule = policy.rule(request.method, route.path if isinstance(route, APIRoute) else "")
    if rule is None:  # guard() refuses to build such an app; never reached
        raise Forbidden("opération sans règle d'accès")
    if credentials is None:
        if rule.public:
            return ANONYMOUS
        raise Unauthorized("authentification requise : en-tête Authorization: Bearer <clé ou jeton>")
    verifier: Verifier = request.app.state.verifier
    principal = verifier.principal(credentials.credentials)
    if not rule.public and not any(grant.admits(principal) for grant in rule.allow):
        allowed = ", ".join(sorted(str(g) for g in rule.allow))
        raise Forbidden(
            f"{principal.role.value if principal.role else 'anonyme'} ne peut pas faire "
            f"{rule.operation} (autorisé : {allowed})"
        )
    return principal


Caller = Annotated[Principal, Depends(authorized)]
"""An endpoint's parameter for the verified caller (checked once per request)."""

ACCESS_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "No credential, or a malformed, forged, expired or revoked one"},
    403: {"description": "The caller's role, region or basins do not allow this"},
}


def uncovered(app_routes: Iterable[object], policy: Policy) -> list[str]:
    """Operations of the app without a rule (a new endpoint must be given one)."""
    missing = []
    for route in app_routes:
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods or ()):
            if policy.rule(method, route.path) is None:
                missing.append(f"{method} {route.path}")
    return missing


def guard(app: FastAPI, routers: Sequence[APIRouter], policy: Policy, verifier: Verifier) -> None:
    """Include ``routers`` with :func:`authorized` in front of each route; refuse routes without a rule."""
    app.state.policy = policy
    app.state.verifier = verifier
    for router in routers:
        app.include_router(router, dependencies=[Depends(authorized)], responses=ACCESS_RESPONSES)
    missing = uncovered((r for router in routers for r in router.routes), policy)
    if missing:
        raise RuntimeError(f"{policy.service}: operations without an access rule: {', '.join(missing)}")

    async def unauthorized(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="traitdunion"'}
        )

    async def forbidden(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(Forbidden, forbidden)

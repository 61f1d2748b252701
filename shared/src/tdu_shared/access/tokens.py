"""Short-lived session credentials: signed tokens (JWT, HS256) that every service verifies locally.

A session says who signed in (role, opaque id, e-mail), in which region and basins, until when. The
sign-in service issues them after an e-mailed link or an operator's OpenID Connect sign-in; every service
shares the signing secret (``ACCESS_TOKEN_SECRET``) and checks signature, audience and expiry itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

from tdu_shared.access.principal import Principal, Unauthorized, basins_of
from tdu_shared.contracts.journeys import Role

ISSUER = "traitdunion"
AUDIENCE = "traitdunion-api"
ALGORITHM = "HS256"
SESSION_TTL = timedelta(hours=8)


def issue_session(
    secret: str,
    *,
    role: Role,
    subject: str,
    region: str,
    basins: list[str] | None = None,
    email: str | None = None,
    ttl: timedelta = SESSION_TTL,
    now: datetime | None = None,
) -> str:
    """A signed session credential; ``basins`` empty or None: every basin of the region."""
    if role == Role.PARTNER_SYSTEM:
        raise ValueError("partner systems use API keys, not sessions")
    if len(secret) < 32:
        raise ValueError("ACCESS_TOKEN_SECRET must be at least 32 characters long")
    moment = now or datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "role": role.value,
        "region": region,
        "basins": sorted(basins or []),
        "email": email,
        "iat": int(moment.timestamp()),
        "exp": int((moment + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_session(secret: str, token: str) -> Principal:
    """The principal a session credential names; :class:`Unauthorized` with the reason otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("session expirée : reconnectez-vous") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized("jeton de session invalide : signature incorrecte") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"jeton de session invalide : {exc}") from None
    try:
        role = Role(claims["role"])
        if role == Role.PARTNER_SYSTEM:
            raise ValueError(role)
        return Principal(
            role=role,
            subject=str(claims["sub"]),
            region=str(claims["region"]),
            basins=basins_of(str(b) for b in claims.get("basins") or ()),
            email=claims.get("email"),
        )
    except (KeyError, ValueError, TypeError):
        raise Unauthorized("jeton de session invalide : rôle ou région absents ou inconnus") from None

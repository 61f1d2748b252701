"""Who is signed in: the session credential the sign-in gave, kept in an HttpOnly cookie.

The web does not hold the signing secret: it reads the credential's claims only to greet the person and
choose the pages; every service it calls checks the signature, audience and expiry itself, so a forged
cookie shows a name and nothing else. Forms that act carry a token derived from the credential
(``csrf``): another site can make the browser post, not read the cookie to make that token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

COOKIE = "tdu_session"
NEXT_COOKIE = "tdu_suite"
ROLES = {
    "seeker": "candidat",
    "employer": "employeur",
    "training_provider": "organisme de formation",
    "basin_operator": "opérateur du bassin",
}
HOME_OF = {
    "seeker": "/parcours",
    "employer": "/employeur",
    "training_provider": "/organisme",
    "basin_operator": "/operateur",
}


@dataclass(frozen=True)
class SignedIn:
    token: str
    role: str
    subject: str
    email: str | None
    basins: tuple[str, ...]
    expires_at: float

    @property
    def csrf(self) -> str:
        return hashlib.sha256(f"csrf:{self.token}".encode()).hexdigest()[:32]

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def home(self) -> str:
        return HOME_OF.get(self.role, "/")


def claims_of(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, unverified (the services verify it); None if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def signed_in(request: Request) -> SignedIn | None:
    token = request.cookies.get(COOKIE)
    claims = claims_of(token) if token else None
    if not token or claims is None or claims.get("role") not in ROLES:
        return None
    expires_at = float(claims.get("exp") or 0)
    if expires_at <= time.time():
        return None
    return SignedIn(
        token,
        str(claims["role"]),
        str(claims.get("sub", "")),
        claims.get("email"),
        tuple(str(b) for b in claims.get("basins") or ()),
        expires_at,
    )


def csrf_ok(person: SignedIn, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(person.csrf, str(sent))


def keep_session(response: Response, token: str, expires_at: float, secure: bool) -> None:
    max_age = max(0, int(expires_at - time.time()))
    response.set_cookie(
        COOKIE, token, max_age=max_age, httponly=True, secure=secure, samesite="lax", path="/"
    )


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def safe_next(path: str | None) -> str | None:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path

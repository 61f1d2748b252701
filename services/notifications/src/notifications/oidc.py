"""Operators sign in with OpenID Connect: ProConnect, the State's identity federation for its agents.

Authorization code flow with ``state`` and ``nonce``: ``GET /sign-in/operator`` sends the browser to the
identity provider; its callback exchanges the code (client secret), checks the ID token (signature from the
provider's JWKS, issuer, audience, expiry, nonce), reads the user info (ProConnect signs it: a JWT, checked
the same way; a plain JSON answer is read as such) and, when the e-mail is one of the region's operators
(``OPERATORS_FILE``: ``agents`` per basin, ``region_agents``), issues a session for their basins. Set
OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET; in development the local stand-in (``notifications
oidc-standin``) plays the provider with the same endpoints and payloads.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from notifications.ports import SignIn, SignInStore
from notifications.signin import digest
from tdu_shared.access.tokens import issue_session
from tdu_shared.clock import Clock
from tdu_shared.contracts.journeys import Role

STATE_TTL = timedelta(minutes=10)
OIDC_STATE = "oidc-state"


class SignInRefused(Exception):
    """The provider's answer cannot be trusted, or the person is not an operator here."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class OperatorSignIn:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    agents: dict[str, frozenset[str] | None]
    states: SignInStore
    clock: Clock
    token_secret: str
    region: str
    scopes: str = "openid email given_name usual_name"
    session_ttl: timedelta = timedelta(hours=8)
    timeout_s: float = 10.0
    _discovery: dict[str, Any] | None = field(default=None, repr=False)
    _jwks: tuple[float, dict[str, Any]] | None = field(default=None, repr=False)

    async def _get(self, url: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            return await http.get(url, **kwargs)

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            answer = await self._get(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration")
            answer.raise_for_status()
            self._discovery = dict(answer.json())
        return self._discovery

    async def authorize_url(self, login_hint: str | None = None) -> str:
        """Where to send the browser; the state (and its nonce) are kept for one use."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        await self.states.add(SignIn(digest(state), nonce, OIDC_STATE, "-", self.clock.now() + STATE_TTL))
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scopes,
            "state": state,
            "nonce": nonce,
            "acr_values": "eidas1",
        }
        if login_hint:
            query["login_hint"] = login_hint
        return f"{(await self.discovery())['authorization_endpoint']}?{urlencode(query)}"

    async def session(self, code: str, state: str) -> tuple[str, str, frozenset[str] | None, datetime]:
        """(session credential, e-mail, basins, expiry) for the operator the provider vouches for."""
        pending = await self.states.use(digest(state), self.clock.now())
        if pending is None or pending.role != OIDC_STATE:
            raise SignInRefused("connexion inconnue, déjà terminée ou expirée : recommencez")
        tokens = await self._tokens(code)
        await self._claims(str(tokens.get("id_token", "")), nonce=pending.person_id)
        info = await self._user_info(str(tokens.get("access_token", "")))
        email = str(info.get("email") or "").strip().lower()
        if email not in self.agents:
            raise SignInRefused(f"{email or 'cette identité'} n'est pas opérateur de la région", 403)
        basins = self.agents[email]
        now = self.clock.now()
        credential = issue_session(
            self.token_secret,
            role=Role.BASIN_OPERATOR,
            subject=email,
            region=self.region,
            basins=sorted(basins or ()),
            email=email,
            ttl=self.session_ttl,
            now=now,
        )
        return credential, email, basins, now + self.session_ttl

    async def _tokens(self, code: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            answer = await http.post((await self.discovery())["token_endpoint"], data=form)
        if answer.status_code != 200:
            raise SignInRefused(f"le fournisseur d'identité refuse le code ({answer.status_code})")
        return dict(answer.json())

    async def _user_info(self, access_token: str) -> dict[str, Any]:
        answer = await self._get(
            (await self.discovery())["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}
        )
        if answer.status_code != 200:
            raise SignInRefused(f"informations d'identité refusées ({answer.status_code})")
        if answer.headers.get("content-type", "").startswith("application/jwt"):
            return await self._claims(answer.text, nonce=None)
        return dict(answer.json())

    async def _claims(self, token: str, nonce: str | None) -> dict[str, Any]:
        """The claims of a JWT the provider signed (RS256/ES256, key from its JWKS)."""
        try:
            header = jwt.get_unverified_header(token)
            key = jwt.PyJWK(await self._key(str(header.get("kid", ""))))
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256", "ES256"],
                audience=self.client_id,
                issuer=(await self.discovery())["issuer"],
                options={"require": ["iss", "aud"] + (["exp", "nonce"] if nonce is not None else [])},
            )
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise SignInRefused(f"jeton du fournisseur d'identité invalide : {exc}") from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise SignInRefused("jeton du fournisseur d'identité rejoué (nonce)")
        return dict(claims)

    async def _key(self, kid: str) -> dict[str, Any]:
        for attempt in range(2):  # a key not known yet: the provider rotated its keys, read them again
            if self._jwks is None or attempt == 1 or time.monotonic() - self._jwks[0] > 3600:
                answer = await self._get((await self.discovery())["jwks_uri"])
                answer.raise_for_status()
                self._jwks = (time.monotonic(), dict(answer.json()))
            for key in self._jwks[1].get("keys", []):
                if not kid or key.get("kid") == kid:
                    return dict(key)
        raise KeyError(f"clé {kid} inconnue du fournisseur d'identité")

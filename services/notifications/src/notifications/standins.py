"""Stand-ins for the demo platform and the tests: an SMTP mail catcher and an SMS provider server.

- :class:`MailCatcher`: a real SMTP server (aiosmtpd) writing each message to a folder as ``.eml`` and a
  JSON-lines index. Like a relay that deduplicates, it keeps one copy per Message-ID and counts the rest.
- :func:`sms_standin_app`: the SMS provider's HTTP contract (Brevo-shaped) recording what it receives in a
  JSON-lines file, listing it at ``GET /received``; ``fail_next`` answers make tests of failures easy.
- :func:`oidc_standin_app`: an OpenID Connect provider with ProConnect's endpoints and payloads, for the
  operators' sign-in in development and tests.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response


@dataclass
class CaughtMail:
    """One accepted message; its content is parsed when first read, not while the client waits."""

    message_id: str
    mail_from: str
    rcpt_to: list[str]
    raw: bytes
    received_at: float

    @cached_property
    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message

    @property
    def subject(self) -> str:
        return str(self.parsed.get("Subject", ""))

    @property
    def text(self) -> str:
        part = self.parsed.get_body(preferencelist=("plain",))
        return str(part.get_content()) if part else ""

    @property
    def html(self) -> str:
        part = self.parsed.get_body(preferencelist=("html",))
        return str(part.get_content()) if part else ""

    @property
    def headers(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.parsed.items()}


@dataclass
class MailCatcher:
    """An SMTP server on ``host:port`` keeping what it accepts (in memory and, with ``folder``, on disk)."""

    host: str = "127.0.0.1"
    port: int = 1025
    folder: Path | None = None
    dedupe: bool = True
    delay_s: float = 0.0
    """Wait this long before answering each message, as a slow relay does (tests of crashes in flight)."""
    messages: list[CaughtMail] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        received_at = time.time()
        raw = envelope.original_content or envelope.content or b""
        raw = raw if isinstance(raw, bytes) else raw.encode()
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)  # the headers only: quick
        message_id = str(headers.get("Message-ID", "")).strip() or f"<{uuid.uuid4().hex}@catcher>"
        with self._lock:
            if self.dedupe and message_id in self._seen:
                self.duplicates.append(message_id)
                return "250 OK (duplicate Message-ID, not delivered again)"
            self._seen.add(message_id)
            mail = CaughtMail(message_id, envelope.mail_from or "", list(envelope.rcpt_tos), raw, received_at)
            self.messages.append(mail)
            if self.folder is not None:
                self._write(raw, mail)
        return "250 OK"

    def _write(self, raw: bytes, mail: CaughtMail) -> None:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{len(self.messages):06d}-{uuid.uuid4().hex[:8]}.eml"
        (self.folder / name).write_bytes(raw)
        entry = {
            "file": name,
            "message_id": mail.message_id,
            "from": mail.mail_from,
            "to": mail.rcpt_to,
            "subject": mail.subject,
            "received_at": datetime.fromtimestamp(mail.received_at, UTC).isoformat(),
        }
        with (self.folder / "index.jsonl").open("a", encoding="utf-8") as index:
            index.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def start(self) -> MailCatcher:
        self._controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=10)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[CaughtMail]:
        return [m for m in self.messages if address in m.rcpt_to]


def sms_standin_app(record_file: Path | None = None, api_key: str | None = None) -> FastAPI:
    """The SMS provider's API contract, recording every accepted SMS."""
    app = FastAPI(title="SMS provider stand-in (Brevo-shaped)")
    received: list[dict[str, Any]] = []
    failures: list[int] = []
    app.state.received = received
    app.state.failures = failures

    def check_key(key: str | None) -> None:
        if api_key is not None and key != api_key:
            raise HTTPException(401, "Key not found")

    @app.post("/v3/transactionalSMS/sms", status_code=201)
    async def send_sms(request: Request, api_key_header: str | None = Header(None, alias="api-key")) -> Any:
        check_key(api_key_header)
        body = await request.json()
        if failures:
            return JSONResponse({"code": "failure", "message": "forced failure"}, status_code=failures.pop(0))
        missing = [f for f in ("sender", "recipient", "content") if not body.get(f)]
        if missing or not str(body.get("recipient", "")).isdigit():
            return JSONResponse(
                {"code": "invalid_parameter", "message": f"invalid or missing {missing or 'recipient'}"},
                status_code=400,
            )
        entry = {
            "messageId": len(received) + 1,
            "sender": body["sender"],
            "recipient": body["recipient"],
            "content": body["content"],
            "type": body.get("type"),
            "tag": body.get("tag"),
            "received_at": datetime.now(UTC).isoformat(),
        }
        received.append(entry)
        if record_file is not None:
            with record_file.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return {"reference": uuid.uuid4().hex, "messageId": entry["messageId"], "smsCount": 1}

    @app.get("/v3/transactionalSMS/statistics/events")
    async def events(
        tags: str | None = None, api_key_header: str | None = Header(None, alias="api-key")
    ) -> Any:
        check_key(api_key_header)
        chosen = [r for r in received if tags is None or r["tag"] == tags]
        return {
            "events": [
                {
                    "messageId": r["messageId"],
                    "phoneNumber": r["recipient"],
                    "event": "sent",
                    "tag": r["tag"],
                    "date": r["received_at"],
                }
                for r in chosen
            ]
        }

    @app.get("/received")
    async def list_received() -> list[dict[str, Any]]:
        return received

    @app.post("/fail-next")
    async def fail_next(status: int = 503, count: int = 1) -> dict[str, int]:
        failures.extend([status] * count)
        return {"pending_failures": len(failures)}

    return app


def oidc_standin_app(issuer: str, client_id: str, client_secret: str) -> FastAPI:
    """An OpenID Connect provider with ProConnect's endpoints and payloads, for development and tests.

    It signs in whoever the ``login_hint`` names (ProConnect would show its sign-in page and the agent's
    own provider): authorize answers at once with a code. Tokens are signed RS256 with a key made at start;
    the user info is a signed JWT (``application/jwt``) with ``email``, ``given_name``, ``usual_name``,
    ``uid`` and ``siret``, as ProConnect's.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    app = FastAPI(title="OpenID Connect provider stand-in (ProConnect-shaped)")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex[:16]
    public_jwk = {
        **json.loads(RSAAlgorithm.to_jwk(private_key.public_key())),
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
    }
    codes: dict[str, dict[str, Any]] = {}
    grants: dict[str, dict[str, Any]] = {}

    def signed(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid})

    @app.get("/.well-known/openid-configuration")
    async def configuration() -> dict[str, Any]:
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "end_session_endpoint": f"{issuer}/session/end",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "given_name", "usual_name", "uid", "siret"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        }

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return {"keys": [public_jwk]}

    @app.get("/authorize")
    async def authorize(
        client_id_: str = Query(alias="client_id"),
        redirect_uri: str = Query(),
        state: str = Query(),
        nonce: str = Query(),
        login_hint: str | None = Query(None),
    ) -> Any:
        if client_id_ != client_id:
            raise HTTPException(400, "unknown client_id")
        if not login_hint:
            raise HTTPException(400, "this stand-in signs in the person login_hint names")
        code = secrets.token_urlsafe(24)
        codes[code] = {"email": login_hint.lower(), "nonce": nonce, "redirect_uri": redirect_uri}
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302
        )

    @app.post("/token")
    async def token(request: Request) -> Any:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}  # urlencoded form
        grant = codes.pop(str(form.get("code")), None)
        if form.get("client_id") != client_id or form.get("client_secret") != client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        subject = uuid.uuid5(uuid.NAMESPACE_DNS, grant["email"]).hex
        access_token = secrets.token_urlsafe(24)
        grants[access_token] = {**grant, "sub": subject}
        id_token = signed(
            {
                "iss": issuer,
                "sub": subject,
                "aud": client_id,
                "iat": now,
                "exp": now + 60,
                "nonce": grant["nonce"],
                "acr": "eidas1",
                "amr": ["pwd"],
            }
        )
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": 60, "id_token": id_token}

    @app.get("/userinfo")
    async def userinfo(authorization: str = Header("")) -> Any:
        grant = grants.get(authorization.removeprefix("Bearer "))
        if grant is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        local = grant["email"].split("@")[0]
        claims = {
            "iss": issuer,
            "aud": client_id,
            "sub": grant["sub"],
            "email": grant["email"],
            "given_name": local.split(".")[0].capitalize(),
            "usual_name": local.split(".")[-1].upper(),
            "uid": grant["sub"][:12],
            "siret": "13002526500013",
        }
        return Response(signed(claims), media_type="application/jwt")

    return app

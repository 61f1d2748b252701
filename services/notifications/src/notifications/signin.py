"""Sign-in by e-mail link: seekers, employers and training providers prove they hold an address.

A person asks for a link with their e-mail address; if the address is a known contact's (a seeker's, the
contact address of an employer's offer, of a provider's session: the ``contacts`` topic tells this service
every one), a single-use link valid ``SIGN_IN_LINK_MINUTES`` is e-mailed to it at once. The link's token is
exchanged once for a session credential (``tdu_shared.access.tokens``) naming the person's role and id.
A seeker not known yet (their first application) gets a new opaque id, kept with the address until they
apply. The answer never says whether an address is known.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from notifications.ports import (
    ContactStore,
    EmailMessage,
    EmailSender,
    PermanentFailure,
    Renderer,
    SignIn,
    SignInStore,
)
from tdu_shared.access.tokens import issue_session
from tdu_shared.clock import Clock
from tdu_shared.contracts.journeys import Role

log = structlog.get_logger(__name__)

PEOPLE = (Role.SEEKER, Role.EMPLOYER, Role.TRAINING_PROVIDER)
MAX_PENDING = 3
"""Links not used yet that one person may hold: more requests send nothing (no mailbox flooding)."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkRefused(Exception):
    """The link is unknown, used already or expired."""


@dataclass
class SignInDesk:
    contacts: ContactStore
    links: SignInStore
    email: EmailSender
    renderer: Renderer
    clock: Clock
    frontend_base_url: str
    mail_domain: str
    token_secret: str
    region: str
    link_ttl: timedelta = timedelta(minutes=15)
    session_ttl: timedelta = timedelta(hours=8)

    async def request(self, address: str, role: Role) -> int:
        """E-mail a link to ``address`` for ``role`` if known (or a new seeker's); how many were sent."""
        now = self.clock.now()
        found = [c for c in await self.contacts.by_email(address) if c.role == role.value and c.known]
        people = [c.person_id for c in found]
        if not people and role == Role.SEEKER:
            people = [await self.links.person_of(address, role) or str(uuid.uuid4())]
        sent = 0
        for person_id in people[:MAX_PENDING]:
            if await self.links.pending(person_id, now) >= MAX_PENDING:
                log.warning("sign-in: too many pending links", person_id=person_id)
                continue
            await self._send(address, role, person_id, now)
            sent += 1
        return sent

    async def _send(self, address: str, role: Role, person_id: str, now: datetime) -> None:
        token = secrets.token_urlsafe(32)
        link = SignIn(digest(token), person_id, role.value, address, now + self.link_ttl)
        await self.links.add(link)
        url = sign_in_url(self.frontend_base_url, token)
        minutes = int(self.link_ttl.total_seconds() // 60)
        context = {"sign_in_url": url, "minutes": minutes, "unsubscribe_url": None}
        rendered = self.renderer.email("lien_connexion", context)
        message_id = f"<signin-{digest(token)[:24]}@{self.mail_domain}>"
        message = EmailMessage(message_id, address, rendered.subject, rendered.text, rendered.html, {})
        try:
            await self.email.send(message)
        except PermanentFailure as exc:  # the relay refuses the address: nothing to send, same answer
            log.warning("sign-in link refused by the relay", person_id=person_id, reason=str(exc)[:200])
            return
        log.info("sign-in link sent", person_id=person_id, role=role.value)

    async def exchange(self, token: str) -> tuple[SignIn, str, datetime]:
        """The session a link's token gives, once: (the sign-in, the credential, its expiry)."""
        now = self.clock.now()
        used = await self.links.use(digest(token), now)
        if used is None:
            raise LinkRefused("lien de connexion inconnu, déjà utilisé ou expiré : demandez-en un nouveau")
        session = issue_session(
            self.token_secret,
            role=Role(used.role),
            subject=used.person_id,
            region=self.region,
            email=used.email,
            ttl=self.session_ttl,
            now=now,
        )
        return used, session, now + self.session_ttl


def sign_in_url(frontend_base_url: str, token: str) -> str:
    """The page of the web front end that opens a session from a sign-in link's token."""
    return f"{frontend_base_url.rstrip('/')}/connexion?jeton={token}"

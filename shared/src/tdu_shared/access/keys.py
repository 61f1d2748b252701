"""Partner API keys: made by operators, learnt by every service from the ``access.keys`` topic.

A key reads ``tdu_<key id>_<secret>``: the key id is public (it names the key in lists and logs), the
secret is shown once when the key is made and stored nowhere; the topic carries its SHA-256 digest (the
secret is 256 random bits, so a fast digest is safe). Each service keeps a :class:`KeyRing` filled by a
:class:`KeyFollower` that reads the topic from its beginning and then follows it: a revocation is refused
by every service as soon as it has read it (well under a second on a healthy broker).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from tdu_shared.access.principal import Principal, Unauthorized, basins_of
from tdu_shared.contracts.access import PartnerKeyIssued, PartnerKeyRevoked
from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import Envelope, decode_event
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka_auth import connection
from tdu_shared.topics import ACCESS_KEYS

log = structlog.get_logger(__name__)

PREFIX = "tdu_"
KEY_PATTERN = re.compile(r"^tdu_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")

CAPABILITIES: dict[str, str] = {
    "offers:write": "publish offers (its own partner feed, the employer form)",
    "catalogue:write": "import LHEO catalogues (`catalogue:write:<source>`: of one source only)",
    "applications:write": "apply on behalf of a seeker who consented",
    "journeys:read": "read the journeys of its basins",
    "journeys:write": "act on the journeys of its basins",
    "kpis:read": "read the KPIs of its basins",
    "webhooks:write": "receive the journey events of its basins as signed HTTP POSTs (webhooks)",
}
"""Every capability a partner key can hold (a capability may be narrowed to one thing: ``name:thing``)."""


def known_capability(capability: str) -> bool:
    base = ":".join(capability.split(":")[:2])
    return base in CAPABILITIES and (capability == base or base == "catalogue:write")


def new_key() -> tuple[str, str, str]:
    """A fresh key: (key id, the whole key to hand over once, the digest to publish)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{PREFIX}{key_id}_{secret}", digest(secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class KnownKey:
    issued: PartnerKeyIssued | None
    revoked: PartnerKeyRevoked | None = None


class KeyRing:
    """The partner keys this process knows, as the ``access.keys`` topic last said."""

    def __init__(self) -> None:
        self._keys: dict[str, KnownKey] = {}
        self.loaded = asyncio.Event()
        """Set once the topic was read up to where it ended when the follower started."""

    @property
    def caught_up(self) -> bool:
        return self.loaded.is_set()

    def apply(self, key_id: str, envelope: Envelope[Any] | None) -> None:
        """One record of the topic: an issue, a revocation, or a tombstone (the key is forgotten)."""
        if envelope is None:
            self._keys.pop(key_id, None)
            return
        payload = envelope.payload
        known = self._keys.get(key_id, KnownKey(None))
        if isinstance(payload, PartnerKeyIssued):
            self._keys[key_id] = KnownKey(payload, known.revoked)
        elif isinstance(payload, PartnerKeyRevoked):
            self._keys[key_id] = KnownKey(known.issued, payload)

    def known(self) -> list[KnownKey]:
        return list(self._keys.values())

    def verify(self, presented: str, now: datetime | None = None) -> Principal:
        """The partner a presented key names; :class:`Unauthorized` with the reason otherwise."""
        match = KEY_PATTERN.match(presented)
        if match is None:
            raise Unauthorized("clé d'API mal formée (attendu : tdu_<identifiant>_<secret>)")
        key_id, secret = match.groups()
        known = self._keys.get(key_id)
        if known is None or known.issued is None:
            if not self.caught_up:
                raise Unauthorized("clés d'API en cours de chargement : réessayez dans quelques secondes")
            raise Unauthorized(f"clé d'API {key_id} inconnue")
        if known.revoked is not None:
            raise Unauthorized(f"clé d'API {key_id} révoquée")
        issued = known.issued
        if not hmac.compare_digest(digest(secret), issued.secret_sha256):
            raise Unauthorized(f"clé d'API {key_id} : secret incorrect")
        if issued.expires_at is not None and issued.expires_at <= (now or datetime.now(UTC)):
            raise Unauthorized(f"clé d'API {key_id} expirée")
        return Principal(
            role=Role.PARTNER_SYSTEM,
            subject=issued.partner,
            region=issued.region,
            basins=basins_of(issued.basins),
            capabilities=frozenset(issued.capabilities),
            key_id=key_id,
        )


class KeyFollower:
    """Reads ``access.keys`` from its beginning into a :class:`KeyRing`, then follows it.

    No consumer group: every process reads the whole (compacted, small) topic for itself.
    """

    def __init__(self, bootstrap: str, topic: str, ring: KeyRing, *, client_id: str = "traitdunion") -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._client_id = client_id
        self.ring = ring
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="key-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("partner keys: following access.keys failed, starting again")
                await asyncio.sleep(1)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            self._topic,
            **connection(self._bootstrap),
            client_id=f"{self._client_id}-keys",
            group_id=None,  # every partition, from the beginning, for this process alone
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=200,
        )
        await consumer.start()
        try:
            ends: dict[TopicPartition, int] | None = None
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=1000)
                for records in batches.values():
                    for record in records:
                        self._apply(record.key, record.value)
                if self.ring.caught_up or not consumer.assignment():
                    continue
                if ends is None:
                    ends = await consumer.end_offsets(list(consumer.assignment()))
                if await self._reached(consumer, ends):
                    self.ring.loaded.set()
                    log.info("partner keys loaded", keys=len(self.ring.known()))
        finally:
            await consumer.stop()

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        for partition, end in ends.items():
            if await consumer.position(partition) < end:
                return False
        return True

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        key_id = key.decode(errors="replace") if key else ""
        try:
            envelope = None if value is None else decode_event(value, expected=ACCESS_KEYS.event_types)
        except InvalidMessage as exc:
            log.error("partner keys: unusable record skipped", key_id=key_id, reason=exc.reason)
            return
        self.ring.apply(key_id, envelope)

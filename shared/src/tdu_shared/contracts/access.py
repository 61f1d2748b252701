"""Partner keys, on the compacted ``access.keys`` topic keyed by key id.

Every service follows this topic from its beginning and keeps the keys in memory: a key issued or revoked
is known to every service within seconds, without any service calling another. The key's secret never
travels: only its SHA-256 digest does.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import AwareDatetime, Field

from tdu_shared.envelope import Payload, register

KEY_ID_PATTERN = r"^[0-9a-f]{16}$"


@register
class PartnerKeyIssued(Payload):
    """A partner system's API key: who holds it and what it may do, where."""

    event_type: ClassVar[str] = "PartnerKeyIssued"

    key_id: str = Field(pattern=KEY_ID_PATTERN, description="Public part of the key (also the message key).")
    partner: str = Field(
        pattern=r"^[a-z0-9-]{2,30}$", description="Partner system the key is for (its short name)."
    )
    region: str = Field(pattern=r"^\d{2}$", description="INSEE code of the region the key is valid in.")
    basins: list[str] = Field(
        max_length=100, description="Employment basins the key may read and act on; empty: every basin."
    )
    capabilities: list[str] = Field(
        min_length=1, max_length=50, description="What the key may do, e.g. `offers:write`."
    )
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key's secret part.")
    label: str | None = Field(None, max_length=200, description="Operator's note (whose system, which use).")
    issued_by: str = Field(max_length=200, description="Operator who issued it.")
    expires_at: AwareDatetime | None = Field(
        None, description="Refused after this moment; none: until revoked."
    )


@register
class PartnerKeyRevoked(Payload):
    """A key refused from now on (revoked or replaced by a rotation)."""

    event_type: ClassVar[str] = "PartnerKeyRevoked"

    key_id: str = Field(pattern=KEY_ID_PATTERN, description="Key refused from now on.")
    partner: str = Field(max_length=30, description="Partner system the key was for.")
    revoked_by: str = Field(max_length=200, description="Operator who revoked it.")
    reason: str = Field(min_length=1, max_length=500, description="Why (rotation, leak, end of partnership).")
    revoked_at: datetime = Field(description="When.")

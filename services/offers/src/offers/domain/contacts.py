"""The employer contact is personal data: it travels under an opaque id only.

An employer's id is random (``employer:<32 hex>``), given the first time their address is seen and kept in
the store under the address's key (its SHA-256), so the same address always finds the same id; an id made
by an earlier version (``employer:<first 24 hex of that SHA-256>``) is kept for the contacts that have it.
"""

from __future__ import annotations

import hashlib
import uuid


def address_key(email: str) -> str:
    """The key an employer's address is looked up by (never shown: not an id)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def legacy_person_id(key: str) -> str:
    """The id an earlier version derived from the address (kept where it is stored already)."""
    return f"employer:{key[:24]}"


def new_person_id() -> str:
    return f"employer:{uuid.uuid4().hex}"

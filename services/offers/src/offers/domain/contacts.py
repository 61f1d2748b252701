"""The employer contact is personal data: it travels under an opaque, stable id only."""

from __future__ import annotations

import hashlib


def employer_person_id(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]
    return f"employer:{digest}"

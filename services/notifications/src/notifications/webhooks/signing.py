"""The signature of a webhook delivery: ``X-TDU-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>``.

``<ts>`` is ``X-TDU-Timestamp`` (unix seconds, the moment of this attempt), ``<body>`` the raw bytes of the
request body. During the grace period after a secret rotation the header carries one ``sha256=`` per
valid secret, the newest first, separated by ``, ``: a receiver accepts the request when any of them
matches the secret it holds. :func:`verify` is what a receiver does (see the service README).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

SCHEME = "sha256"
TOLERANCE_S = 300
"""A receiver refuses a timestamp further than this from its clock (replays of a captured request)."""


def new_secret() -> str:
    """A signing secret: 256 random bits, shown to the partner once."""
    return f"whsec_{secrets.token_urlsafe(32)}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_: Sequence[str], timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` for each secret (the current one first)."""
    return ", ".join(f"{SCHEME}={signature(s, timestamp, body)}" for s in secrets_)


def verify(secret: str, header: str, timestamp: str, body: bytes, now: float) -> bool:
    """A receiver's check: the timestamp is recent and one of the signatures is ours."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > TOLERANCE_S:
        return False
    expected = signature(secret, sent_at, body)
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == SCHEME and hmac.compare_digest(value, expected):
            return True
    return False

"""Signed links: an unsubscribe token names a person and a channel and cannot be forged without the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac

from notifications.domain.model import Channel


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:18])


def unsubscribe_token(person_id: str, channel: Channel, secret: str) -> str:
    body = _b64(f"{person_id}\n{channel.value}".encode())
    return f"{body}.{_signature(secret, body)}"


def read_unsubscribe_token(token: str, secret: str) -> tuple[str, Channel] | None:
    """The (person, channel) a token names, or None when it is malformed or its signature is wrong."""
    body, _, signature = token.partition(".")
    if not body or not hmac.compare_digest(signature, _signature(secret, body)):
        return None
    try:
        person_id, channel = _unb64(body).decode().split("\n")
        return person_id, Channel(channel)
    except (ValueError, UnicodeDecodeError):
        return None

"""Upcasters: a breaking change to a payload is a new version plus a function from the old shape to the new.

An upcaster takes the whole envelope as a dict at version N and returns it at version N+1; ``upcast``
chains them. Events stored or still on topics at an old version are read as the newest one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tdu_shared.errors import InvalidMessage

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``fn`` as the step from ``from_version`` to ``from_version + 1`` of ``event_type``."""

    def decorate(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return decorate


def upcast(data: dict[str, Any], to_version: int) -> dict[str, Any]:
    event_type, version = data["type"], data["version"]
    if version > to_version:
        raise InvalidMessage(f"{event_type} v{version} is newer than this service knows (v{to_version})")
    while version < to_version:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise InvalidMessage(f"no upcaster from {event_type} v{version} to v{version + 1}")
        data = step(data)
        version += 1
        data = {**data, "version": version}
    return data

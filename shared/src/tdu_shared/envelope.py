"""The envelope every event and command travels in, and how raw bytes become typed events.

A payload model declares its wire name and version as class variables::

    class OfferPublished(Payload):
        event_type: ClassVar[str] = "OfferPublished"
        event_version: ClassVar[int] = 1

``register`` records it, ``new_envelope`` wraps a payload, ``decode_event`` turns bytes from a topic into a
validated ``Envelope`` of the newest version (older versions are upcast on the way, see ``upcasting``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar, cast
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from tdu_shared.errors import InvalidMessage


class Payload(BaseModel):
    """Base of every event or command payload: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1


P = TypeVar("P", bound=Payload)


class Envelope(BaseModel, Generic[P]):
    """Metadata shared by all events; ``payload`` holds the event itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(description="Unique id of this event; consumers use it to ignore redeliveries.")
    type: str = Field(description="Event or command name, past tense for events, imperative for commands.")
    version: int = Field(ge=1, description="Version of the payload schema.")
    occurred_at: AwareDatetime = Field(description="When the fact happened (UTC).")
    producer: str = Field(description="Service (or partner system) that produced the event.")
    region: str = Field(description="INSEE code of the region (44 = Grand Est).")
    basin: str | None = Field(
        description="Employment basin code (INSEE zone d'emploi, 4410 = Metz); null when unknown."
    )
    correlation_id: UUID | None = Field(None, description="Id shared by every event of one business flow.")
    causation_id: UUID | None = Field(None, description="Id of the event or command that caused this one.")
    payload: P = Field(description="The event's own data.")


_REGISTRY: dict[tuple[str, int], type[Payload]] = {}
_LATEST: dict[str, int] = {}

PayloadT = TypeVar("PayloadT", bound=type[Payload])


def register(model: PayloadT) -> PayloadT:
    """Class decorator recording a payload model under its (type, version)."""
    key = (model.event_type, model.event_version)
    if key in _REGISTRY and _REGISTRY[key] is not model:
        raise ValueError(f"{key} is already registered by {_REGISTRY[key].__name__}")
    _REGISTRY[key] = model
    _LATEST[model.event_type] = max(_LATEST.get(model.event_type, 0), model.event_version)
    return model


def registered() -> dict[tuple[str, int], type[Payload]]:
    return dict(_REGISTRY)


def model_for(event_type: str, version: int | None = None) -> type[Payload]:
    import tdu_shared.contracts  # noqa: F401  (registers every contract; imported late: it imports us)

    if event_type not in _LATEST:
        raise InvalidMessage(f"unknown event type {event_type!r}")
    version = _LATEST[event_type] if version is None else version
    try:
        return _REGISTRY[(event_type, version)]
    except KeyError:
        raise InvalidMessage(f"unknown version {version} of {event_type!r}") from None


def new_envelope(
    payload: P,
    *,
    producer: str,
    region: str,
    basin: str | None,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    event_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[P]:
    model = cast(type[Envelope[P]], Envelope[type(payload)])  # type: ignore[misc]
    return model(
        event_id=event_id or uuid4(),
        type=payload.event_type,
        version=payload.event_version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        region=region,
        basin=basin,
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=payload,
    )


MAX_EVENT_BYTES = 1_000_000
"""Largest encoded event: the broker's default limit on a message (1 MiB), less room for key and headers."""


class EventTooLarge(InvalidMessage):
    """An event that the broker would refuse: refused before anything is stored or published."""


def encode(envelope: Envelope[Any]) -> bytes:
    """The envelope as the bytes published; :class:`EventTooLarge` beyond :data:`MAX_EVENT_BYTES`."""
    raw = envelope.model_dump_json().encode()
    if len(raw) > MAX_EVENT_BYTES:
        raise EventTooLarge(
            f"{envelope.type} de {len(raw)} octets : au-delà des {MAX_EVENT_BYTES} octets qu'un événement "
            "peut faire (raccourcir les textes les plus longs)"
        )
    return raw


def decode_event(raw: bytes | None, expected: tuple[str, ...] | None = None) -> Envelope[Any]:
    """Bytes from a topic -> a validated envelope of the newest payload version.

    Raises :class:`InvalidMessage` with a reason a person can act on: not JSON, not an envelope, unknown
    type, a type this consumer does not expect, or the payload's validation errors.
    """
    from tdu_shared.upcasting import upcast

    if raw is None:
        raise InvalidMessage("empty message (tombstone) where an event was expected")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise InvalidMessage("not an event envelope: a JSON object with a string 'type' is required")
    event_type = data["type"]
    if expected is not None and event_type not in expected:
        raise InvalidMessage(f"unexpected event type {event_type!r} here; expected one of {sorted(expected)}")
    version = data.get("version")
    if not isinstance(version, int):
        raise InvalidMessage("not an event envelope: an integer 'version' is required")
    model = model_for(event_type)
    if version != model.event_version:
        # An older version is checked against its own contract first: upcasters read valid events only.
        _validated(model_for(event_type, version), data, f"{event_type} v{version}")
        try:
            data = upcast(data, model.event_version)
        except Exception as exc:
            raise InvalidMessage(
                f"{event_type} v{version} cannot be read as v{model.event_version}: {exc!r}"
            ) from None
    return _validated(model, data, f"{event_type} v{version}")


def _validated(model: type[Payload], data: dict[str, Any], what: str) -> Envelope[Any]:
    try:
        return Envelope[model].model_validate(data)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise InvalidMessage(f"invalid {what}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)

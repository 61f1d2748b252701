"""Every contract round-trips, its JSON schema is pinned, and old versions are read through upcasters."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

import tdu_shared.contracts  # noqa: F401
from tdu_dev.testing.examples import example
from tdu_shared.contracts.contacts import ContactUpserted, ContactUpsertedV1
from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import Envelope, decode_event, encode, new_envelope, registered
from tdu_shared.errors import InvalidMessage
from tdu_shared.topics import ALL_TOPICS

SNAPSHOTS = Path(__file__).parent / "snapshots"
CONTRACTS = sorted(registered().items())


def latest(event_type: str) -> int:
    return max(v for (t, v) in registered() if t == event_type)


# Old versions are read as the newest one (see the upcaster tests), so only the newest round-trips.
NEWEST = [(key, model) for key, model in CONTRACTS if key[1] == latest(key[0])]


@pytest.mark.parametrize(("key", "model"), NEWEST, ids=[f"{t}.v{v}" for (t, v), _ in NEWEST])
def test_contract_round_trips_through_its_envelope(key: tuple[str, int], model: type) -> None:
    envelope = new_envelope(
        example(model), producer="test", region="44", basin="4410", correlation_id=uuid4()
    )
    assert decode_event(encode(envelope)) == envelope


@pytest.mark.parametrize(("key", "model"), CONTRACTS, ids=[f"{t}.v{v}" for (t, v), _ in CONTRACTS])
def test_contract_schema_matches_its_snapshot(key: tuple[str, int], model: type) -> None:
    """A changed schema is visible here. Compatible change: regenerate with UPDATE_SNAPSHOTS=1.
    A breaking change is a new version with an upcaster, never an edit in place."""
    schema = Envelope[model].model_json_schema()  # type: ignore[valid-type]
    path = SNAPSHOTS / f"{key[0]}.v{key[1]}.json"
    text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot for {key}: run UPDATE_SNAPSHOTS=1 pytest {__file__}"
    assert json.loads(path.read_text(encoding="utf-8")) == schema, f"{key} changed: see this test's docstring"


def test_every_topic_names_only_registered_event_types() -> None:
    known = {t for t, _ in registered()}
    for spec in ALL_TOPICS:
        assert set(spec.event_types) <= known, spec.name


def test_contact_v1_is_read_as_v2_with_its_consent_on_both_channels() -> None:
    v1 = ContactUpsertedV1(person_id="p1", role=Role.SEEKER, email="a@example.org", consent=False)
    raw = encode(new_envelope(v1, producer="legacy", region="44", basin=None))

    event = decode_event(raw)

    assert event.version == 2
    assert event.payload == ContactUpserted(
        person_id="p1", role=Role.SEEKER, email="a@example.org", consent_email=False, consent_sms=False
    )


def test_a_version_newer_than_known_is_refused_with_a_reason() -> None:
    data = json.loads(encode(new_envelope(example(ContactUpserted), producer="x", region="44", basin=None)))
    data["version"] = 9
    with pytest.raises(InvalidMessage, match="unknown version 9"):
        decode_event(json.dumps(data).encode())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not an event envelope"),
        (b'{"type": "OfferWithdrawn"}', "integer 'version'"),
        (b'{"type": "Unheard", "version": 1}', "unknown event type 'Unheard'"),
        (None, "tombstone"),
    ],
)
def test_undecodable_messages_are_refused_with_a_clear_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        decode_event(raw)


def test_invalid_payload_names_the_failing_fields() -> None:
    envelope = json.loads(
        encode(new_envelope(example(ContactUpserted), producer="x", region="44", basin=None))
    )
    envelope["payload"]["consent_sms"] = "maybe"
    envelope["occurred_at"] = datetime.now(UTC).replace(tzinfo=None).isoformat()
    with pytest.raises(InvalidMessage) as caught:
        decode_event(json.dumps(envelope).encode())
    assert "payload.consent_sms" in caught.value.reason
    assert "occurred_at" in caught.value.reason

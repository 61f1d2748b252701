"""Damaged events: decoding gives a valid event of the newest version or a reason to dead-letter it.

Every registered contract's example envelope is changed anywhere (fields dropped, replaced by values of
the wrong type, empty, huge or odd Unicode, fields added), or replaced by random bytes; the decoder every
consumer uses must answer with an event or an ``InvalidMessage`` carrying a reason, never anything else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tdu_shared.contracts  # noqa: F401
from tdu_dev.testing.examples import example
from tdu_dev.testing.mutations import mutated_json
from tdu_shared.envelope import decode_event, encode, new_envelope, registered
from tdu_shared.errors import InvalidMessage

ENVELOPES: list[dict[str, Any]] = [
    json.loads(encode(new_envelope(example(model), producer="test", region="44", basin="4410")))
    for model in registered().values()
]
TYPES = tuple(sorted({e["type"] for e in ENVELOPES}))
HYPOTHESIS = settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def event_or_reason(raw: bytes, expected: tuple[str, ...] | None) -> None:
    try:
        envelope = decode_event(raw, expected)
    except InvalidMessage as exc:
        assert exc.reason.strip()
        return
    assert expected is None or envelope.type in expected


@HYPOTHESIS
@given(mutated_json(ENVELOPES), st.sampled_from([None, TYPES[:3], TYPES]))
def test_a_damaged_envelope_is_an_event_or_a_reason(envelope: Any, expected: tuple[str, ...] | None) -> None:
    event_or_reason(json.dumps(envelope, allow_nan=True).encode(), expected)


@HYPOTHESIS
@given(st.binary(max_size=300) | st.sampled_from([b"", b"null", b"[]", b"{}", b'"x"', b"\xff\xfe", b"1e999"]))
def test_random_bytes_are_a_reason(raw: bytes) -> None:
    event_or_reason(raw, None)


def test_every_contract_has_an_undamaged_example_that_decodes() -> None:
    assert len(ENVELOPES) >= 20
    for envelope in ENVELOPES:
        assert decode_event(json.dumps(envelope).encode()).type == envelope["type"]


@pytest.mark.parametrize("payload", [None, [], ["x"], {}, {"person_id": "p1", "role": "seeker"}, "consent"])
def test_a_damaged_event_of_an_older_version_is_a_reason_not_an_upcaster_crash(payload: Any) -> None:
    """Found by the damaged envelopes: an upcaster read a v1 contact without its consent and crashed."""
    v1 = next(e for e in ENVELOPES if e["type"] == "ContactUpserted" and e["version"] == 1)
    with pytest.raises(InvalidMessage) as refused:
        decode_event(json.dumps({**v1, "payload": payload}).encode())
    assert "ContactUpserted v1" in refused.value.reason

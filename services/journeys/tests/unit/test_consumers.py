"""Kafka records to use cases: refusals become Rejected (DLQ with the reason), bad records InvalidMessage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from journeys import handlers
from journeys.consumers import eligibility_view, handle_command
from journeys.testing import application, eligibility, memory_ports
from tdu_shared.contracts.journeys import RecordHire, Role
from tdu_shared.envelope import encode, new_envelope
from tdu_shared.errors import InvalidMessage, Rejected
from tdu_shared.kafka import Consumed, Record, decoded_record
from tdu_shared.topics import JOURNEYS_COMMANDS, MATCHING_ELIGIBILITY


def record(value: bytes | None, key: bytes = b"k") -> Record:
    return Record(
        "journeys.commands", 0, 0, key, value, {}, int(datetime(2027, 1, 5, tzinfo=UTC).timestamp() * 1000)
    )


def command_record(payload: object) -> Consumed:
    value = encode(new_envelope(payload, producer="partner", region="44", basin="4410"))  # type: ignore[type-var]
    return decoded_record(record(value), JOURNEYS_COMMANDS)


def eligibility_record(value: bytes | None, key: bytes = b"k") -> Consumed:
    return decoded_record(record(value, key), MATCHING_ELIGIBILITY, tombstones=True)


async def test_an_application_on_the_topic_starts_a_journey() -> None:
    ports, _ = memory_ports()
    view = eligibility_view(
        eligibility_record(encode(new_envelope(eligibility(), producer="m", region="44", basin="4410")))
    )
    await ports.offers.save(view)
    await handle_command(command_record(application()), ports)
    assert len(await ports.journeys.all()) == 1


async def test_an_invalid_transition_is_rejected_with_the_actions_possible() -> None:
    ports, _ = memory_ports()
    await handlers.on_eligibility_changed(eligibility(), ports)
    jid = (await handlers.execute(application(), ports)).journey.journey_id
    hire = RecordHire(
        command_id="h",
        actor_role=Role.PARTNER_SYSTEM,
        actor_id="X1",
        journey_id=jid,
        contract_start="2027-09-01",
        contract_type="CDI",
    )
    with pytest.raises(Rejected, match="actions possibles : DeclineApplication"):
        await handle_command(command_record(hire), ports)


async def test_a_command_on_an_unknown_journey_is_rejected() -> None:
    ports, _ = memory_ports()
    hire = RecordHire(
        command_id="h",
        actor_role=Role.PARTNER_SYSTEM,
        actor_id="X1",
        journey_id="nope",
        contract_start="2027-09-01",
        contract_type="CDI",
    )
    with pytest.raises(Rejected, match="inconnu"):
        await handle_command(command_record(hire), ports)


async def test_an_event_instead_of_a_command_is_invalid() -> None:
    with pytest.raises(InvalidMessage, match="unexpected event type"):
        decoded_record(
            record(encode(new_envelope(eligibility(), producer="m", region="44", basin=None))),
            JOURNEYS_COMMANDS,
        )


async def test_an_eligibility_tombstone_closes_the_offer() -> None:
    ports, _ = memory_ports()
    await handlers.on_eligibility_changed(eligibility(), ports)
    await ports.offers.save(eligibility_view(eligibility_record(None, key=b"OFFER-1")))
    offer = await ports.offers.get("OFFER-1")
    assert offer is not None and not offer.eligible

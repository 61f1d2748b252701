"""Kafka subscribers: matching.eligibility feeds the offers read model; journeys.commands runs commands.

A command refused by a rule (wrong role, invalid transition, broken guard, unknown journey or offer) goes
to ``journeys.commands.dlq`` with the reason; its accepted twin produces events on ``journeys.events``.
"""

from __future__ import annotations

from faststream.kafka import KafkaMessage

from journeys import handlers, translate
from journeys.domain.transitions import Refused, TransitionRefused
from journeys.handlers import NotFound, OfferNotEligible, Ports
from journeys.ports import OfferView
from tdu_shared.contracts.journeys import JourneyCommand
from tdu_shared.contracts.matching import OfferEligibilityChanged
from tdu_shared.envelope import decode_event
from tdu_shared.errors import Rejected
from tdu_shared.kafka import Record, handle_records, records_of, subscriber_options
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import JOURNEYS_COMMANDS, MATCHING_ELIGIBILITY


def eligibility_view(record: Record) -> OfferView:
    """What one ``matching.eligibility`` record says of its offer (a tombstone: the offer is gone)."""
    if record.value is None:
        return OfferView(record.key_text or "", False, record.written_at, reasons=("offre supprimée",))
    envelope = decode_event(record.value, expected=MATCHING_ELIGIBILITY.event_types)
    payload: OfferEligibilityChanged = envelope.payload
    return translate.offer_view(payload)


async def handle_eligibility(record: Record, ports: Ports) -> None:
    await ports.offers.save(eligibility_view(record))


async def handle_command(record: Record, ports: Ports) -> None:
    envelope = decode_event(record.value, expected=JOURNEYS_COMMANDS.event_types)
    command: JourneyCommand = envelope.payload
    try:
        await handlers.execute(command, ports, causation_id=envelope.event_id)
    except TransitionRefused as exc:
        raise Rejected(f"{exc.reason}; actions possibles : {', '.join(exc.allowed) or 'aucune'}") from None
    except (Refused, NotFound, OfferNotEligible) as exc:
        raise Rejected(str(exc)) from None


def register_consumers(runtime: ServiceRuntime, ports: Ports) -> None:
    eligibility_group = runtime.group_id("eligibility")
    commands_group = runtime.group_id("commands")
    eligibility_dlq = runtime.dead_letters(eligibility_group)
    commands_dlq = runtime.dead_letters(commands_group)

    @runtime.broker.subscriber(  # type: ignore[untyped-decorator]
        runtime.topic(MATCHING_ELIGIBILITY),
        **subscriber_options(eligibility_group, batch=True),
        title="matching.eligibility -> offers read model",
        description="OfferEligibilityChanged: which offers accept applications, their employer and sessions.",
    )
    async def on_eligibility(message: KafkaMessage) -> None:
        # Decoded one by one (what cannot be used goes to the DLQ), then stored together: one read and
        # one write command per batch rather than per offer.
        views: list[OfferView] = []

        async def one(record: Record) -> None:
            views.append(eligibility_view(record))

        await handle_records(records_of(message), one, eligibility_dlq)
        await ports.offers.save_all(views)

    @runtime.broker.subscriber(  # type: ignore[untyped-decorator]
        runtime.topic(JOURNEYS_COMMANDS),
        **subscriber_options(commands_group),
        title="journeys.commands",
        description="Journey commands from partner systems (SubmitApplication ... CorrectStep); refusals go "
        "to journeys.commands.dlq with the reason.",
    )
    async def on_command(message: KafkaMessage) -> None:
        async def one(record: Record) -> None:
            await handle_command(record, ports)

        await handle_records(records_of(message), one, commands_dlq)

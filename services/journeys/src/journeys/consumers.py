"""Kafka subscribers: matching.eligibility feeds the offers read model; journeys.commands runs commands.

A command refused by a rule (wrong role, invalid transition, broken guard, unknown journey or offer) goes
to ``journeys.commands.dlq`` with the reason; its accepted twin produces events on ``journeys.events``.
"""

from __future__ import annotations

from journeys import handlers, translate
from journeys.domain.transitions import Refused, TransitionRefused
from journeys.handlers import NotFound, OfferNotEligible, Ports
from journeys.ports import OfferView
from tdu_shared.contracts.journeys import JourneyCommand
from tdu_shared.contracts.matching import OfferEligibilityChanged
from tdu_shared.errors import Rejected
from tdu_shared.kafka import Consumed, Subscription
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import JOURNEYS_COMMANDS, MATCHING_ELIGIBILITY


def eligibility_view(event: Consumed) -> OfferView:
    """What one ``matching.eligibility`` record says of its offer (a tombstone: the offer is gone)."""
    if event.envelope is None:
        record = event.record
        return OfferView(record.key_text or "", False, record.written_at, reasons=("offre supprimée",))
    payload: OfferEligibilityChanged = event.payload
    return translate.offer_view(payload)


async def handle_command(event: Consumed, ports: Ports) -> None:
    command: JourneyCommand = event.payload
    try:
        await handlers.execute(command, ports, causation_id=event.event.event_id)
    except TransitionRefused as exc:
        raise Rejected(f"{exc.reason}; actions possibles : {', '.join(exc.allowed) or 'aucune'}") from None
    except (Refused, NotFound, OfferNotEligible) as exc:
        raise Rejected(str(exc)) from None


def register_consumers(runtime: ServiceRuntime, ports: Ports) -> None:
    async def save_views(events: list[Consumed]) -> None:
        # Stored together: one read and one write command per batch rather than per offer.
        await ports.offers.save_all([eligibility_view(e) for e in events])

    runtime.subscribe(
        Subscription(MATCHING_ELIGIBILITY, batch=save_views, tombstones=True),
        group="eligibility",
        title="matching.eligibility -> offers read model",
        description="OfferEligibilityChanged: which offers accept applications, their employer and sessions.",
    )

    async def run_command(event: Consumed) -> None:
        await handle_command(event, ports)

    runtime.subscribe(
        Subscription(JOURNEYS_COMMANDS, each=run_command),
        group="commands",
        title="journeys.commands",
        description="Journey commands from partner systems (SubmitApplication ... CorrectStep); refusals go "
        "to journeys.commands.dlq with the reason.",
    )

"""Eligibility is published only when the result changes, keyed by offer id, with the basin."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from matching.adapters.memory import CollectingPublisher, InMemoryLedger
from matching.domain.matcher import Matcher
from matching.handlers import MatchingService
from tdu_shared.clock import FixedClock
from tdu_shared.contracts.common import Place, Precision
from tdu_shared.contracts.offers import OfferPublished, OfferState, OfferUpdated, OfferWithdrawn
from tdu_shared.contracts.trainings import Provider, SessionPublished, SessionState, SessionWithdrawn
from tdu_shared.envelope import Envelope, new_envelope
from tdu_shared.outbox import MemoryOutbox, Outbox

TODAY = date(2026, 11, 22)
METZ = (49.1193, 6.1757)


def offer_event(revision: int = 1, *, title: str = "Technicien", lat: float = METZ[0]) -> Envelope[Any]:
    state = OfferState(
        offer_id="O1",
        source="france_travail",
        revision=revision,
        title=title,
        rome_code="M1854",
        contract_type="CDI",
        contract_eligible=True,
        employer_contact_id="emp-1",
        basin="4410",
        place=Place(lat=lat, lon=METZ[1], precision=Precision.EXACT),
        updated_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    payload = OfferPublished(offer=state) if revision == 1 else OfferUpdated(offer=state)
    return new_envelope(payload, producer="offers", region="44", basin="4410")


def session_event(session_id: str = "S1", funders: tuple[str, ...] = ("2",)) -> Envelope[Any]:
    state = SessionState(
        session_id=session_id,
        source="t",
        revision=1,
        formation_id="F",
        action_id="A",
        title="TSSR",
        rome_codes=["M1801"],
        start_date=TODAY + timedelta(days=40),
        place=Place(lat=METZ[0] + 0.1, lon=METZ[1], precision=Precision.EXACT),
        provider=Provider(name="AFPA", contact_id="prov-1"),
        funders=list(funders),
        region_funded="2" in funders,
    )
    return new_envelope(SessionPublished(session=state), producer="trainings", region="44", basin="4410")


def service() -> tuple[MatchingService, CollectingPublisher]:
    publisher = CollectingPublisher()
    matcher = Matcher(lambda basin: 30.0, max_radius_km=30.0)
    return MatchingService(
        matcher, InMemoryLedger(), Outbox(MemoryOutbox(), publisher), FixedClock.as_of(TODAY), region="44"
    ), publisher


async def test_result_is_published_keyed_by_offer_with_its_basin_and_cause() -> None:
    svc, publisher = service()
    await svc.on_session_events([session_event()])
    event = offer_event()
    assert await svc.on_offer_events([event]) == 1
    [sent] = publisher.sent
    assert (sent.key, sent.envelope.basin, sent.envelope.causation_id) == ("O1", "4410", event.event_id)
    payload = sent.envelope.payload
    assert payload.eligible and payload.offer.employer_contact_id == "emp-1"
    assert payload.linked_sessions[0].provider_contact_id == "prov-1"
    assert payload.evaluated_at == FixedClock.as_of(TODAY).now()


async def test_redelivered_event_publishes_nothing() -> None:
    svc, publisher = service()
    event = offer_event()
    await svc.on_offer_events([event])
    assert await svc.on_offer_events([event]) == 0
    assert len(publisher.sent) == 1


async def test_update_that_changes_nothing_matching_shows_publishes_nothing() -> None:
    svc, _publisher = service()
    await svc.on_offer_events([offer_event()])
    assert await svc.on_offer_events([offer_event(2)]) == 0
    assert await svc.on_offer_events([offer_event(3, title="Technicienne")]) == 1


async def test_session_not_funded_by_the_region_changes_nothing() -> None:
    svc, _publisher = service()
    await svc.on_offer_events([offer_event()])
    assert await svc.on_session_events([session_event(funders=("4",))]) == 0


async def test_new_session_then_its_withdrawal_each_publish_a_change() -> None:
    svc, publisher = service()
    await svc.on_offer_events([offer_event()])
    assert await svc.on_session_events([session_event()]) == 1
    gone = SessionWithdrawn(session_id="S1", reason="withdrawn_by_source", withdrawn_at=datetime.now(UTC))
    assert await svc.on_session_events([new_envelope(gone, producer="t", region="44", basin="4410")]) == 1
    verdicts = [o.envelope.payload.eligible for o in publisher.sent]
    assert verdicts == [False, True, False]


async def test_withdrawn_offer_is_published_once_without_its_summary() -> None:
    svc, publisher = service()
    await svc.on_offer_events([offer_event()])
    gone = OfferWithdrawn(offer_id="O1", reason="expired", withdrawn_at=datetime.now(UTC))
    envelope = new_envelope(gone, producer="offers", region="44", basin="4410")
    assert await svc.on_offer_events([envelope]) == 1
    assert await svc.on_offer_events([envelope]) == 0
    last = publisher.sent[-1].envelope.payload
    assert (last.eligible, last.reasons, last.offer) == (False, ["withdrawn"], None)


async def test_withdrawal_of_an_offer_never_published_publishes_nothing() -> None:
    svc, _publisher = service()
    gone = OfferWithdrawn(offer_id="X", reason="expired", withdrawn_at=datetime.now(UTC))
    assert await svc.on_offer_events([new_envelope(gone, producer="offers", region="44", basin="4410")]) == 0


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


async def test_offers_are_re_evaluated_when_the_day_changes_and_started_sessions_drop_out() -> None:
    clock = FixedClock(midnight(TODAY))
    publisher = CollectingPublisher()
    svc = MatchingService(
        Matcher(lambda b: 30.0, 30.0), InMemoryLedger(), Outbox(MemoryOutbox(), publisher), clock, region="44"
    )
    await svc.on_session_events([session_event()])  # starts on day 40
    await svc.on_offer_events([offer_event()])
    assert await svc.on_new_day() == 0
    clock.moment = midnight(TODAY + timedelta(days=10))
    assert await svc.on_new_day() == 0  # still in the window: nothing changed
    clock.moment = midnight(TODAY + timedelta(days=41))
    assert await svc.on_new_day() == 1
    assert publisher.sent[-1].envelope.payload.eligible is False

"""Builders for tests and benchmarks: in-memory ports, an eligible offer, commands."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from journeys.adapters.memory import (
    MemoryContacts,
    MemoryJourneys,
    MemoryOffers,
    MemoryPublisher,
    MemoryTimers,
)
from journeys.handlers import Ports
from tdu_shared.clock import FixedClock
from tdu_shared.contracts.journeys import Role, SubmitApplication
from tdu_shared.contracts.matching import LinkedSession, OfferEligibilityChanged, OfferSummary

SEEKER_ID, EMPLOYER_ID, PROVIDER_ID, OPERATOR_ID, PARTNER_ID = "U1", "E1", "P1", "O1", "X1"
ACTOR_IDS = {
    Role.SEEKER: SEEKER_ID,
    Role.EMPLOYER: EMPLOYER_ID,
    Role.TRAINING_PROVIDER: PROVIDER_ID,
    Role.BASIN_OPERATOR: OPERATOR_ID,
    Role.PARTNER_SYSTEM: PARTNER_ID,
}
BASIN = "4410"
SESSION_START = date(2027, 3, 1)


def memory_ports(now: datetime | None = None) -> tuple[Ports, MemoryPublisher]:
    clock = FixedClock(now or datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    ports = Ports(MemoryJourneys(), MemoryOffers(), MemoryContacts(), MemoryTimers(), clock, "44")
    return ports, MemoryPublisher()


def eligibility(
    offer_id: str = "OFFER-1",
    *,
    eligible: bool = True,
    basin: str = BASIN,
    employer_id: str = EMPLOYER_ID,
    evaluated_at: datetime | None = None,
    rome_code: str | None = None,
    contract_type: str | None = "CDI",
) -> OfferEligibilityChanged:
    offer = OfferSummary(
        offer_id=offer_id,
        title="Soudeur / Soudeuse",
        rome_code=rome_code,
        rome_fiche="H2913",
        contract_type=contract_type,
        employer_contact_id=employer_id,
        commune_name="Metz",
        basin=basin,
    )
    session = LinkedSession(
        session_id="S1",
        title="Titre pro soudeur",
        distance_km=4.2,
        start_date=SESSION_START,
        provider_contact_id=PROVIDER_ID,
        lat=49.12,
        lon=6.17,
    )
    return OfferEligibilityChanged(
        offer_id=offer_id,
        eligible=eligible,
        reasons=[] if eligible else ["aucune session financée"],
        offer=offer,
        linked_sessions=[session] if eligible else [],
        radius_km=30,
        evaluated_at=evaluated_at or datetime(2027, 1, 1, tzinfo=UTC),
    )


def application(command_id: str = "apply-1", offer_id: str = "OFFER-1", **changes: Any) -> SubmitApplication:
    fields: dict[str, Any] = dict(
        command_id=command_id,
        actor_role=Role.SEEKER,
        actor_id=SEEKER_ID,
        offer_id=offer_id,
        seeker_id=SEEKER_ID,
        first_name="Camille",
        last_name="Durand",
        email="camille.durand@example.org",
        phone="0612345678",
        postal_code="57000",
        education_level="3",
        jobseeker_status="cat-A",
        consent_email=True,
        consent_sms=False,
    )
    fields.update(changes)
    return SubmitApplication(**fields)

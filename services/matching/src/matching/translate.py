"""Contracts in and out: offer and session states -> domain values -> OfferEligibilityChanged -> listings."""

from __future__ import annotations

import hashlib
from datetime import datetime

from matching.domain.model import Eligibility, Link, Offer, Session
from matching.domain.rules import roll_up, session_fiches
from matching.domain.search import Listing, SessionCard
from tdu_shared.contracts.matching import LinkedSession, OfferEligibilityChanged, OfferSummary
from tdu_shared.contracts.offers import OfferState
from tdu_shared.contracts.trainings import SessionState
from tdu_shared.rome import rome_referential

WITHDRAWN = "withdrawn"


def offer_of(state: OfferState) -> Offer:
    parents = rome_referential().fiche_of
    fiche = roll_up(state.rome_fiche, parents) or roll_up(state.rome_code, parents)
    place = state.place
    return Offer(
        offer_id=state.offer_id,
        revision=state.revision,
        title=state.title,
        rome_fiche=fiche,
        lat=place.lat,
        lon=place.lon,
        basin=state.basin,
        contract_eligible=state.contract_eligible,
        ineligibility_reason=state.ineligibility_reason,
        rome_code=state.rome_code,
        contract_type=state.contract_type,
        contract_months=state.contract_months,
        employer_name=state.employer_name,
        employer_contact_id=state.employer_contact_id,
        commune_insee=place.commune_insee,
        commune_name=place.commune_name,
        region=state.region,
        url=state.url,
        updated_at=state.updated_at,
    )


def session_of(state: SessionState) -> Session:
    place = state.place
    return Session(
        session_id=state.session_id,
        revision=state.revision,
        title=state.title,
        rome_fiches=session_fiches(state.rome_codes, state.rome_fiches, rome_referential().fiche_of),
        lat=place.lat,
        lon=place.lon,
        start_date=state.start_date,
        region_funded=state.region_funded,
        end_date=state.end_date,
        provider_name=state.provider.name,
        provider_contact_id=state.provider.contact_id,
        commune_name=place.commune_name,
        entry_level=state.entry_level,
        funded_places=state.funded_places,
        basin=state.basin,
    )


def summary_of(offer: Offer) -> OfferSummary:
    return OfferSummary(
        offer_id=offer.offer_id,
        title=offer.title,
        rome_code=offer.rome_code,
        rome_fiche=offer.rome_fiche,
        contract_type=offer.contract_type,
        contract_months=offer.contract_months,
        employer_name=offer.employer_name,
        employer_contact_id=offer.employer_contact_id,
        commune_insee=offer.commune_insee,
        commune_name=offer.commune_name,
        lat=offer.lat,
        lon=offer.lon,
        basin=offer.basin,
        url=offer.url,
        updated_at=offer.updated_at,
    )


def linked_session_of(link: Link) -> LinkedSession:
    s = link.session
    assert s.lat is not None and s.lon is not None  # only located sessions are ever linked
    return LinkedSession(
        session_id=s.session_id,
        title=s.title,
        distance_km=link.distance_km,
        start_date=s.start_date,
        end_date=s.end_date,
        provider_name=s.provider_name,
        provider_contact_id=s.provider_contact_id,
        commune_name=s.commune_name,
        lat=s.lat,
        lon=s.lon,
        entry_level=s.entry_level,
        funded_places=s.funded_places,
    )


def eligibility_changed(result: Eligibility, evaluated_at: datetime) -> OfferEligibilityChanged:
    return OfferEligibilityChanged(
        offer_id=result.offer.offer_id,
        eligible=result.eligible,
        reasons=list(result.reasons),
        offer=summary_of(result.offer),
        linked_sessions=[linked_session_of(link) for link in result.links],
        radius_km=result.radius_km,
        evaluated_at=evaluated_at,
    )


def withdrawal(offer_id: str, radius_km: float, evaluated_at: datetime) -> OfferEligibilityChanged:
    return OfferEligibilityChanged(
        offer_id=offer_id,
        eligible=False,
        reasons=[WITHDRAWN],
        offer=None,
        radius_km=radius_km,
        evaluated_at=evaluated_at,
    )


def fingerprint(payload: OfferEligibilityChanged) -> str:
    """What makes two results the same: everything but the evaluation time."""
    text = payload.model_dump_json(exclude={"evaluated_at"})
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def listing_of(payload: OfferEligibilityChanged) -> Listing | None:
    """The search index's view of an eligible offer; None when it must leave the index."""
    offer = payload.offer
    if not payload.eligible or offer is None or offer.lat is None or offer.lon is None:
        return None
    return Listing(
        offer_id=payload.offer_id,
        lat=offer.lat,
        lon=offer.lon,
        summary=offer.model_dump_json(exclude_none=True).encode(),
        sessions=tuple(card_of(s) for s in payload.linked_sessions),
        rome_code=offer.rome_code,
        rome_fiche=offer.rome_fiche,
        contract_type=offer.contract_type,
    )


def card_of(s: LinkedSession) -> SessionCard:
    return SessionCard(
        session_id=s.session_id,
        title=s.title,
        lat=s.lat,
        lon=s.lon,
        start_date=s.start_date,
        end_date=s.end_date,
        provider_name=s.provider_name,
        provider_contact_id=s.provider_contact_id,
        commune_name=s.commune_name,
        entry_level=s.entry_level,
        funded_places=s.funded_places,
    )


def listing_of_result(result: Eligibility) -> Listing | None:
    """The listing the search index would take from this result's event (bulk loads skip the event)."""
    offer = result.offer
    if not result.eligible or offer.lat is None or offer.lon is None:
        return None
    return Listing(
        offer_id=offer.offer_id,
        lat=offer.lat,
        lon=offer.lon,
        summary=summary_of(offer).model_dump_json(exclude_none=True).encode(),
        sessions=tuple(card_of(linked_session_of(link)) for link in result.links),
        rome_code=offer.rome_code,
        rome_fiche=offer.rome_fiche,
        contract_type=offer.contract_type,
    )

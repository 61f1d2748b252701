"""Matching: which offers come with a region-funded session near the workplace (``matching.eligibility``).

The event carries everything the seeker's search needs, so search replicas rebuild from this topic alone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from pydantic import AwareDatetime, Field

from tdu_shared.contracts.common import Frozen
from tdu_shared.envelope import Payload, register


class OfferSummary(Frozen):
    offer_id: str = Field(description="Offer id.")
    title: str = Field(description="Job title.")
    rome_code: str | None = Field(None, description="ROME code of the offer.")
    rome_fiche: str | None = Field(None, description="ROME 4 fiche of the offer.")
    contract_type: str | None = Field(None, description="CDI, CDD ...")
    contract_months: int | None = Field(None, description="Duration of a CDD in months.")
    employer_name: str | None = Field(None, description="Company name.")
    employer_contact_id: str | None = Field(
        None, description="Opaque id of the employer contact ('contacts')."
    )
    commune_insee: str | None = Field(None, description="INSEE code of the workplace commune.")
    commune_name: str | None = Field(None, description="Workplace commune.")
    lat: float | None = Field(None, ge=-90, le=90, description="Workplace latitude.")
    lon: float | None = Field(None, ge=-180, le=180, description="Workplace longitude.")
    basin: str | None = Field(None, description="Employment basin of the workplace.")
    url: str | None = Field(None, description="Public page of the offer.")
    updated_at: AwareDatetime | None = Field(None, description="Last update at the source.")


class LinkedSession(Frozen):
    session_id: str = Field(description="Session id.")
    title: str = Field(description="Title of the formation.")
    distance_km: float = Field(ge=0, description="Great-circle distance from the workplace, km.")
    start_date: date | None = Field(None, description="First day.")
    end_date: date | None = Field(None, description="Last day.")
    provider_name: str | None = Field(None, description="Training provider.")
    provider_contact_id: str | None = Field(
        None, description="Opaque id of the provider contact ('contacts')."
    )
    commune_name: str | None = Field(None, description="Commune of the session's place.")
    lat: float = Field(ge=-90, le=90, description="Latitude of the session's place.")
    lon: float = Field(ge=-180, le=180, description="Longitude of the session's place.")
    entry_level: str | None = Field(None, description="LHEO code-niveau-entree.")
    funded_places: int | None = Field(None, description="Places funded.")


@register
class OfferEligibilityChanged(Payload):
    """The eligibility of an offer, or the sessions linked to it, changed."""

    event_type: ClassVar[str] = "OfferEligibilityChanged"

    offer_id: str = Field(description="Offer id (also the message key).")
    eligible: bool = Field(description="True when at least one funded session is linked.")
    reasons: list[str] = Field(
        default_factory=list, description="Why the offer is not eligible (empty when eligible)."
    )
    offer: OfferSummary | None = Field(None, description="The offer; null once the offer is withdrawn.")
    linked_sessions: list[LinkedSession] = Field(
        default_factory=list, description="Funded sessions within reach, nearest first."
    )
    radius_km: float = Field(gt=0, description="Radius used for this basin.")
    evaluated_at: datetime = Field(description="Matching clock at evaluation (injectable: 'as of' runs).")

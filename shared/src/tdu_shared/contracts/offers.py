"""Offers: raw submissions in (``offers.submitted``), clean located offers out (``offers.state``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, Field

from tdu_shared.contracts.common import Frozen, Place
from tdu_shared.envelope import Payload, register

OfferSource = Literal["france_travail", "partner", "employer"]


@register
class OfferSubmitted(Payload):
    """A raw offer handed to the offers service, as its source wrote it."""

    event_type: ClassVar[str] = "OfferSubmitted"

    source: OfferSource = Field(
        description="Who sent it: France Travail, a partner system or an employer form."
    )
    partner: str | None = Field(None, description="Partner code, required when source is 'partner'.")
    record: dict[str, Any] = Field(
        description="The record itself: a France Travail 'Offres d'emploi v2' object, or a partner/employer "
        "offer in the offers service's own schema."
    )
    refresh_id: str | None = Field(
        None, description="Id of the full refresh this record belongs to (see OfferRefreshCompleted)."
    )


@register
class OfferRefreshCompleted(Payload):
    """Every record of a full refresh of one scope was submitted.

    Offers of that scope not in the refresh are withdrawn once all its records are processed.
    """

    event_type: ClassVar[str] = "OfferRefreshCompleted"

    refresh_id: str = Field(description="Id carried by every OfferSubmitted of this refresh.")
    source: OfferSource = Field(description="Source refreshed.")
    partner: str | None = Field(None, description="Partner code when source is 'partner'.")
    scope: Literal["departement", "basin"] = Field(description="Kind of area refreshed.")
    scope_code: str = Field(description="Département code (57) or basin code (4410).")
    submitted: int = Field(ge=0, description="Number of OfferSubmitted sent with this refresh_id.")


class OfferState(Frozen):
    """A clean, located offer: what other services may know about it. Never holds personal data."""

    offer_id: str = Field(description="Offer id: the France Travail id, or '<partner>:<id>' for partners.")
    source: OfferSource = Field(description="Where the offer comes from.")
    revision: int = Field(ge=1, description="Incremented each time the stored offer changes.")
    title: str = Field(description="Job title (intitulé).")
    description: str | None = Field(None, description="Job description, at most 10,000 characters.")
    rome_code: str | None = Field(
        None, description="ROME 4 code given by the source (may be a derived code)."
    )
    rome_fiche: str | None = Field(None, description="ROME 4 fiche (parent code) the offer rolls up to.")
    rome_label: str | None = Field(None, description="Label of the ROME code.")
    contract_type: str | None = Field(
        None, description="France Travail contract type: CDI, CDD, MIS, SAI ..."
    )
    contract_label: str | None = Field(
        None, description="Contract as written, e.g. 'Contrat à durée déterminée - 6 Mois'."
    )
    contract_months: int | None = Field(None, description="Duration of a fixed-term contract, in months.")
    contract_nature: str | None = Field(
        None, description="France Travail natureContrat (apprenticeship ...)."
    )
    contract_eligible: bool = Field(
        description="CDI, or CDD of 6 months or more, and not a work-study contract."
    )
    ineligibility_reason: str | None = Field(
        None, description="Why the contract keeps the offer out of matching."
    )
    employer_name: str | None = Field(None, description="Company name, when published.")
    employer_contact_id: str | None = Field(
        None, description="Opaque id of the employer contact (personal data lives on the 'contacts' topic)."
    )
    place: Place = Field(description="Workplace.")
    region: str | None = Field(None, description="INSEE region code of the workplace.")
    basin: str | None = Field(None, description="Employment basin code of the workplace.")
    positions: int | None = Field(None, ge=1, description="Number of positions.")
    url: str | None = Field(None, description="Public page of the offer.")
    created_at: AwareDatetime | None = Field(None, description="Creation date at the source.")
    updated_at: AwareDatetime = Field(description="Last update at the source (dateActualisation).")


@register
class OfferPublished(Payload):
    """A new offer is available."""

    event_type: ClassVar[str] = "OfferPublished"

    offer: OfferState = Field(description="The offer as stored.")


@register
class OfferUpdated(Payload):
    """A newer version of a known offer replaced the stored one."""

    event_type: ClassVar[str] = "OfferUpdated"

    offer: OfferState = Field(description="The offer as stored now.")


@register
class OfferWithdrawn(Payload):
    """An offer is no longer available."""

    event_type: ClassVar[str] = "OfferWithdrawn"

    offer_id: str = Field(description="Id of the withdrawn offer.")
    reason: Literal["missing_from_refresh", "blacklisted", "expired", "withdrawn_by_source"] = Field(
        description="Why it was withdrawn."
    )
    withdrawn_at: datetime = Field(description="When it was withdrawn.")

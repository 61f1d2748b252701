"""The offers service's own schema for partner systems and the employer offer form.

Both map to the same neutral :class:`SourceOffer` as France Travail records do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from offers.domain.model import InvalidRecord, SourceOffer
from tdu_shared.envelope import describe_validation_error

ContractType = Literal["CDI", "CDD", "MIS", "SAI", "LIB", "DDI", "TTI", "DIN"]


class OfferForm(BaseModel):
    """An offer written by an employer (or sent by a partner system) in the service's simple schema."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=2, max_length=300, description="Job title.")
    description: str | None = Field(None, max_length=10_000, description="Job description.")
    rome_code: str | None = Field(None, pattern=r"^[A-Na-n]\d{4}$", description="ROME 4 code (e.g. K2303).")
    contract_type: ContractType = Field(description="France Travail contract type: CDI, CDD, MIS, SAI ...")
    contract_months: int | None = Field(None, ge=0, le=120, description="Duration of a CDD, in months.")
    work_study: Literal["apprenticeship", "professionalisation"] | None = Field(
        None, description="Set when the contract is an apprenticeship or professionalisation contract."
    )
    address: str | None = Field(None, max_length=300, description="Street address of the workplace.")
    postal_code: str | None = Field(None, pattern=r"^\d{5}$", description="Postal code of the workplace.")
    commune_insee: str | None = Field(
        None, pattern=r"^(\d{5}|2[AB]\d{3})$", description="INSEE commune code."
    )
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude (WGS84).")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude (WGS84).")
    employer_name: str | None = Field(None, max_length=200, description="Company name.")
    contact_email: str | None = Field(
        None,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$",
        description="E-mail of the recruiter (personal data).",
    )
    contact_name: str | None = Field(
        None, max_length=200, description="Name of the recruiter (personal data)."
    )
    positions: int | None = Field(None, ge=1, le=1000, description="Number of positions.")
    url: str | None = Field(None, max_length=1000, description="Public page of the offer.")
    updated_at: AwareDatetime | None = Field(None, description="Last change at the source (default: now).")


class PartnerOffer(OfferForm):
    """An offer sent by a partner system: the partner's own id makes it a stable offer."""

    id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="Partner's offer id."
    )


def to_source_offer(form: OfferForm, offer_id: str, source: str, partner: str | None = None) -> SourceOffer:
    label = (
        f"{form.contract_type} - {form.contract_months} Mois" if form.contract_months is not None else None
    )
    nature = {"apprenticeship": "Contrat apprentissage", "professionalisation": "Cont. professionnalisation"}
    return SourceOffer(
        offer_id=offer_id,
        source=source,
        partner=partner,
        title=form.title,
        description=form.description,
        updated_at=form.updated_at or datetime.now(UTC),
        rome_code=form.rome_code.upper() if form.rome_code else None,
        contract_type=form.contract_type,
        contract_label=label,
        contract_nature=nature[form.work_study] if form.work_study else None,
        place_label=form.address,
        address=form.address,
        postal_code=form.postal_code,
        commune_insee=form.commune_insee,
        lat=form.lat,
        lon=form.lon,
        employer_name=form.employer_name,
        contact_email=form.contact_email.lower() if form.contact_email else None,
        contact_name=form.contact_name,
        positions=form.positions,
        url=form.url,
    )


def partner_offer_id(partner: str, offer_id: str) -> str:
    return f"{partner}:{offer_id}"


def parse_partner(record: dict[str, Any], partner: str | None) -> SourceOffer:
    if not partner:
        raise InvalidRecord("partner: the partner code is required for partner offers")
    try:
        form = PartnerOffer.model_validate(record)
    except ValidationError as exc:
        raise InvalidRecord(describe_validation_error(exc)) from None
    return to_source_offer(form, partner_offer_id(partner, form.id), "partner", partner)


def parse_employer(record: dict[str, Any]) -> SourceOffer:
    """Employer forms arrive with the id the HTTP endpoint gave them ('employer:<uuid>')."""
    offer_id = record.get("id")
    if not isinstance(offer_id, str) or not offer_id.startswith("employer:"):
        raise InvalidRecord("id: an employer offer id 'employer:<id>' is required")
    try:
        form = OfferForm.model_validate({k: v for k, v in record.items() if k != "id"})
    except ValidationError as exc:
        raise InvalidRecord(describe_validation_error(exc)) from None
    return to_source_offer(form, offer_id, "employer")

"""Trainings: the region's catalogue of sessions (``trainings.submitted`` in, ``trainings.sessions`` out)."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from tdu_shared.contracts.common import Frozen, Place
from tdu_shared.envelope import Payload, register

REGION_FUNDER_CODE = "2"
"""LHEO dict-financeurs: 2 = Conseil régional. A session with this funder is region-funded."""


class Provider(Frozen):
    siret: str | None = Field(None, description="SIRET of the training provider (14 digits).")
    name: str | None = Field(None, description="Name of the training provider.")
    contact_id: str | None = Field(None, description="Opaque id of the provider's contact on 'contacts'.")


class SessionState(Frozen):
    """One session of a training action, normalised from LHEO or a partner submission."""

    session_id: str = Field(
        description="'<source>:<formation>:<action>:<session>' ids namespaced by catalogue."
    )
    source: str = Field(description="Catalogue source (Carif-Oref export, Intercarif, partner code).")
    revision: int = Field(ge=1, description="Incremented each time the stored session changes.")
    formation_id: str = Field(description="LHEO numero of the formation.")
    action_id: str = Field(description="LHEO numero of the action.")
    title: str = Field(description="Title of the formation (intitule-formation).")
    objective: str | None = Field(None, description="Objective of the formation.")
    rome_codes: list[str] = Field(
        default_factory=list, description="ROME codes given by the catalogue (up to 5)."
    )
    rome_fiches: list[str] = Field(default_factory=list, description="ROME 4 fiches these codes roll up to.")
    formacodes: list[str] = Field(default_factory=list, description="Formacodes.")
    nsf_codes: list[str] = Field(default_factory=list, description="NSF codes.")
    rncp: str | None = Field(None, description="RNCP code of the certification.")
    certifinfo: str | None = Field(None, description="Certif Info code.")
    entry_level: str | None = Field(None, description="LHEO code-niveau-entree.")
    exit_level: str | None = Field(None, description="LHEO code-niveau-sortie.")
    start_date: date | None = Field(None, description="First day; null when the catalogue says unknown.")
    end_date: date | None = Field(None, description="Last day; null when unknown.")
    recruitment_state: str | None = Field(
        None, description="LHEO etat-recrutement (1 open, 2 closed, 3 suspended)."
    )
    place: Place = Field(description="Where the session takes place.")
    region: str | None = Field(None, description="INSEE region code of the place.")
    basin: str | None = Field(None, description="Employment basin code of the place.")
    provider: Provider = Field(description="Training provider responsible for the action.")
    funders: list[str] = Field(default_factory=list, description="LHEO code-financeur of each funder.")
    region_funded: bool = Field(description="True when the Conseil régional (code-financeur 2) funds it.")
    funded_places: int | None = Field(None, ge=0, description="Places funded (nombre-places).")
    hours: int | None = Field(None, ge=0, description="Total hours (duree-indicative / nombre-heures-total).")


@register
class SessionSubmitted(Payload):
    """A session sent by a partner system as JSON rather than in an LHEO file."""

    event_type: ClassVar[str] = "SessionSubmitted"

    source: str = Field(description="Partner or catalogue code; ids are namespaced by it.")
    formation_id: str = Field(description="Partner's formation id.")
    action_id: str = Field(description="Partner's action id.")
    session_number: str = Field(description="Partner's session id.")
    title: str = Field(min_length=1, description="Title of the formation.")
    objective: str | None = Field(None, description="Objective of the formation.")
    rome_codes: list[str] = Field(default_factory=list, max_length=5, description="ROME codes (up to 5).")
    formacodes: list[str] = Field(default_factory=list, description="Formacodes.")
    entry_level: str | None = Field(None, description="LHEO code-niveau-entree.")
    start_date: date | None = Field(None, description="First day.")
    end_date: date | None = Field(None, description="Last day.")
    commune_insee: str | None = Field(None, description="INSEE code of the commune of the place.")
    postal_code: str | None = Field(None, description="Postal code of the place.")
    address: str | None = Field(None, description="Street address.")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude of the place.")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude of the place.")
    provider_siret: str | None = Field(None, description="SIRET of the provider.")
    provider_name: str | None = Field(None, description="Name of the provider.")
    funders: list[str] = Field(default_factory=list, description="LHEO code-financeur of each funder.")
    funded_places: int | None = Field(None, ge=0, description="Places funded.")
    hours: int | None = Field(None, ge=0, description="Total hours.")


@register
class SessionPublished(Payload):
    """A session entered the catalogue."""

    event_type: ClassVar[str] = "SessionPublished"

    session: SessionState = Field(description="The session as stored.")


@register
class SessionUpdated(Payload):
    """A known session changed."""

    event_type: ClassVar[str] = "SessionUpdated"

    session: SessionState = Field(description="The session as stored now.")


@register
class SessionWithdrawn(Payload):
    """A session left the catalogue."""

    event_type: ClassVar[str] = "SessionWithdrawn"

    session_id: str = Field(description="Id of the withdrawn session.")
    reason: Literal["missing_from_snapshot", "withdrawn_by_source"] = Field(
        description="Why it was withdrawn."
    )
    withdrawn_at: datetime = Field(description="When it was withdrawn.")

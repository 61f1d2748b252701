"""Contract and domain, one into the other: a normalised session as the published ``SessionState``, and a
partner's JSON session as the catalogue text it stands for (so one set of rules reads both)."""

from __future__ import annotations

from tdu_shared.contracts.common import Place, Precision
from tdu_shared.contracts.trainings import Provider, SessionState, SessionSubmitted
from trainings.domain.model import RawAddress, RawFunder, RawSession, Session


def to_state(session: Session, revision: int) -> SessionState:
    place = session.place
    return SessionState(
        session_id=session.session_id,
        source=session.source,
        revision=revision,
        formation_id=session.formation_id,
        action_id=session.action_id,
        title=session.title,
        objective=session.objective,
        rome_codes=list(session.rome_codes),
        rome_fiches=list(session.rome_fiches),
        formacodes=list(session.formacodes),
        nsf_codes=list(session.nsf_codes),
        rncp=session.rncp,
        certifinfo=session.certifinfo,
        entry_level=session.entry_level,
        exit_level=session.exit_level,
        start_date=session.start_date,
        end_date=session.end_date,
        recruitment_state=session.recruitment_state,
        place=Place(
            label=place.label,
            address=place.address,
            postal_code=place.postal_code,
            commune_insee=place.commune_insee,
            commune_name=place.commune_name,
            departement=place.departement,
            lat=place.lat,
            lon=place.lon,
            precision=Precision(place.precision.value),
        ),
        region=session.region,
        basin=session.basin,
        provider=Provider(
            siret=session.provider.siret, name=session.provider.name, contact_id=session.provider.contact_id
        ),
        funders=list(session.funders),
        region_funded=session.region_funded,
        funded_places=session.funded_places,
        hours=session.hours,
    )


def raw_of_submitted(payload: SessionSubmitted) -> RawSession:
    """A partner's JSON session read as the catalogue text it stands for, so one set of rules applies."""
    return RawSession(
        formation_id=payload.formation_id,
        action_id=payload.action_id,
        session_number=payload.session_number,
        title=payload.title,
        objective=payload.objective,
        rome_codes=tuple(payload.rome_codes),
        formacodes=tuple(payload.formacodes),
        entry_level=payload.entry_level,
        start=payload.start_date.strftime("%Y%m%d") if payload.start_date else None,
        end=payload.end_date.strftime("%Y%m%d") if payload.end_date else None,
        place=RawAddress(
            lines=(payload.address,) if payload.address else (),
            postal_code=payload.postal_code,
            insee=payload.commune_insee,
            lat=None if payload.lat is None else str(payload.lat),
            lon=None if payload.lon is None else str(payload.lon),
        ),
        provider_siret=payload.provider_siret,
        provider_name=payload.provider_name,
        funders=tuple(RawFunder(code) for code in payload.funders),
        funded_places=None if payload.funded_places is None else str(payload.funded_places),
        hours_total=None if payload.hours is None else str(payload.hours),
    )

"""Contract, domain and stored document, one into the other: the offers service's mapping in one place.

A record (France Travail, partner, employer form) is parsed and normalised into an :class:`Offer`, which
becomes the published :class:`OfferState` and its stored document; a stored document gives back the
event it stands for (to publish again after a crash, same event id) and the summary the version rules
compare. Pure functions: no store, no broker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from offers.domain.contacts import address_key
from offers.domain.france_travail import parse_france_travail
from offers.domain.location import Geography
from offers.domain.model import InvalidRecord, Offer, SourceOffer
from offers.domain.normalise import AddressLookup, normalise
from offers.domain.rome import RomeLookup
from offers.domain.versions import Stored
from offers.ports import Doc
from offers.schema import parse_employer, parse_partner
from tdu_shared.contracts.common import Place, Precision
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.offers import OfferPublished, OfferState, OfferUpdated, OfferWithdrawn
from tdu_shared.envelope import Payload
from tdu_shared.outbox import OutboxItem


@dataclass(frozen=True)
class ContactCard:
    person_id: str
    email: str
    display_name: str | None


@dataclass(frozen=True)
class Prepared:
    offer: Offer
    state: OfferState  # revision 1: the real one is set when the stored version is known
    fingerprint: str
    contact: ContactCard | None


# ---------------------------------------------------------------- records in (pure, used by the dry run)


def parse_source(source: str, record: Any, partner: str | None) -> SourceOffer:
    if source == "france_travail":
        return parse_france_travail(record)
    if not isinstance(record, dict):
        raise InvalidRecord(f"an offer is a JSON object, got {type(record).__name__}")
    if source == "partner":
        return parse_partner(record, partner)
    return parse_employer(record)


def prepare(
    source: str,
    record: Any,
    partner: str | None,
    geo: Geography,
    rome: RomeLookup,
    addresses: AddressLookup | None = None,
) -> Prepared:
    """Parse and normalise one record; raises InvalidRecord with the reason when it can never be an offer."""
    parsed = parse_source(source, record, partner)
    label = record.get("romeLibelle") if isinstance(record, dict) and source == "france_travail" else None
    offer = normalise(parsed, geo, rome, label if isinstance(label, str) else None, addresses)
    contact = None
    if parsed.contact_email:
        # The address's key until the store gives the employer's id (with_person_id).
        contact = ContactCard(address_key(parsed.contact_email), parsed.contact_email, parsed.contact_name)
    state = offer_state(offer, contact.person_id if contact else None, revision=1)
    return Prepared(offer, state, fingerprint_of(state, contact), contact)


def with_person_id(p: Prepared, person_id: str) -> Prepared:
    """The prepared offer with its employer's opaque id in place of the address's key."""
    assert p.contact is not None
    contact = ContactCard(person_id, p.contact.email, p.contact.display_name)
    state = p.state.model_copy(update={"employer_contact_id": person_id})
    return Prepared(p.offer, state, fingerprint_of(state, contact), contact)


def offer_state(offer: Offer, contact_id: str | None, revision: int) -> OfferState:
    src, loc = offer.source, offer.location
    place = Place(
        label=src.place_label,
        address=src.address,
        postal_code=loc.postal_code,
        commune_insee=loc.commune_insee,
        commune_name=loc.commune_name,
        departement=loc.departement,
        lat=loc.lat,
        lon=loc.lon,
        precision=Precision(loc.precision),
        geocoded=loc.geocoded,
    )
    return OfferState(
        offer_id=src.offer_id,
        source=src.source,
        revision=revision,
        title=src.title,
        description=src.description,
        rome_code=offer.rome.code,
        rome_fiche=offer.rome.fiche,
        rome_label=offer.rome.label,
        contract_type=src.contract_type,
        contract_label=src.contract_label,
        contract_months=offer.contract.months,
        contract_nature=src.contract_nature,
        contract_eligible=offer.contract.eligible,
        ineligibility_reason=offer.contract.reason,
        employer_name=src.employer_name,
        employer_contact_id=contact_id,
        place=place,
        region=loc.region,
        basin=loc.basin,
        positions=src.positions,
        url=src.url,
        created_at=src.created_at,
        updated_at=src.updated_at,
    )


def fingerprint_of(state: OfferState, contact: ContactCard | None) -> str:
    text = state.model_dump_json(exclude={"revision"}) + (
        f"|{contact.email}|{contact.display_name}" if contact else ""
    )
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- stored documents


def event_carried_by(kind: str, doc: Doc) -> Payload:
    """The payload of the event of type ``kind`` a stored offer or employer contact document stands for."""
    if kind == ContactUpserted.event_type:
        return ContactUpserted(
            person_id=doc["_id"],
            role="employer",
            display_name=doc.get("display_name"),
            email=doc["email"],
            consent_email=True,
            consent_sms=False,
        )
    if kind == OfferWithdrawn.event_type:
        return OfferWithdrawn(
            offer_id=doc["_id"], reason=doc["withdrawn_reason"], withdrawn_at=doc["withdrawn_at"]
        )
    if kind == OfferPublished.event_type:
        return OfferPublished(offer=OfferState.model_validate(doc["state"]))
    return OfferUpdated(offer=OfferState.model_validate(doc["state"]))


def stored_of(doc: Doc) -> Stored:
    return Stored(doc["revision"], doc["updated_at"], doc["fingerprint"], doc.get("withdrawn_reason"))


def offer_doc(p: Prepared, state: OfferState, refresh_id: str | None, event: OutboxItem) -> Doc:
    return {
        "_id": state.offer_id,
        "event_id": event.event_id,
        "status": "published",
        "withdrawn_reason": None,
        "withdrawn_at": None,
        "revision": state.revision,
        "updated_at": state.updated_at,
        "fingerprint": p.fingerprint,
        "source": state.source,
        "partner": p.offer.source.partner,
        "departement": state.place.departement,
        "basin": state.basin,
        "region": state.region,
        "rome_code": state.rome_code,
        "rome_fiche": state.rome_fiche,
        "contract_eligible": state.contract_eligible,
        "employer_contact_id": state.employer_contact_id,
        "notes": list(p.offer.notes),
        "state": state.model_dump(mode="json"),
        "last_refresh": refresh_id,
    }

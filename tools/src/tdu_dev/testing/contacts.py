"""A person's contact as the journeys service publishes it, for tests and benchmarks of its readers."""

from __future__ import annotations

from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import new_envelope
from tdu_shared.kafka import Outgoing
from tdu_shared.topics import CONTACTS


def contact_upserted(
    person_id: str,
    role: Role,
    email: str,
    *,
    phone: str | None = None,
    display_name: str | None = None,
    consent_sms: bool = False,
) -> Outgoing:
    """ContactUpserted on ``contacts`` (keyed by person id, Metz basin), e-mail consent given."""
    payload = ContactUpserted(
        person_id=person_id,
        role=role,
        display_name=display_name,
        email=email,
        phone=phone,
        consent_email=True,
        consent_sms=consent_sms,
    )
    envelope = new_envelope(payload, producer="journeys", region="44", basin="4410")
    return Outgoing(CONTACTS, person_id, envelope)

"""Contacts: personal data, on the compacted ``contacts`` topic keyed by person id.

A tombstone (null value) for a person id erases that person everywhere.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import Payload, register
from tdu_shared.upcasting import upcaster


class _ContactFields(Payload):
    person_id: str = Field(description="Opaque id of the person (also the message key).")
    role: Role = Field(description="Seeker, employer, training provider or basin operator.")
    display_name: str | None = Field(None, max_length=200, description="Name to greet the person with.")
    email: str | None = Field(None, max_length=254, description="E-mail address.")
    phone: str | None = Field(None, max_length=20, description="Mobile phone number.")


@register
class ContactUpsertedV1(_ContactFields):
    """First version: one consent for every channel. Read as v2 through ``upcast_contact_v1_v2``."""

    event_type: ClassVar[str] = "ContactUpserted"
    event_version: ClassVar[int] = 1

    consent: bool = Field(description="Agrees to be contacted (any channel).")


@register
class ContactUpserted(_ContactFields):
    """A person's contact details and consent, per channel."""

    event_type: ClassVar[str] = "ContactUpserted"
    event_version: ClassVar[int] = 2

    consent_email: bool = Field(description="Agrees to be contacted by e-mail.")
    consent_sms: bool = Field(description="Agrees to be contacted by SMS.")


@upcaster("ContactUpserted", from_version=1)
def upcast_contact_v1_v2(envelope: dict[str, Any]) -> dict[str, Any]:
    """v1 had one consent for every channel: it becomes the consent for e-mail and for SMS."""
    payload = dict(envelope["payload"])
    consent = payload.pop("consent")
    payload["consent_email"] = consent
    payload["consent_sms"] = consent
    return {**envelope, "payload": payload}

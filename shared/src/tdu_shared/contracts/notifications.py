"""Notifications: the outcome of every delivery (``notifications.deliveries``)."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import Payload, register


@register
class DeliveryRecorded(Payload):
    """What became of one message to one recipient on one channel."""

    event_type: ClassVar[str] = "DeliveryRecorded"

    delivery_id: str = Field(description="Key derived from (event_id, recipient, channel, template).")
    event_id: UUID = Field(description="Journey event that caused the message.")
    journey_id: str | None = Field(None, description="Journey concerned.")
    recipient_id: str = Field(description="Opaque id of the recipient.")
    recipient_role: Role = Field(description="Role of the recipient.")
    channel: Literal["email", "sms"] = Field(description="Channel.")
    template: str = Field(description="Template name.")
    status: Literal["sent", "failed", "skipped", "deferred"] = Field(description="Outcome.")
    reason: str | None = Field(None, description="Why it failed, was skipped or deferred.")
    attempts: int = Field(ge=0, description="Provider calls made.")
    provider_message_id: str | None = Field(None, description="Id given by the SMTP relay or SMS provider.")

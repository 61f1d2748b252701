"""Use cases: store the messages an event calls for, deliver what is due, keep contacts and opt-outs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from opentelemetry.trace import SpanKind

from notifications.domain import policy
from notifications.domain.links import read_unsubscribe_token, unsubscribe_token
from notifications.domain.model import Audience, Channel, Contact, Delivery, JourneyFacts, Status
from notifications.domain.policy import Decision, Defer, Fail, Rules, Send, Skip
from notifications.domain.routing import plan
from notifications.domain.sms import split_sms
from notifications.ports import (
    ContactStore,
    DeliveryStore,
    EmailMessage,
    EmailSender,
    Outcome,
    PermanentFailure,
    PublishedStatus,
    Renderer,
    SmsSender,
    TransientFailure,
)
from notifications.translate import report_item
from tdu_shared import outbox
from tdu_shared.clock import Clock
from tdu_shared.outbox import ItemPublisher, OutboxItem
from tdu_shared.tracing import TRACE_ID_HEADER, span_from, trace_id_of

log = structlog.get_logger(__name__)

STOP_WORDS = {"STOP", "STOP SMS", "ARRET", "ARRÊT", "DESINSCRIPTION"}


# ---------------------------------------------------------------- journey events in


async def record_planned(
    events: Sequence[JourneyFacts], deliveries: DeliveryStore, clock: Clock
) -> list[Delivery]:
    """Store every message the events call for (pending, due now); the new ones back.
    A replayed event adds nothing."""
    now = clock.now()
    planned = [
        Delivery(m.key, facts, m.recipient_id, m.audience, m.channel, m.template, Status.PENDING, 0, now, now)
        for facts in events
        for m in plan(facts)
    ]
    new = set(await deliveries.add(planned)) if planned else set()
    return [d for d in planned if d.key in new]


# ---------------------------------------------------------------- delivering


@dataclass(frozen=True)
class Links:
    frontend_base_url: str
    public_base_url: str
    secret: str
    mail_domain: str

    def journey(self, audience: Audience, journey_id: str) -> str:
        section = {
            Audience.SEEKER: "parcours",
            Audience.EMPLOYER: "employeur/parcours",
            Audience.TRAINING_PROVIDER: "organisme/parcours",
            Audience.BASIN_OPERATOR: "operateur/parcours",
        }[audience]
        return f"{self.frontend_base_url.rstrip('/')}/{section}/{journey_id}"

    def unsubscribe(self, person_id: str, channel: Channel) -> str:
        """The one-click address mail clients post to (List-Unsubscribe)."""
        token = unsubscribe_token(person_id, channel, self.secret)
        return f"{self.public_base_url.rstrip('/')}/unsubscribe?token={token}"

    def unsubscribe_page(self, person_id: str, channel: Channel) -> str:
        """The page a person opens from the message's own link (confirms, then says it is done)."""
        token = unsubscribe_token(person_id, channel, self.secret)
        return f"{self.frontend_base_url.rstrip('/')}/desinscription?jeton={token}"


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 5
    base_s: float = 2.0
    max_s: float = 600.0


@dataclass(frozen=True)
class Report:
    """An outcome to report, as the shared relay reads it."""

    outcome: Outcome

    @property
    def items(self) -> list[OutboxItem]:
        return [report_item(self.outcome)]


@dataclass
class UnreportedOutcomes:
    """Outcomes stored with their deliveries and not reported yet: the deliveries' outbox, as the shared
    relay reads it (an outcome and the delivery's state land in one write)."""

    deliveries: DeliveryStore

    async def claim(self, limit: int, lease_s: float, mine: Sequence[str] = ()) -> list[Report]:
        return [Report(o) for o in await self.deliveries.unreported(limit)]

    async def done(self, claimed: Sequence[Report]) -> None:
        await self.deliveries.mark_reported([r.outcome.report_key for r in claimed])


@dataclass
class Dispatcher:
    """Everything delivering needs; :meth:`run_once` delivers one batch of due messages."""

    deliveries: DeliveryStore
    contacts: ContactStore
    operators: Mapping[str, Contact]
    email: EmailSender
    sms: SmsSender
    renderer: Renderer
    publisher: ItemPublisher
    clock: Clock
    rules: Rules
    links: Links
    retry: Retry
    lease: timedelta = timedelta(seconds=60)
    batch_size: int = 64
    concurrency: int = 16

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    async def run_once(self, fresh: Sequence[Delivery] = ()) -> int:
        """Claim due deliveries (``fresh`` ones just stored, else those the store finds due), decide, send,
        record, publish. Returns how many were claimed."""
        now = self.clock.now()
        if fresh:
            claimed = await self.deliveries.claim_these(fresh, now + self.lease)
        else:
            claimed = await self.deliveries.claim(now, now + self.lease, self.batch_size)
        if not claimed:
            return 0
        recipients = sorted({d.recipient_id for d in claimed})
        day = policy.local_day(now, self.rules)
        stored, sent = await asyncio.gather(
            self.contacts.get_many(recipients), self.deliveries.sent_on(recipients, day)
        )
        contacts = self._with_operators(stored, recipients)
        counts = dict(sent)
        outcomes: list[Outcome] = []
        sending = []
        for delivery in claimed:
            contact = contacts.get(delivery.recipient_id)
            decision = policy.decide(delivery, contact, now, counts.get(delivery.recipient_id, 0), self.rules)
            if isinstance(decision, Send) and contact is not None:
                counts[delivery.recipient_id] = counts.get(delivery.recipient_id, 0) + 1
                sending.append(self._deliver_in_slot(delivery, contact, decision.address, day))
            else:
                outcomes.append(outcome_of_decision(delivery, decision))
        outcomes.extend(await asyncio.gather(*sending))
        await self.deliveries.record(outcomes)
        await self._report([o for o in outcomes if o.published])
        await self._wake_if_arrived([o for o in outcomes if o.reason == policy.WAITING_FOR_CONTACT])
        return len(claimed)

    async def _wake_if_arrived(self, waiting: Sequence[Outcome]) -> None:
        """A contact that arrived while its messages were being decided found them not yet noted as
        waiting: now that they are, look again (the contacts consumer stores the contact, then looks for
        waiting messages; this looks for the contact after noting them: one of the two sees the other)."""
        people = sorted({o.delivery.recipient_id for o in waiting if o.status is Status.PENDING})
        if people:
            arrived = [p for p, c in (await self.contacts.get_many(people)).items() if c.known]
            if arrived:
                await self.deliveries.wake_many(arrived, self.clock.now())

    async def report_unreported(self, limit: int = 500) -> int:
        """Publish outcomes recorded but not yet published (the process died in between)."""
        return (await outbox.relay_once(UnreportedOutcomes(self.deliveries), self.publisher, limit=limit))[1]

    async def _report(self, outcomes: Sequence[Outcome]) -> None:
        if outcomes:
            await self.publisher.publish([report_item(o) for o in outcomes])
            await self.deliveries.mark_reported([o.report_key for o in outcomes])

    async def _deliver_in_slot(self, delivery: Delivery, contact: Contact, address: str, day: str) -> Outcome:
        async with self._slots:
            return await self._deliver(delivery, contact, address, day)

    def _with_operators(self, stored: dict[str, Contact], ids: Sequence[str]) -> dict[str, Contact]:
        merged = {person_id: c for person_id, c in stored.items() if c.known}
        for person_id in ids:
            operator = self.operators.get(person_id)
            if operator is not None:
                saved = stored.get(person_id)
                merged[person_id] = replace(
                    operator,
                    opted_out_email=bool(saved and saved.opted_out_email),
                    opted_out_sms=bool(saved and saved.opted_out_sms),
                )
        return merged

    async def _deliver(self, delivery: Delivery, contact: Contact, address: str, day: str) -> Outcome:
        with span_from(
            f"send {delivery.channel.value}",
            delivery.facts.traceparent,
            SpanKind.CLIENT,
            template=delivery.template,
        ):
            return await self._attempt(delivery, contact, address, day)

    async def _attempt(self, delivery: Delivery, contact: Contact, address: str, day: str) -> Outcome:
        context = self.context(delivery, contact)
        attempts = delivery.attempts + 1
        parts_sent = delivery.parts_sent
        try:
            if delivery.channel is Channel.EMAIL:
                provider_id = await self.email.send(self.email_message(delivery, context, address))
            else:
                provider_id, parts_sent = await self._send_sms(delivery, context, address)
        except PermanentFailure as exc:
            return Outcome(delivery, Status.FAILED, "failed", str(exc), attempts, parts_sent=parts_sent)
        except TransientFailure as exc:
            return self._retry_or_fail(delivery, str(exc), attempts, parts_sent)
        except Exception as exc:  # a template or rendering bug: recorded, never retried in a loop
            log.exception("delivery failed", key=delivery.key, template=delivery.template)
            return Outcome(delivery, Status.FAILED, "failed", f"cannot build the message: {exc!r}", attempts)
        sent = Outcome(
            delivery,
            Status.SENT,
            "sent",
            None,
            attempts,
            provider_message_id=provider_id,
            parts_sent=parts_sent,
            sent_day=day,
        )
        # at once, not with the batch: a crash now leaves no doubt whether this one went
        await self.deliveries.record_sent(sent)
        return sent

    def _retry_or_fail(self, delivery: Delivery, reason: str, attempts: int, parts_sent: int) -> Outcome:
        if attempts >= self.retry.max_attempts:
            return Outcome(
                delivery,
                Status.FAILED,
                "failed",
                f"{reason} (after {attempts} attempts)",
                attempts,
                parts_sent=parts_sent,
            )
        due = self.clock.now() + policy.retry_delay(attempts, self.retry.base_s, self.retry.max_s)
        return Outcome(delivery, Status.PENDING, None, reason, attempts, due_at=due, parts_sent=parts_sent)

    async def _send_sms(self, delivery: Delivery, context: dict[str, Any], address: str) -> tuple[str, int]:
        parts = split_sms(self.renderer.sms(delivery.template, context))
        done = delivery.parts_sent
        if delivery.was_in_flight:  # the last attempt may have reached the provider: ask it
            done = max(done, await self.sms.accepted_with_tag(delivery.key))
        provider_id = ""
        phone = policy.normalise_phone(address)
        for index in range(done, len(parts)):
            try:
                provider_id = await self.sms.send(phone, parts[index], delivery.key)
            except (PermanentFailure, TransientFailure) as exc:
                raise type(exc)(f"{exc} (part {index + 1}/{len(parts)})") from exc
            done = index + 1
        return provider_id or "already accepted", done

    def context(self, delivery: Delivery, contact: Contact) -> dict[str, Any]:
        facts = delivery.facts
        return {
            **facts.fields,
            "event_type": facts.event_type,
            "reminder_kind": facts.reminder_kind,
            "journey_id": facts.journey_id,
            "basin": facts.basin,
            "audience": delivery.audience.value,
            "recipient_name": contact.display_name,
            "journey_url": self.links.journey(delivery.audience, facts.journey_id),
            "unsubscribe_url": self.links.unsubscribe_page(delivery.recipient_id, delivery.channel),
        }

    def email_message(self, delivery: Delivery, context: dict[str, Any], address: str) -> EmailMessage:
        rendered = self.renderer.email(delivery.template, context)
        unsubscribe = self.links.unsubscribe(delivery.recipient_id, delivery.channel)
        return EmailMessage(
            # derived from the delivery key: a resend after a crash carries the same id, so a relay can dedupe
            message_id=f"<{delivery.key}@{self.links.mail_domain}>",
            to=address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "X-Delivery-Key": delivery.key,
                **({TRACE_ID_HEADER: trace} if (trace := trace_id_of(delivery.facts.traceparent)) else {}),
            },
        )


def outcome_of_decision(delivery: Delivery, decision: Decision) -> Outcome:
    if isinstance(decision, Defer):
        # said once per reason: a delivery waiting for the same thing again is not news
        news = decision.reason != delivery.deferred_reason
        published: PublishedStatus | None = "deferred" if news else None
        return Outcome(
            delivery,
            Status.PENDING,
            published,
            decision.reason,
            delivery.attempts,
            due_at=decision.until,
            parts_sent=delivery.parts_sent,
        )
    if isinstance(decision, Skip):
        return Outcome(delivery, Status.SKIPPED, "skipped", decision.reason, delivery.attempts)
    if isinstance(decision, Fail):
        return Outcome(delivery, Status.FAILED, "failed", decision.reason, delivery.attempts)
    raise ValueError(f"not an outcome: {decision!r}")


# ---------------------------------------------------------------- contacts, opt-outs, erasure


async def on_contact_upserted(
    contact: Contact, as_of: datetime, contacts: ContactStore, deliveries: DeliveryStore, clock: Clock
) -> int:
    """Store the contact and release the messages that waited for it. How many were released."""
    await contacts.upsert(contact, as_of)
    return await deliveries.wake(contact.person_id, clock.now())


async def on_contacts_upserted(
    contacts: Sequence[tuple[Contact, datetime]], store: ContactStore, deliveries: DeliveryStore, clock: Clock
) -> int:
    """A batch of contacts: stored together, then the messages that waited for any of them released."""
    await store.upsert_many(contacts)
    return await deliveries.wake_many(sorted({c.person_id for c, _ in contacts}), clock.now())


async def on_contact_erased(
    person_id: str, erased_at: datetime, contacts: ContactStore, deliveries: DeliveryStore
) -> None:
    """Erasure: the contact, its opt-outs and every delivery to the person are deleted; a contact update
    dated before ``erased_at`` that comes later is left out."""
    await contacts.erase(person_id, erased_at)
    await deliveries.erase_recipient(person_id)


async def unsubscribe(token: str, secret: str, contacts: ContactStore) -> tuple[str, Channel] | None:
    """Opt the person a valid token names out of its channel; None for a forged or broken token."""
    named = read_unsubscribe_token(token, secret)
    if named is not None:
        await contacts.opt_out(*named)
    return named


async def on_inbound_sms(sender: str, content: str, contacts: ContactStore) -> list[str]:
    """STOP (or ARRET) from a phone opts every contact with that number out of SMS."""
    if " ".join(content.split()).upper() not in STOP_WORDS:
        return []
    return await contacts.opt_out_phone(policy.normalise_phone(sender))

"""Whether, and when, a delivery may go: contact known, consent, opt-out, address, quiet hours, daily cap."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.domain.model import Audience, Channel, Contact, Delivery

EMAIL_PATTERN = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
PHONE_PATTERN = re.compile(r"^\+?[0-9]{8,15}$")
WAITING_FOR_CONTACT = "waiting for the contact"
"""Reason of a deferral until the recipient's contact arrives (on ``contacts``)."""


@dataclass(frozen=True)
class Rules:
    timezone: ZoneInfo
    quiet_start: time
    quiet_end: time
    daily_cap: int
    contact_wait: timedelta
    contact_retry: timedelta


@dataclass(frozen=True)
class Send:
    address: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Fail:
    reason: str


Decision = Send | Defer | Skip | Fail


def decide(
    delivery: Delivery, contact: Contact | None, now: datetime, sent_today: int, rules: Rules
) -> Decision:
    """What to do with a delivery now. ``sent_today``: messages already sent to the recipient this day."""
    if contact is None:
        return _without_contact(delivery, now, rules)
    if not contact.consents_to(delivery.channel):
        opted_out = contact.opted_out_email if delivery.channel is Channel.EMAIL else contact.opted_out_sms
        return Skip(f"opted out of {delivery.channel}" if opted_out else f"no consent for {delivery.channel}")
    address = contact.address(delivery.channel)
    if not address:
        return Skip(f"no {'e-mail address' if delivery.channel is Channel.EMAIL else 'phone number'}")
    if not valid_address(delivery.channel, address):
        return Fail(f"invalid {'e-mail address' if delivery.channel is Channel.EMAIL else 'phone number'}")
    if delivery.channel is Channel.SMS:
        resume = end_of_quiet_hours(now, rules)
        if resume is not None:
            return Defer(resume, "quiet hours (no SMS between 21:00 and 08:00)")
    if delivery.audience is not Audience.BASIN_OPERATOR and sent_today >= rules.daily_cap:
        return Skip(f"daily cap of {rules.daily_cap} messages reached")
    return Send(address)


def _without_contact(delivery: Delivery, now: datetime, rules: Rules) -> Decision:
    if delivery.audience is Audience.BASIN_OPERATOR:
        return Skip(f"no operator configured for basin {delivery.facts.basin}")
    if now - delivery.created_at >= rules.contact_wait:
        return Skip("contact unknown (never received on 'contacts')")
    return Defer(now + rules.contact_retry, WAITING_FOR_CONTACT)


def valid_address(channel: Channel, address: str) -> bool:
    if channel is Channel.EMAIL:
        return bool(EMAIL_PATTERN.match(address))
    return bool(PHONE_PATTERN.match(normalise_phone(address)))


def normalise_phone(phone: str) -> str:
    """'06 12 34 56 78' -> '+33612345678'; other numbers lose their spaces, dots and dashes."""
    digits = re.sub(r"[\s.\-()]", "", phone)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if re.fullmatch(r"0[1-9][0-9]{8}", digits):
        digits = "+33" + digits[1:]
    return digits


def end_of_quiet_hours(now: datetime, rules: Rules) -> datetime | None:
    """None when an SMS may go now; else the moment quiet hours end (local time of the rules)."""
    local = now.astimezone(rules.timezone)
    start, end = rules.quiet_start, rules.quiet_end
    t = local.time()
    quiet = (t >= start or t < end) if start > end else (start <= t < end)
    if not quiet:
        return None
    resume_day = local.date() + timedelta(days=1) if start > end and t >= start else local.date()
    return datetime.combine(resume_day, end, tzinfo=rules.timezone)


def local_day(now: datetime, rules: Rules) -> str:
    return now.astimezone(rules.timezone).date().isoformat()


def retry_delay(attempts: int, base_s: float, max_s: float) -> timedelta:
    """Exponential backoff: base, 2 x base, 4 x base ... capped."""
    return timedelta(seconds=min(max_s, base_s * 2 ** max(0, attempts - 1)))

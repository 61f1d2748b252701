"""The routing table and the delivery rules (pure domain)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.domain.links import read_unsubscribe_token, unsubscribe_token
from notifications.domain.model import (
    Audience,
    Channel,
    Contact,
    Delivery,
    JourneyFacts,
    Status,
    delivery_key,
)
from notifications.domain.policy import (
    Defer,
    Fail,
    Rules,
    Send,
    Skip,
    decide,
    end_of_quiet_hours,
    retry_delay,
)
from notifications.domain.routing import plan
from notifications.domain.sms import septets, split_sms, to_gsm7
from tdu_shared.contracts.journeys import ReminderKind
from tdu_shared.topics import JOURNEYS_EVENTS

PARIS = ZoneInfo("Europe/Paris")
RULES = Rules(
    PARIS,
    time(21),
    time(8),
    daily_cap=3,
    contact_wait=timedelta(hours=24),
    contact_retry=timedelta(minutes=5),
)
NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # 12:00 in Paris


def facts(
    event_type: str = "ApplicationSubmitted",
    *,
    employer: str | None = "E1",
    provider: str | None = None,
    kind: str | None = None,
    basin: str | None = "4410",
) -> JourneyFacts:
    return JourneyFacts(
        "5d6f3c1e-0000-4000-8000-000000000001",
        event_type,
        NOON,
        "44",
        basin,
        "J1",
        "S1",
        employer,
        provider,
        kind,
        {},
    )


def contact(**overrides: object) -> Contact:
    values: dict[str, object] = dict(
        person_id="S1",
        role="seeker",
        display_name="Camille",
        email="camille@example.org",
        phone="06 12 34 56 78",
        consent_email=True,
        consent_sms=True,
    )
    values.update(overrides)
    return Contact(**values)  # type: ignore[arg-type]


def delivery(
    channel: Channel = Channel.EMAIL, audience: Audience = Audience.SEEKER, created_at: datetime = NOON
) -> Delivery:
    return Delivery(
        "k",
        facts(),
        "S1",
        audience,
        channel,
        "candidature_envoyee",
        Status.SENDING,
        0,
        created_at,
        created_at,
    )


def test_every_journey_event_type_tells_someone() -> None:
    for event_type in JOURNEYS_EVENTS.event_types:
        if event_type == "JourneyReminderDue":
            continue
        assert plan(facts(event_type, provider="P1")), event_type


def test_every_reminder_kind_tells_someone() -> None:
    for kind in ReminderKind:
        assert plan(facts("JourneyReminderDue", provider="P1", kind=kind.value)), kind


def test_application_submitted_tells_seeker_and_employer_by_email_and_sms() -> None:
    planned = {(m.audience, m.channel, m.template) for m in plan(facts())}
    assert planned == {
        (Audience.SEEKER, Channel.EMAIL, "candidature_envoyee"),
        (Audience.SEEKER, Channel.SMS, "candidature_envoyee"),
        (Audience.EMPLOYER, Channel.EMAIL, "nouvelle_candidature"),
        (Audience.EMPLOYER, Channel.SMS, "nouvelle_candidature"),
    }


def test_a_journey_without_employer_contact_tells_only_the_seeker() -> None:
    assert {m.audience for m in plan(facts(employer=None))} == {Audience.SEEKER}


def test_idle_journey_alert_goes_to_the_basin_operator() -> None:
    [email, sms] = plan(facts("JourneyReminderDue", kind="journey_idle_14d"))
    assert (email.recipient_id, email.channel, sms.channel) == ("operator:4410", Channel.EMAIL, Channel.SMS)


def test_delivery_key_is_stable_and_differs_per_channel_and_template() -> None:
    key = delivery_key("e1", "S1", Channel.EMAIL, "t")
    assert key == delivery_key("e1", "S1", Channel.EMAIL, "t")
    assert (
        len(
            {
                key,
                delivery_key("e1", "S1", Channel.SMS, "t"),
                delivery_key("e1", "S1", Channel.EMAIL, "u"),
                delivery_key("e2", "S1", Channel.EMAIL, "t"),
            }
        )
        == 4
    )


def test_consenting_contact_with_address_is_sent_to() -> None:
    assert decide(delivery(), contact(), NOON, 0, RULES) == Send("camille@example.org")


def test_no_consent_for_the_channel_skips() -> None:
    assert decide(delivery(Channel.SMS), contact(consent_sms=False), NOON, 0, RULES) == Skip(
        "no consent for sms"
    )


def test_opted_out_person_is_skipped_even_with_consent() -> None:
    decision = decide(delivery(), contact(opted_out_email=True), NOON, 0, RULES)
    assert decision == Skip("opted out of email")


def test_invalid_email_address_is_a_permanent_failure() -> None:
    assert isinstance(decide(delivery(), contact(email="camille@"), NOON, 0, RULES), Fail)


def test_sms_at_night_is_deferred_to_eight_in_paris() -> None:
    night = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    decision = decide(delivery(Channel.SMS), contact(), night, 0, RULES)
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 3, 11, 8, 0, tzinfo=PARIS)


def test_sms_early_morning_waits_until_eight_the_same_day() -> None:
    early = datetime(2026, 7, 10, 4, 0, tzinfo=UTC)  # 06:00 in Paris (summer time)
    assert end_of_quiet_hours(early, RULES) == datetime(2026, 7, 10, 8, 0, tzinfo=PARIS)


def test_email_at_night_is_not_deferred() -> None:
    night = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
    assert decide(delivery(), contact(), night, 0, RULES) == Send("camille@example.org")


def test_daily_cap_skips_beyond_the_limit_but_not_for_operators() -> None:
    assert decide(delivery(), contact(), NOON, 3, RULES) == Skip("daily cap of 3 messages reached")
    operator = delivery(audience=Audience.BASIN_OPERATOR)
    assert isinstance(decide(operator, contact(), NOON, 30, RULES), Send)


def test_missing_contact_is_deferred_then_skipped_after_the_wait() -> None:
    assert decide(delivery(), None, NOON, 0, RULES) == Defer(
        NOON + timedelta(minutes=5), "waiting for the contact"
    )
    late = NOON + timedelta(hours=25)
    assert decide(delivery(), None, late, 0, RULES) == Skip("contact unknown (never received on 'contacts')")


def test_retry_delay_doubles_and_is_capped() -> None:
    delays = [retry_delay(n, 2, 10).total_seconds() for n in (1, 2, 3, 4)]
    assert delays == [2, 4, 8, 10]


def test_sms_text_is_made_gsm7() -> None:
    assert to_gsm7("Êtes-vous prêt ? Ça commence l’été") == "Etes-vous pret ? Ça commence l'été"


def test_long_sms_is_split_in_numbered_parts_of_at_most_160_septets() -> None:
    parts = split_sms("mot " * 100)
    assert len(parts) == 3
    assert all(septets(p) <= 160 for p in parts)
    assert parts[0].endswith("(1/3)") and parts[2].endswith("(3/3)")


def test_short_sms_stays_whole() -> None:
    assert split_sms("Bonjour   Camille") == ["Bonjour Camille"]


def test_unsubscribe_token_round_trips_and_cannot_be_forged() -> None:
    token = unsubscribe_token("S1", Channel.EMAIL, "secret")
    assert read_unsubscribe_token(token, "secret") == ("S1", Channel.EMAIL)
    assert read_unsubscribe_token(token, "other-secret") is None
    forged = unsubscribe_token("S2", Channel.EMAIL, "guess").split(".")[0] + "." + token.split(".")[1]
    assert read_unsubscribe_token(forged, "secret") is None

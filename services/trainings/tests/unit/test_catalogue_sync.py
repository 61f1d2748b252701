"""A catalogue import is a snapshot of its source (in-memory store and publisher)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tdu_shared.clock import FixedClock
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.trainings import (
    SessionPublished,
    SessionSubmitted,
    SessionUpdated,
    SessionWithdrawn,
)
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka import Outgoing
from tdu_shared.outbox import MemoryItems, MemoryOutbox, Outbox
from tdu_shared.topics import CONTACTS, TRAININGS_SESSIONS
from trainings.adapters.memory import InMemorySessionRepository
from trainings.domain.report import ImportReport
from trainings.handlers import CatalogueSync, on_session_submitted
from trainings.importer import reference, run_import

FIXTURES = Path(__file__).parents[1] / "fixtures"
NOW = datetime(2026, 1, 2, 8, 0, tzinfo=UTC)


class RecordingPublisher(MemoryItems):
    @property
    def sent(self) -> list[Outgoing]:
        return self.events

    def sessions(self) -> list[Outgoing]:
        return [o for o in self.sent if o.spec == TRAININGS_SESSIONS]

    def types(self) -> list[str]:
        return [o.envelope.type for o in self.sessions()]


@pytest.fixture
def repository() -> InMemorySessionRepository:
    return InMemorySessionRepository()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


async def import_(
    data: bytes | str,
    repository: InMemorySessionRepository,
    publisher: RecordingPublisher,
    source: str = "cr",
) -> ImportReport:
    sync = CatalogueSync(repository, Outbox(MemoryOutbox(), publisher), FixedClock(NOW), region="44")
    stream = str(FIXTURES / data) if isinstance(data, str) else io.BytesIO(data)
    return await run_import(stream, source, sync, batch_size=2)


def catalogue(*sessions: tuple[str, str]) -> bytes:
    """An LHEO file of one formation in Metz with the given (session number, start) sessions."""
    xml = "".join(
        f'<session numero="{n}"><periode><debut>{start}</debut><fin>20271231</fin></periode></session>'
        for n, start in sessions
    )
    return (
        '<lheo xmlns="http://www.lheo.org/2.2"><offres><formation numero="F"><intitule-formation>Cariste'
        "</intitule-formation><domaine-formation><code-ROME>N1101</code-ROME></domaine-formation>"
        '<action numero="A"><lieu-de-formation><coordonnees><adresse><ligne>1 rue</ligne>'
        "<codepostal>57000</codepostal><ville>Metz</ville><code-INSEE-commune>57463</code-INSEE-commune>"
        f"</adresse></coordonnees></lieu-de-formation>{xml}<organisme-financeur><code-financeur>2"
        "</code-financeur></organisme-financeur></action></formation></offres></lheo>"
    ).encode()


async def test_first_import_publishes_each_session_keyed_by_id_with_its_basin(repository, publisher) -> None:
    report = await import_(catalogue(("S1", "20260901"), ("S2", "20261001")), repository, publisher)
    assert report.published == 2 and report.complete
    assert publisher.types() == ["SessionPublished", "SessionPublished"]
    first = publisher.sessions()[0]
    assert first.key == "cr:F:A:S1"
    assert first.envelope.basin == "4410" and first.envelope.region == "44"
    assert isinstance(first.envelope.payload, SessionPublished)
    assert first.envelope.payload.session.revision == 1
    assert first.envelope.payload.session.rome_fiches == ["N1101"]


async def test_reimporting_an_unchanged_file_publishes_nothing(repository, publisher) -> None:
    data = catalogue(("S1", "20260901"))
    await import_(data, repository, publisher)
    publisher.items.clear()
    report = await import_(data, repository, publisher)
    assert publisher.sent == []
    assert (report.unchanged, report.published, report.updated, report.withdrawn) == (1, 0, 0, 0)


async def test_a_changed_session_is_updated_at_the_next_revision(repository, publisher) -> None:
    await import_(catalogue(("S1", "20260901")), repository, publisher)
    publisher.items.clear()
    await import_(catalogue(("S1", "20260915")), repository, publisher)
    [event] = publisher.sessions()
    assert isinstance(event.envelope.payload, SessionUpdated)
    assert event.envelope.payload.session.revision == 2
    assert event.envelope.payload.session.start_date == date(2026, 9, 15)


async def test_a_session_missing_from_a_complete_snapshot_is_withdrawn(repository, publisher) -> None:
    await import_(catalogue(("S1", "20260901"), ("S2", "20261001")), repository, publisher)
    publisher.items.clear()
    report = await import_(catalogue(("S1", "20260901")), repository, publisher)
    [event] = publisher.sessions()
    assert isinstance(event.envelope.payload, SessionWithdrawn)
    assert event.key == "cr:F:A:S2" and event.envelope.basin == "4410"
    assert event.envelope.payload.reason == "missing_from_snapshot"
    assert event.envelope.payload.withdrawn_at == NOW
    assert report.withdrawn == 1
    assert await repository.get("cr:F:A:S2") is None


async def test_an_lheo_file_without_sessions_withdraws_the_whole_source(repository, publisher) -> None:
    await import_(catalogue(("S1", "20260901")), repository, publisher)
    publisher.items.clear()
    await import_("empty-offres.xml", repository, publisher)
    assert publisher.types() == ["SessionWithdrawn"]


async def test_a_broken_file_withdraws_nothing(repository, publisher) -> None:
    await import_(catalogue(("S1", "20260901"), ("S2", "20261001")), repository, publisher)
    publisher.items.clear()
    report = await import_(catalogue(("S1", "20260901"))[:-40], repository, publisher)
    assert report.complete is False and report.error_line == 1
    assert publisher.sent == []
    assert len(await repository.active_of_source("cr")) == 2


async def test_snapshots_of_other_sources_are_left_alone(repository, publisher) -> None:
    await import_(catalogue(("S1", "20260901")), repository, publisher, source="cr")
    publisher.items.clear()
    await import_("empty-offres.xml", repository, publisher, source="intercarif")
    assert publisher.sent == []


async def test_a_withdrawn_session_that_comes_back_is_published_again(repository, publisher) -> None:
    await import_(catalogue(("S1", "20260901")), repository, publisher)
    await import_("empty-offres.xml", repository, publisher)
    publisher.items.clear()
    await import_(catalogue(("S1", "20260901")), repository, publisher)
    [event] = publisher.sessions()
    assert isinstance(event.envelope.payload, SessionPublished)
    assert event.envelope.payload.session.revision == 2


async def test_the_same_change_carries_the_same_event_id(publisher) -> None:
    first, second = InMemorySessionRepository(), InMemorySessionRepository()
    await import_(catalogue(("S1", "20260901")), first, publisher)
    await import_(catalogue(("S1", "20260901")), second, publisher)
    a, b = publisher.sessions()
    assert a.envelope.event_id == b.envelope.event_id


async def test_provider_contact_goes_to_contacts_and_its_id_into_the_session(repository, publisher) -> None:
    await import_("dirty-lheo23.xml", repository, publisher)
    contacts = [o for o in publisher.sent if o.spec == CONTACTS]
    [contact] = contacts
    assert isinstance(contact.envelope.payload, ContactUpserted)
    assert contact.key == "provider:12345678900012"
    assert contact.envelope.payload.email == "contact@afpa-metz.example"
    assert contact.envelope.payload.role == "training_provider"
    assert (contact.envelope.payload.consent_email, contact.envelope.payload.consent_sms) == (True, False)
    state = await repository.get("cr:F1:A1:S1")
    assert state is not None and state.provider.contact_id == "provider:12345678900012"


def submitted(**changes: object) -> SessionSubmitted:
    fields: dict[str, object] = {
        "source": "partner-x",
        "formation_id": "F",
        "action_id": "A",
        "session_number": "1",
        "title": "Cariste",
        "rome_codes": ["N1101"],
        "start_date": date(2026, 9, 1),
        "end_date": date(2026, 12, 1),
        "commune_insee": "57463",
        "funders": ["2"],
        "funded_places": 8,
    }
    return SessionSubmitted.model_validate({**fields, **changes})


async def test_a_partner_session_is_published_once_and_a_redelivery_changes_nothing(
    repository, publisher
) -> None:
    sync = CatalogueSync(repository, Outbox(MemoryOutbox(), publisher), FixedClock(NOW), region="44")
    await on_session_submitted(submitted(), reference(), sync)
    await on_session_submitted(submitted(), reference(), sync)
    [event] = publisher.sessions()
    assert event.key == "partner-x:F:A:1"
    session = event.envelope.payload.session
    assert session.region_funded is True and session.basin == "4410" and session.place.precision == "commune"
    assert session.funded_places == 8


async def test_a_partner_session_ending_before_it_starts_is_refused_with_the_reason(
    repository, publisher
) -> None:
    sync = CatalogueSync(repository, Outbox(MemoryOutbox(), publisher), FixedClock(NOW), region="44")
    with pytest.raises(InvalidMessage, match="end_before_start"):
        await on_session_submitted(submitted(end_date=date(2026, 1, 1)), reference(), sync)
    assert publisher.sent == []

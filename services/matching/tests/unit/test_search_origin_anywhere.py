"""Search starts from any commune of France: its INSEE code, its name or its postal code."""

from __future__ import annotations

from collections import defaultdict

import pytest
from fastapi import HTTPException

from matching.api import resolve_origin
from tdu_shared.geo import Commune, commune_table


def one_per_region() -> list[Commune]:
    """The first and the last commune (code order) of every region, overseas included."""
    by_region: dict[str, list[Commune]] = defaultdict(list)
    for commune in commune_table():
        by_region[commune.region].append(commune)
    picked = []
    for region, communes in sorted(by_region.items()):
        if len(region) != 2:  # overseas collectivities (975, 977 ...) are outside the regions
            continue
        communes.sort(key=lambda c: c.insee)
        picked += [communes[0], communes[-1]]
    return picked


SAMPLE = one_per_region()


def test_the_sample_spans_the_18_regions() -> None:
    assert len({c.region for c in SAMPLE}) == 18


@pytest.mark.parametrize("commune", SAMPLE, ids=lambda c: f"{c.region}-{c.insee}")
def test_search_by_insee_code_name_or_postal_code(commune: Commune) -> None:
    expected = (commune.lat, commune.lon, commune.insee, commune.name)
    assert resolve_origin(None, None, commune.insee, None) == expected
    namesakes = commune_table().by_name(commune.name)
    if len(namesakes) == 1:
        assert resolve_origin(None, None, commune.name.lower(), None)[2] == commune.insee
    else:
        with pytest.raises(HTTPException) as refused:
            resolve_origin(None, None, commune.name, None)
        assert refused.value.status_code == 422
    lat, lon, _, _ = resolve_origin(None, None, None, commune.postal_codes[0])
    assert abs(lat - commune.lat) < 1 and abs(lon - commune.lon) < 1


def test_a_former_commune_code_starts_from_the_commune_it_joined() -> None:
    _, _, insee, name = resolve_origin(None, None, "54341", None)  # Mance, now Val de Briey
    assert (insee, name) == ("54099", "Val de Briey")

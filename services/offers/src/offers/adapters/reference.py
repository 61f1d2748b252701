"""The domain's geography and ROME lookups, backed by tdu_shared's offline reference data."""

from __future__ import annotations

from functools import cache

from offers.domain.location import CommuneCentre
from tdu_shared.geo import (
    BasinConfig,
    Commune,
    commune_table,
    distance_km,
    load_basins,
    region_of_departement,
)
from tdu_shared.rome import rome_referential

NEAR_COMMUNE_KM = 15.0


def _centre(c: Commune) -> CommuneCentre:
    return CommuneCentre(c.insee, c.name, c.lat, c.lon)


class RegionGeography:
    """Communes, postal codes and basins of one region (Grand Est unless a basins file is given)."""

    def __init__(self, basins: BasinConfig) -> None:
        self.basins = basins
        self.region = basins.region
        self._communes = commune_table()
        self._all: list[Commune] = list(self._communes)
        self._regions: dict[str, str] = region_of_departement()

    def commune(self, insee: str) -> CommuneCentre | None:
        found = self._communes.by_insee(insee)
        return _centre(found) if found else None

    def communes_of_postal_code(self, postal_code: str) -> list[CommuneCentre]:
        seen: dict[str, CommuneCentre] = {}
        for c in self._communes.by_postal_code(postal_code):
            seen.setdefault(c.insee, _centre(c))
        return list(seen.values())

    def region_of_departement(self, departement: str) -> str | None:
        return self._regions.get(departement)

    def departement_near(self, lat: float, lon: float) -> str | None:
        """Département of the nearest known commune within 15 km (coordinates without any code)."""
        best = min(self._all, key=lambda c: (c.lat - lat) ** 2 + (c.lon - lon) ** 2, default=None)
        if best is None or distance_km(lat, lon, best.lat, best.lon) > NEAR_COMMUNE_KM:
            return None
        return str(best.insee[:2])

    def basin_of(self, lat: float, lon: float, commune_insee: str | None) -> str | None:
        basin = self.basins.basin_of(lat, lon, commune_insee)
        return basin.code if basin else None


class RomeReference:
    def __init__(self) -> None:
        self._referential = rome_referential()

    def fiche_and_label(self, code: str) -> tuple[str, str] | None:
        known = self._referential.get(code)
        return (known.fiche, known.label) if known else None


@cache
def default_geography(basins_file: str | None = None) -> RegionGeography:
    return RegionGeography(load_basins(basins_file))

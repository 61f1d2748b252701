"""The domain's geography and ROME lookups, backed by tdu_shared's offline reference data."""

from __future__ import annotations

import math
from functools import cache

from offers.domain.location import CommuneCentre
from tdu_shared.geo import (
    BasinConfig,
    Commune,
    commune_table,
    departement_of_postal_code,
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
        self._basin_of_commune: dict[str, str | None] = {}
        self._regions: dict[str, str] = region_of_departement()

    def commune(self, insee: str) -> CommuneCentre | None:
        found = self._communes.by_insee(insee)
        return _centre(found) if found else None

    def communes_of_postal_code(self, postal_code: str) -> list[CommuneCentre]:
        """Communes of a postal code, those of the code's own département first (52100 also serves 51)."""
        departement = departement_of_postal_code(postal_code)
        seen: dict[str, CommuneCentre] = {}
        for c in sorted(
            self._communes.by_postal_code(postal_code), key=lambda c: c.departement != departement
        ):
            seen.setdefault(c.insee, _centre(c))
        return list(seen.values())

    def region_of_departement(self, departement: str) -> str | None:
        return self._regions.get(departement)

    def departement_near(self, lat: float, lon: float) -> str | None:
        """Département of the nearest known commune within 15 km (coordinates without any code)."""
        best = min(self._all, key=lambda c: (c.lat - lat) ** 2 + (c.lon - lon) ** 2, default=None)
        if best is None or distance_km(lat, lon, best.lat, best.lon) > NEAR_COMMUNE_KM:
            return None
        return best.departement

    def basin_of(self, lat: float, lon: float, commune_insee: str | None) -> str | None:
        """The basin listing the commune, else the nearest centre; a known commune's answer is kept."""
        commune = self._communes.by_insee(commune_insee) if commune_insee else None
        if commune is None:
            return self._nearest_basin(lat, lon, commune_insee)
        if commune.insee not in self._basin_of_commune:
            self._basin_of_commune[commune.insee] = self._nearest_basin(
                commune.lat, commune.lon, commune.insee
            )
        return self._basin_of_commune[commune.insee]

    def _nearest_basin(self, lat: float, lon: float, commune_insee: str | None) -> str | None:
        listed = next((b for b in self.basins.basins if commune_insee and commune_insee in b.communes), None)
        if listed is not None:
            return listed.code
        if commune_insee and self.region_of_departement(commune_insee[:2]) not in (None, self.region):
            return None
        # Equirectangular distance: the same nearest centre as great-circle at a region's scale, 50x faster.
        scale = math.cos(math.radians(lat)) ** 2
        nearest = min(
            self.basins.basins, key=lambda b: (b.lat - lat) ** 2 + scale * (b.lon - lon) ** 2, default=None
        )
        return nearest.code if nearest else None


class RomeReference:
    def __init__(self) -> None:
        self._referential = rome_referential()

    def fiche_and_label(self, code: str) -> tuple[str, str] | None:
        known = self._referential.get(code)
        return (known.fiche, known.label) if known else None


@cache
def default_geography(basins_file: str | None = None) -> RegionGeography:
    return RegionGeography(load_basins(basins_file))

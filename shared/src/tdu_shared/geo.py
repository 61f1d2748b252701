"""Offline geography: communes, départements and regions, employment basins, distances.

Everything works without network: the commune table (INSEE code, name, centre) ships with the package.
Online geocoding (the national address base through geopy's BANFrance) stays behind a port in the
services that need it and is never required.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml
from geopy.distance import great_circle

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    lat: float
    lon: float
    postal_codes: tuple[str, ...] = ()

    @property
    def departement(self) -> str:
        return departement_of_insee(self.insee)


def departement_of_insee(insee: str) -> str:
    """Département of an INSEE commune code (97x overseas codes take three digits)."""
    return insee[:3] if insee.startswith("97") else insee[:2]


def departement_of_postal_code(postal_code: str) -> str:
    if postal_code.startswith("97"):
        return postal_code[:3]
    if postal_code.startswith("20"):  # Corse: 200xx-201xx Corse-du-Sud, 202xx-206xx Haute-Corse
        return "2A" if postal_code < "20200" else "2B"
    return postal_code[:2]


def normalise_name(name: str) -> str:
    """'Saint-Julien-lès-Metz' and 'ST JULIEN LES METZ' compare equal."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()
    text = re.sub(r"[^A-Z0-9]+", " ", text).strip()
    text = re.sub(r"^ST(E?) ", r"SAINT\1 ", text)
    return re.sub(r" ST(E?) ", r" SAINT\1 ", text)


class CommuneTable:
    def __init__(self, communes: list[Commune]) -> None:
        self._by_insee = {c.insee: c for c in communes}
        by_name: dict[str, list[Commune]] = defaultdict(list)
        by_postal: dict[str, list[Commune]] = defaultdict(list)
        for c in communes:
            by_name[normalise_name(c.name)].append(c)
            for pc in c.postal_codes:
                by_postal[pc].append(c)
        self._by_name = dict(by_name)
        self._by_postal = dict(by_postal)

    def __len__(self) -> int:
        return len(self._by_insee)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_insee.values())

    def by_insee(self, insee: str | None) -> Commune | None:
        return self._by_insee.get(insee.strip()) if insee else None

    def by_name(self, name: str) -> list[Commune]:
        return list(self._by_name.get(normalise_name(name), ()))

    def by_postal_code(self, postal_code: str | None) -> list[Commune]:
        return list(self._by_postal.get(postal_code.strip(), ())) if postal_code else []


def _parse_centre(text: str) -> tuple[float, float]:
    lat, lon = text.split(",")
    return float(lat), float(lon)


@cache
def commune_table() -> CommuneTable:
    data = files("tdu_shared.data")
    raw = json.loads(data.joinpath("communes_grand_est.json").read_text(encoding="utf-8"))
    postal: dict[str, list[str]] = defaultdict(list)
    postal_file = data.joinpath("postal_codes_grand_est.csv")
    if postal_file.is_file():
        for row in csv.DictReader(postal_file.read_text(encoding="utf-8").splitlines()):
            postal[row["code_commune_insee"]].append(row["code_postal"])
    communes: dict[str, Commune] = {}
    for r in raw:  # the source lists a few communes twice: the first entry wins
        if r["codeInsee"] not in communes:
            lat, lon = _parse_centre(r["coordonnees"])
            postal_codes = tuple(sorted(set(postal[r["codeInsee"]])))
            communes[r["codeInsee"]] = Commune(r["codeInsee"], r["nom"], lat, lon, postal_codes)
    return CommuneTable(list(communes.values()))


@cache
def region_of_departement() -> dict[str, str]:
    text = files("tdu_shared.data").joinpath("v_departement_2024.csv").read_text(encoding="utf-8")
    return {row["DEP"]: row["REG"] for row in csv.DictReader(text.splitlines())}


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance: exact enough for radius filters (geodesic only for boundary checks)."""
    return float(great_circle((lat1, lon1), (lat2, lon2)).km)


def valid_coordinates(lat: float | None, lon: float | None) -> bool:
    return (
        lat is not None
        and lon is not None
        and -90 <= lat <= 90
        and -180 <= lon <= 180
        and not (lat == 0 and lon == 0)
    )


# ---------------------------------------------------------------- basins


@dataclass(frozen=True)
class Basin:
    code: str
    name: str
    lat: float
    lon: float
    radius_km: float
    communes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BasinConfig:
    region: str
    region_name: str
    default_radius_km: float
    basins: tuple[Basin, ...]

    def get(self, code: str | None) -> Basin | None:
        return next((b for b in self.basins if b.code == code), None)

    def codes(self) -> list[str]:
        return [b.code for b in self.basins]

    def radius_km(self, basin: str | None) -> float:
        found = self.get(basin)
        return found.radius_km if found else self.default_radius_km

    def basin_of(self, lat: float, lon: float, commune_insee: str | None = None) -> Basin | None:
        """The basin listing the commune, else the one whose centre is nearest. None outside the region."""
        if commune_insee:
            for b in self.basins:
                if commune_insee in b.communes:
                    return b
            if region_of_departement().get(departement_of_insee(commune_insee)) not in (None, self.region):
                return None
        if not self.basins:
            return None
        return min(self.basins, key=lambda b: distance_km(lat, lon, b.lat, b.lon))


def load_basins(path: str | Path | None = None) -> BasinConfig:
    """Basins of a region: the file given (a partner region's), else Grand Est's."""
    if path is None:
        text = files("tdu_shared.data").joinpath("basins_grand_est.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    default_radius = float(doc.get("default_radius_km", 30))
    communes = commune_table()
    basins = []
    for b in doc["basins"]:
        if "centre_commune" in b:
            centre = communes.by_insee(str(b["centre_commune"]))
            if centre is None:
                raise ValueError(f"basin {b['code']}: unknown centre commune {b['centre_commune']}")
            lat, lon = centre.lat, centre.lon
        else:
            lat, lon = float(b["lat"]), float(b["lon"])
        basins.append(
            Basin(
                str(b["code"]),
                b["name"],
                lat,
                lon,
                float(b.get("radius_km", default_radius)),
                frozenset(str(c) for c in b.get("communes", ())),
            )
        )
    return BasinConfig(str(doc["region"]), doc.get("region_name", ""), default_radius, tuple(basins))

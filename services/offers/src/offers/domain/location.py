"""Where an offer is: its coordinates, else its geocoded street address, else its commune's centre, else
its postal code's commune.

A street address is geocoded outside this module (the national address base behind a port, results
cached): ``locate`` receives the result when there is one, and falls back to the commune centre when not.

Offers placed only at "France" or at a département are kept and flagged unlocated. Region and basin
come from the département and the basin configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from offers.domain.model import GeocodedAs, InvalidRecord, Location
from tdu_shared.geo import normalise_name

_DEPARTEMENT_LABEL = re.compile(r"^\s*(97\d|2[AB]|\d{2})\b")


@dataclass(frozen=True)
class CommuneCentre:
    insee: str
    name: str
    lat: float
    lon: float


class Geography(Protocol):
    """What the location rules need to know about the region's communes and basins."""

    region: str

    def commune(self, insee: str) -> CommuneCentre | None: ...

    def communes_of_postal_code(self, postal_code: str) -> list[CommuneCentre]: ...

    def region_of_departement(self, departement: str) -> str | None: ...

    def departement_near(self, lat: float, lon: float) -> str | None: ...

    def basin_of(self, lat: float, lon: float, commune_insee: str | None) -> str | None: ...


@dataclass(frozen=True)
class AddressPoint:
    """Where the national address base put a street address."""

    lat: float
    lon: float
    found: GeocodedAs
    commune_insee: str | None = None
    label: str | None = None


def address_query(address: str, postal_code: str | None, commune_name: str | None) -> str:
    """The text sent to the geocoder: street address, postal code, commune."""
    return " ".join(p for p in (address.strip(), postal_code or "", commune_name or "") if p)


def address_key(address: str, postal_code: str | None, commune_insee: str | None) -> str:
    """Cache key of a street address: normalised text, postal code and commune, so spelling variants meet."""
    return "|".join((normalise_name(address), postal_code or "", commune_insee or ""))


def check_coordinates(lat: float | None, lon: float | None) -> tuple[float, float] | None:
    """Coordinates if usable, None if absent (or the 0,0 placeholder); impossible ones are refused."""
    if lat is None or lon is None:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidRecord(f"impossible coordinates: latitude {lat}, longitude {lon}")
    if lat == 0 and lon == 0:
        return None
    return lat, lon


def departement_of(insee: str | None, postal_code: str | None, label: str | None) -> str | None:
    if insee:
        return insee[:3] if insee.startswith("97") else insee[:2]
    if postal_code and len(postal_code) == 5 and postal_code.isdigit():
        if postal_code.startswith("97"):
            return postal_code[:3]
        if postal_code.startswith("20"):
            return "2A" if postal_code < "20200" else "2B"
        return postal_code[:2]
    found = _DEPARTEMENT_LABEL.match(label or "")
    return found.group(1) if found else None


def locate(
    lat: float | None,
    lon: float | None,
    insee: str | None,
    postal_code: str | None,
    label: str | None,
    geo: Geography,
    address_point: AddressPoint | None = None,
) -> tuple[Location, list[str]]:
    """The offer's location and notes ('unlocated', 'outside_region')."""
    coords = check_coordinates(lat, lon)
    commune = geo.commune(insee) if insee else None
    precision = "exact"
    geocoded: GeocodedAs | None = None
    if coords is None and address_point is not None:
        coords, geocoded = (address_point.lat, address_point.lon), address_point.found
        precision = "commune" if address_point.found == "commune" else "exact"
        if commune is None and address_point.commune_insee:
            commune = geo.commune(address_point.commune_insee)
    if coords is None and commune is not None:
        coords, precision = (commune.lat, commune.lon), "commune"
    if coords is None and commune is None and postal_code:
        candidates = geo.communes_of_postal_code(postal_code)
        if candidates:
            commune = candidates[0]
            coords, precision = (commune.lat, commune.lon), "postal_code"
    departement = departement_of(insee or (commune.insee if commune else None), postal_code, label)
    if departement is None and coords is not None:
        departement = geo.departement_near(*coords)
    region = geo.region_of_departement(departement) if departement else None
    notes: list[str] = []
    basin = None
    if coords is None:
        notes.append("unlocated")
        precision = "unlocated"
    elif region == geo.region:
        basin = geo.basin_of(coords[0], coords[1], commune.insee if commune else insee)
    if region != geo.region:
        notes.append("outside_region")
    location = Location(
        precision=precision,
        lat=coords[0] if coords else None,
        lon=coords[1] if coords else None,
        commune_insee=commune.insee if commune else insee,
        commune_name=commune.name if commune else None,
        postal_code=postal_code,
        departement=departement,
        region=region,
        basin=basin,
        geocoded=geocoded,
    )
    return location, notes

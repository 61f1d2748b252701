"""Value objects used by several contracts."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Precision(StrEnum):
    """How a place was located."""

    EXACT = "exact"
    COMMUNE = "commune"
    POSTAL_CODE = "postal_code"
    UNLOCATED = "unlocated"


class Place(Frozen):
    label: str | None = Field(None, description="Place as written by the source (address or 'NN - COMMUNE').")
    address: str | None = Field(None, description="Street address, when known.")
    postal_code: str | None = Field(None, description="French postal code (5 digits).")
    commune_insee: str | None = Field(None, description="INSEE code of the commune (Metz = 57463).")
    commune_name: str | None = Field(None, description="Name of the commune.")
    departement: str | None = Field(None, description="Département code (57 = Moselle).")
    lat: float | None = Field(
        None, ge=-90, le=90, description="Latitude, WGS84 degrees; null when unlocated."
    )
    lon: float | None = Field(
        None, ge=-180, le=180, description="Longitude, WGS84 degrees; null when unlocated."
    )
    precision: Precision = Field(description="How the coordinates were obtained.")
    geocoded: Literal["address", "street", "commune"] | None = Field(
        None,
        description="When the coordinates come from geocoding the street address (national address base): "
        "found at the house number ('address'), the street ('street') or only the commune ('commune').",
    )

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None

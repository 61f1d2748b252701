"""Settings of the matching service (environment variable = field name in upper case)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from tdu_shared.settings import ServiceSettings

Role = Literal["all", "matcher", "search"]


class Settings(ServiceSettings):
    mongodb_database: str = Field("matching", description="Database owned by this service.")
    http_port: int = Field(8003, description="Port the HTTP API listens on.")
    role: Role = Field(
        "all",
        description="'matcher' evaluates offers and publishes eligibility; 'search' serves the seekers' "
        "search from matching.eligibility only; 'all' does both.",
    )
    window_months: int = Field(12, ge=1, le=36, description="Sessions must start within this many months.")
    as_of: date | None = Field(
        None, description="Run matching as of this day instead of today (tests, replays)."
    )
    instance_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12],
        description="Id of this process; names its private readers of trainings.sessions and "
        "matching.eligibility, which always start from the beginning.",
    )
    max_linked_sessions: int = Field(
        20, ge=1, le=200, description="Sessions linked to one offer at most (the nearest in the window)."
    )
    search_max_radius_km: float = Field(100, gt=0, le=100, description="Largest radius a search may ask.")

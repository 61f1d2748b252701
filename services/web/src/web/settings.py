"""The web service's settings, read from the environment (``HTTP_PORT``, ``JOURNEYS_URL`` ...)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from tdu_shared.settings import ServiceSettings

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""services/web in a checkout (its node_modules hold the design system once ``npm ci`` ran)."""


class Settings(ServiceSettings):
    http_port: int = Field(8000, description="Port the web pages are served on.")
    offers_url: str = Field(
        "http://127.0.0.1:8001", description="Offers service, as this service reaches it."
    )
    trainings_url: str = Field("http://127.0.0.1:8002", description="Trainings service.")
    matching_url: str = Field("http://127.0.0.1:8003", description="Matching service (the search).")
    journeys_url: str = Field("http://127.0.0.1:8004", description="Journeys service.")
    notifications_url: str = Field(
        "http://127.0.0.1:8005", description="Notifications service (sign-in links, operators' sign-in)."
    )
    dsfr_dir: Path = Field(
        PACKAGE_ROOT / "node_modules" / "@gouvfr" / "dsfr" / "dist",
        description="The design system's files (the dist folder of the pinned @gouvfr/dsfr package).",
    )
    secure_cookies: bool = Field(
        False, description="Session cookie only over HTTPS (required in production)."
    )
    backend_timeout_s: float = Field(10.0, gt=0, description="Timeout of each call to another service.")
    access_token_secret: SecretStr | None = Field(  # type: ignore[assignment]
        None,
        description="Not used: the pages hold no signing secret (the services check every session).",
    )
    rate_limit_per_minute: int = Field(
        600, ge=0, description="Requests one client may make per minute (429 with Retry-After beyond)."
    )

    @model_validator(mode="after")
    def _production(self) -> Settings:
        if self.environment == "production" and not self.secure_cookies:
            raise ValueError("SECURE_COOKIES doit valoir true en production (cookie de session sur HTTPS)")
        return self

"""Settings of the offers service (environment variable = field name in upper case)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from tdu_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    mongodb_database: str = Field("offers", description="Database owned by the offers service.")
    http_port: int = Field(8001, description="Port the HTTP API listens on.")
    batch_size: int = Field(1000, ge=1, le=10_000, description="Most records the consumer takes per batch.")
    france_travail_client_id: str | None = Field(None, description="France Travail API client id (OAuth2).")
    france_travail_client_secret: SecretStr | None = Field(
        None, description="France Travail API client secret."
    )
    france_travail_token_url: str = Field(
        "https://entreprise.francetravail.fr/connexion/oauth2/access_token?realm=%2Fpartenaire",
        description="OAuth2 token endpoint of France Travail.",
    )
    france_travail_api_url: str = Field(
        "https://api.francetravail.io/partenaire/offresdemploi/v2",
        description="Base URL of the France Travail 'Offres d'emploi v2' API.",
    )
    france_travail_scope: str = Field("api_offresdemploiv2 o2dsoffre", description="OAuth2 scope requested.")
    france_travail_requests_per_second: float = Field(
        9.0, gt=0, description="Throttle of calls to the France Travail API (its limit is 10/s)."
    )
    geocoder_url: str | None = Field(
        None,
        description="Base URL of the national address base (BAN) API, e.g. https://api-adresse.data.gouv.fr, "
        "to place partner and employer offers at their street address; unset: commune centres only.",
    )
    geocoding_interval_s: float = Field(
        5.0, gt=0, description="Seconds between two passes over the addresses waiting for the geocoder."
    )

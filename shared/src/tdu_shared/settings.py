"""Settings every service shares, read from the environment (pydantic-settings).

Each service subclasses :class:`ServiceSettings` and adds its own fields; the environment variable of a
field is its name in upper case (``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URL``, ``HTTP_PORT`` ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tdu_shared.kafka_auth import KafkaAuth


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    production_secrets: ClassVar[tuple[str, ...]] = ()
    """Secrets that may be left unset in development but must be set in production."""

    environment: Literal["development", "production"] = Field(
        "development",
        description="production: the service refuses to start while a secret is empty or still has its "
        "development default; development allows the demo's defaults.",
    )

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How the service connects to Kafka: SASL_PLAINTEXT or SASL_SSL with SCRAM."
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism."
    )
    kafka_sasl_username: str | None = Field(None, description="The service's Kafka principal (its name).")
    kafka_sasl_password: SecretStr | None = Field(None, description="Its password.")
    mongodb_url: str = Field(
        "mongodb://127.0.0.1:27017/", description="MongoDB (or FerretDB) connection URL."
    )
    mongodb_database: str = Field("traitdunion", description="Database owned by this service.")
    topic_prefix: str = Field(
        "", description="Prefix of every topic name, to run several environments on one Kafka cluster."
    )
    region: str = Field("44", description="INSEE code of the region this instance serves (44 = Grand Est).")
    basins_file: str | None = Field(
        None,
        description="YAML file of the region (basins, partition assignment, operators, quiet hours, targets, "
        "topic prefix); the Grand Est file ships by default, Bourgogne-Franche-Comté's beside it.",
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    http_port: int = Field(8000, description="Port the HTTP API listens on.")
    public_base_url: str | None = Field(
        None, description="URL under which this service's HTTP API is reachable by people and other services."
    )
    max_request_kb: int = Field(
        1024, ge=1, description="Largest request body the HTTP API accepts (KB); a larger one gets 413."
    )
    rate_limit_per_minute: int = Field(
        0,
        ge=0,
        description="Requests one client may make per minute to the HTTP API (429 with Retry-After beyond); "
        "0: no limit.",
    )
    trust_forwarded_for: bool = Field(
        False, description="Behind a proxy that sets X-Forwarded-For: the client is its first hop."
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        description="OpenTelemetry collector (OTLP over HTTP, e.g. http://collector:4318) to send spans to.",
    )
    trace_file: str | None = Field(
        None, description="File the service writes its finished spans to (JSON lines)."
    )
    access_token_secret: SecretStr = Field(
        SecretStr("development-only-session-signing-secret"),
        description="Secret every service shares to sign and check session tokens (at least 32 characters; "
        "the same on every service of the region).",
    )
    log_level: str = Field("INFO", description="Minimum log level.")
    log_json: bool = Field(True, description="Log one JSON object per line (False: human-readable).")
    kafka_replication_factor: int = Field(
        1, ge=1, description="Replication factor of topics the service creates."
    )
    create_topics: bool = Field(True, description="Create missing topics (and their DLQs) at start.")
    outbox_relay_interval_s: float = Field(
        15.0,
        gt=0,
        description="How often the events a failed or interrupted change left in the outbox are looked for "
        "and published (seconds).",
    )
    consumer_group_prefix: str = Field("", description="Prefix of this service's consumer group ids.")

    @model_validator(mode="after")
    def _secrets_set_in_production(self) -> ServiceSettings:
        """In production, every secret is configuration: none empty, none left at its development default."""
        if self.environment != "production":
            return self
        unset = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if not isinstance(value, SecretStr) and name not in self.production_secrets:
                continue
            text = value.get_secret_value() if isinstance(value, SecretStr) else ""
            default = field.default.get_secret_value() if isinstance(field.default, SecretStr) else None
            if (not text and (default is not None or name in self.production_secrets)) or text == default:
                unset.append(name.upper())
        if unset:
            raise ValueError(
                "ENVIRONMENT=production : ces secrets doivent être configurés (ni vides ni à leur valeur de "
                f"développement) : {', '.join(unset)}"
            )
        return self

    @model_validator(mode="after")
    def _kafka_credentials(self) -> ServiceSettings:
        """SASL needs a principal and its password."""
        self.kafka_auth()
        return self

    @model_validator(mode="after")
    def _region_topic_prefix(self) -> ServiceSettings:
        """A region file's ``topic_prefix`` applies when TOPIC_PREFIX is not set."""
        if not self.topic_prefix and self.basins_file:
            doc = yaml.safe_load(Path(self.basins_file).read_text(encoding="utf-8")) or {}
            self.topic_prefix = str(doc.get("topic_prefix") or "")
        return self

    def kafka_auth(self) -> KafkaAuth:
        password = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
        return KafkaAuth(
            self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_sasl_username, password
        )

    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.http_host}:{self.http_port}"

    def group_id(self, name: str) -> str:
        return f"{self.consumer_group_prefix}{name}"

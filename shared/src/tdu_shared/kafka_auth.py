"""How this process's Kafka clients authenticate: one set of options every client is made with.

The cluster accepts only authenticated clients (SASL SCRAM-SHA-512) and its ACLs let each principal use
its own topics only (``tdu_shared.access.kafka``). Every Kafka client of the platform (the broker of
FastStream, producers, consumers, admin clients) is made with :func:`connection`, from the settings
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_MECHANISM``, ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``:
a service's runtime sets them once (:func:`use`); a command or a test that makes clients without a
runtime reads them from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from faststream.security import BaseSecurity, SASLScram256, SASLScram512

Protocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]


@dataclass(frozen=True)
class KafkaAuth:
    protocol: Protocol = "PLAINTEXT"
    mechanism: Mechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.protocol != "PLAINTEXT" and not (self.username and self.password):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.protocol} needs KAFKA_SASL_USERNAME and _PASSWORD"
            )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> KafkaAuth:
        values = os.environ if env is None else env
        protocol = values.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
        return cls(
            protocol=protocol,  # type: ignore[arg-type]
            mechanism=values.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").upper(),  # type: ignore[arg-type]
            username=values.get("KAFKA_SASL_USERNAME") or None,
            password=values.get("KAFKA_SASL_PASSWORD") or None,
        )

    def options(self) -> dict[str, Any]:
        """aiokafka's options (producer, consumer and admin clients take the same)."""
        if self.protocol == "PLAINTEXT":
            return {}
        return {
            "security_protocol": self.protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def security(self) -> BaseSecurity | None:
        """FastStream's description of the same (its broker's ``security``)."""
        if self.protocol == "PLAINTEXT":
            return None
        assert self.username is not None and self.password is not None
        kind = SASLScram512 if self.mechanism == "SCRAM-SHA-512" else SASLScram256
        return kind(self.username, self.password, use_ssl=self.protocol == "SASL_SSL")

    def as_env(self) -> dict[str, str]:
        if self.protocol == "PLAINTEXT":
            return {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
        return {
            "KAFKA_SECURITY_PROTOCOL": self.protocol,
            "KAFKA_SASL_MECHANISM": self.mechanism,
            "KAFKA_SASL_USERNAME": self.username or "",
            "KAFKA_SASL_PASSWORD": self.password or "",
        }


_current: KafkaAuth | None = None


def use(auth: KafkaAuth) -> None:
    """Make every Kafka client of this process authenticate this way (a service's runtime calls it)."""
    global _current
    _current = auth


def current() -> KafkaAuth:
    return _current if _current is not None else KafkaAuth.from_env()


def servers(bootstrap: str) -> list[str]:
    """``host:port,host:port`` (as KAFKA_BOOTSTRAP_SERVERS lists a cluster's brokers) as a list: given one
    string, FastStream's broker would take the whole list for a single host."""
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def connection(bootstrap: str, auth: KafkaAuth | None = None) -> dict[str, Any]:
    """``bootstrap_servers`` and the authentication options of a new aiokafka client (``auth``, else this
    process's)."""
    return {"bootstrap_servers": servers(bootstrap), **(auth or current()).options()}

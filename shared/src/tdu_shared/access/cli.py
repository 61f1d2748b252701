"""The ``tdu-access`` command: operators make, list, rotate and revoke partner keys, and issue sessions.

Keys are published on the ``access.keys`` topic (the secret shown once here, only its digest published);
every service follows that topic, so a new key works and a revoked one is refused everywhere within
seconds. It reads KAFKA_BOOTSTRAP_SERVERS, TOPIC_PREFIX, REGION and ACCESS_TOKEN_SECRET like the services.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from tdu_shared.access.keys import CAPABILITIES, KeyFollower, KeyRing, known_capability, new_key
from tdu_shared.access.tokens import issue_session
from tdu_shared.contracts.access import PartnerKeyIssued, PartnerKeyRevoked
from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import new_envelope
from tdu_shared.kafka import EventPublisher, ensure_topics
from tdu_shared.logs import configure_logging
from tdu_shared.settings import ServiceSettings
from tdu_shared.topics import ACCESS_KEYS, Topics

app = typer.Typer(
    help="Trait d'Union access: partner API keys and session credentials.", no_args_is_help=True
)
keys_app = typer.Typer(
    help="Partner API keys (scoped to a region, basins and capabilities).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@app.callback()
def _quiet() -> None:
    """Only warnings are logged: what the command prints is its answer."""
    configure_logging("tdu-access", "WARNING", json=False)


Operator = Annotated[str, typer.Option("--by", help="Operator doing this (e-mail), kept with the key.")]


def _settings() -> ServiceSettings:
    return ServiceSettings()


async def _publish(
    settings: ServiceSettings, key_id: str, payload: PartnerKeyIssued | PartnerKeyRevoked
) -> None:
    topics = Topics(settings.topic_prefix)
    if settings.create_topics:
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            topics,
            (ACCESS_KEYS,),
            replication_factor=settings.kafka_replication_factor,
        )
    envelope = new_envelope(payload, producer="tdu-access", region=settings.region, basin=None)
    async with EventPublisher(settings.kafka_bootstrap_servers, topics, client_id="tdu-access") as publisher:
        await publisher.publish(ACCESS_KEYS, key_id, envelope)


async def read_keys(settings: ServiceSettings, timeout_s: float = 30) -> KeyRing:
    """Every key the ``access.keys`` topic holds now."""
    ring = KeyRing()
    follower = KeyFollower(
        settings.kafka_bootstrap_servers,
        Topics(settings.topic_prefix).name(ACCESS_KEYS),
        ring,
        client_id="tdu-access",
    )
    await follower.start()
    try:
        async with asyncio.timeout(timeout_s):
            await ring.loaded.wait()
    finally:
        await follower.stop()
    return ring


def _check_capabilities(capabilities: list[str]) -> None:
    unknown = [c for c in capabilities if not known_capability(c)]
    if unknown:
        known = "\n".join(f"  {name}: {what}" for name, what in CAPABILITIES.items())
        raise typer.BadParameter(f"capacité inconnue : {', '.join(unknown)}\ncapacités possibles :\n{known}")


async def _issue(settings: ServiceSettings, issued: Mapping[str, object]) -> tuple[str, str]:
    key_id, key, secret_digest = new_key()
    payload = PartnerKeyIssued.model_validate({**issued, "key_id": key_id, "secret_sha256": secret_digest})
    await _publish(settings, key_id, payload)
    return key_id, key


def _print_new(key_id: str, key: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"key_id": key_id, "key": key}))
    else:
        typer.echo(f"clé {key_id} créée ; la voici (elle ne sera plus affichée) :\n{key}")


@keys_app.command("create")
def create(
    partner: Annotated[str, typer.Option(help="Partner system's short name (a-z, 0-9, -).")],
    capability: Annotated[list[str], typer.Option(help="What the key may do (repeat the option).")],
    by: Operator,
    basin: Annotated[list[str] | None, typer.Option(help="Basin it may act on (repeat); none: all.")] = None,
    label: Annotated[str | None, typer.Option(help="Note: whose system, which use.")] = None,
    days: Annotated[int | None, typer.Option(help="Valid this many days; default: until revoked.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key as JSON.")] = False,
) -> None:
    """Make a partner key; the key is printed once, only its digest is kept."""
    _check_capabilities(capability)
    settings = _settings()
    issued = {
        "partner": partner,
        "region": settings.region,
        "basins": sorted(set(basin or [])),
        "capabilities": sorted(set(capability)),
        "label": label,
        "issued_by": by,
        "expires_at": datetime.now(UTC) + timedelta(days=days) if days else None,
    }
    _print_new(*asyncio.run(_issue(settings, issued)), as_json)


@keys_app.command("list")
def list_keys(
    partner: Annotated[str | None, typer.Option(help="Only this partner's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """Keys of the region (never their secrets), revoked ones included."""
    ring = asyncio.run(read_keys(_settings()))
    for known in ring.known():
        issued, revoked = known.issued, known.revoked
        name = issued.partner if issued else revoked.partner if revoked else "?"
        if partner and name != partner:
            continue
        row = {
            "key_id": issued.key_id if issued else revoked.key_id if revoked else "?",
            "partner": name,
            "basins": issued.basins if issued else None,
            "capabilities": issued.capabilities if issued else None,
            "label": issued.label if issued else None,
            "issued_by": issued.issued_by if issued else None,
            "expires_at": issued.expires_at.isoformat() if issued and issued.expires_at else None,
            "revoked": f"{revoked.revoked_at.isoformat()} ({revoked.reason})" if revoked else None,
        }
        typer.echo(
            json.dumps(row, ensure_ascii=False) if as_json else "  ".join(f"{k}={v}" for k, v in row.items())
        )


def _revoke(settings: ServiceSettings, key_id: str, partner: str, by: str, reason: str) -> None:
    payload = PartnerKeyRevoked(
        key_id=key_id, partner=partner, revoked_by=by, reason=reason, revoked_at=datetime.now(UTC)
    )
    asyncio.run(_publish(settings, key_id, payload))


def _known(settings: ServiceSettings, key_id: str) -> PartnerKeyIssued:
    ring = asyncio.run(read_keys(settings))
    found = next((k for k in ring.known() if k.issued and k.issued.key_id == key_id), None)
    if found is None or found.issued is None:
        raise typer.BadParameter(f"clé {key_id} inconnue")
    if found.revoked is not None:
        raise typer.BadParameter(f"clé {key_id} déjà révoquée ({found.revoked.reason})")
    return found.issued


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (the part after tdu_).")],
    by: Operator,
    reason: Annotated[str, typer.Option(help="Why: leak, end of partnership...")],
) -> None:
    """Refuse a key from now on, on every service (within seconds)."""
    settings = _settings()
    issued = _known(settings, key_id)
    _revoke(settings, key_id, issued.partner, by, reason)
    typer.echo(f"clé {key_id} ({issued.partner}) révoquée")


@keys_app.command("rotate")
def rotate(
    key_id: Annotated[str, typer.Argument(help="Key id to replace.")],
    by: Operator,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new key as JSON.")] = False,
) -> None:
    """Make a new key with the same scope, then revoke the old one."""
    settings = _settings()
    old = _known(settings, key_id)
    fields = old.model_dump(exclude={"key_id", "secret_sha256"}) | {"issued_by": by}
    new_id, key = asyncio.run(_issue(settings, fields))
    _revoke(settings, key_id, old.partner, by, f"remplacée par {new_id}")
    _print_new(new_id, key, as_json)


@app.command("session")
def session(
    role: Annotated[Role, typer.Option(help="Role signed in.")],
    subject: Annotated[str, typer.Option(help="Person id (or the operator's e-mail).")],
    email: Annotated[str | None, typer.Option(help="Verified e-mail address.")] = None,
    basin: Annotated[list[str] | None, typer.Option(help="Basins (operators; repeat); none: all.")] = None,
    hours: Annotated[float, typer.Option(help="Valid this many hours.")] = 8,
) -> None:
    """Print a session credential signed with ACCESS_TOKEN_SECRET (for operations and the demo)."""
    settings = _settings()
    typer.echo(
        issue_session(
            settings.access_token_secret.get_secret_value(),
            role=role,
            subject=subject,
            region=settings.region,
            basins=basin,
            email=email,
            ttl=timedelta(hours=hours),
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()

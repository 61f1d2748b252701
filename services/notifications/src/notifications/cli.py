"""Command line: run the service, and the mail catcher and SMS provider stand-ins of the demo platform."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Trait d'Union notifications: e-mails and SMS, never twice.", no_args_is_help=True)


@app.command()
def serve() -> None:
    """Run the service (Kafka consumers, delivery loop, HTTP API) until SIGTERM; settings from the env."""
    from notifications.main import build
    from notifications.settings import Settings
    from tdu_shared.logs import configure_logging
    from tdu_shared.runtime import serve as serve_app

    settings = Settings()
    configure_logging("notifications", settings.log_level, json=settings.log_json)
    serve_app(build, settings)


@app.command("mail-catcher")
def mail_catcher(
    port: Annotated[int, typer.Option(help="SMTP port to listen on.")] = 1025,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    folder: Annotated[Path, typer.Option(help="Where each message goes (.eml) with index.jsonl.")] = Path(
        "mail"
    ),
    dedupe: Annotated[
        bool, typer.Option(help="Keep one copy per Message-ID, as a deduplicating relay.")
    ] = True,
) -> None:
    """An SMTP server that accepts every message and writes it to FOLDER as .eml plus a JSON-lines index."""
    from notifications.standins import MailCatcher

    catcher = MailCatcher(host=host, port=port, folder=folder, dedupe=dedupe).start()
    typer.echo(f"mail catcher on {host}:{port}, writing to {folder}")
    try:
        asyncio.run(_forever())
    except KeyboardInterrupt:
        pass
    finally:
        catcher.stop()


async def _forever() -> None:
    await asyncio.Event().wait()


@app.command("sms-standin")
def sms_standin(
    port: Annotated[int, typer.Option(help="HTTP port to listen on.")] = 8025,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    record_file: Annotated[Path, typer.Option(help="JSON-lines file of every SMS accepted.")] = Path(
        "sms.jsonl"
    ),
    api_key: Annotated[
        str | None, typer.Option(help="Key required in the api-key header (none: any).")
    ] = None,
) -> None:
    """An HTTP server implementing the SMS provider's API (Brevo-shaped); GET /received lists what it got."""
    from notifications.standins import sms_standin_app

    uvicorn.run(sms_standin_app(record_file, api_key), host=host, port=port, log_level="warning")


@app.command("oidc-standin")
def oidc_standin(
    port: Annotated[int, typer.Option(help="HTTP port to listen on.")] = 8026,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    client_id: Annotated[str, typer.Option(help="The one client it knows.")] = "traitdunion-dev",
    client_secret: Annotated[str, typer.Option(help="That client's secret.")] = "dev-secret",
) -> None:
    """An OpenID Connect provider shaped like ProConnect: signs in whoever login_hint names (development)."""
    from notifications.standins import oidc_standin_app

    issuer = f"http://{host}:{port}"
    uvicorn.run(oidc_standin_app(issuer, client_id, client_secret), host=host, port=port, log_level="warning")


@app.command()
def preview(
    template: Annotated[str, typer.Argument(help="Template name, e.g. candidature_envoyee.")],
    sms: Annotated[bool, typer.Option(help="Show the SMS instead of the e-mail text.")] = False,
) -> None:
    """Print a template rendered with example values (to proofread the French texts)."""
    from notifications.adapters.rendering import EXAMPLE_FACTS, JinjaRenderer
    from notifications.domain.sms import split_sms

    context = {
        **EXAMPLE_FACTS,
        "audience": "seeker",
        "journey_url": "http://127.0.0.1:8000/parcours/J-1",
        "unsubscribe_url": "http://127.0.0.1:8000/desinscription?jeton=x",
    }
    renderer = JinjaRenderer()
    if sms:
        for part in split_sms(renderer.sms(template, context)):
            typer.echo(part)
    else:
        rendered = renderer.email(template, context)
        typer.echo(f"Objet : {rendered.subject}\n\n{rendered.text}")

"""The ``web`` command: serve the pages."""

from __future__ import annotations

import typer
import uvicorn

from tdu_shared.logs import configure_logging
from web.settings import Settings

app = typer.Typer(
    help="Trait d'Union web pages: seekers, employers, training providers and basin operators.",
    no_args_is_help=True,
)


@app.command()
def serve() -> None:
    """Serve the pages until stopped. Settings come from the environment (HTTP_PORT, JOURNEYS_URL ...)."""
    settings = Settings()
    configure_logging("web", settings.log_level, json=settings.log_json)
    if not settings.dsfr_dir.is_dir():
        typer.echo(
            f"Le système de design de l'État est absent ({settings.dsfr_dir}) : lancez `npm ci` dans "
            "services/web, ou donnez DSFR_DIR.",
            err=True,
        )
        raise typer.Exit(2)
    from web.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        proxy_headers=settings.trust_forwarded_for,
        timeout_graceful_shutdown=10,
    )


@app.command()
def version() -> None:
    """Print the version."""
    from importlib.metadata import version as installed

    typer.echo(installed("tdu-web"))

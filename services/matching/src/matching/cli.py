"""The ``matching`` command: run the service, and operators' tools."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import httpx
import typer

from matching.settings import Settings
from tdu_shared.logs import configure_logging

app = typer.Typer(
    help="Trait d'Union matching: offers with a funded training near home, and the search.",
    no_args_is_help=True,
)


@app.command()
def serve(
    role: Annotated[
        str | None,
        typer.Option(
            help="all (default: matcher and search), matcher (evaluates offers, publishes "
            "matching.eligibility) or search (serves GET /search from matching.eligibility only)."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Evaluate as of this day (YYYY-MM-DD) instead of today."),
    ] = None,
) -> None:
    """Run the service (HTTP API and Kafka consumers) until stopped. Settings come from the environment."""
    overrides: dict[str, object] = {}
    if role:
        if role not in ("all", "matcher", "search"):
            raise typer.BadParameter("role must be all, matcher or search", param_hint="--role")
        overrides["role"] = role
    if as_of:
        overrides["as_of"] = date.fromisoformat(as_of)
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging("matching", settings.log_level, json=settings.log_json)
    from matching.main import build
    from tdu_shared.runtime import serve as serve_app

    serve_app(build, settings)


@app.command()
def search(
    lat: Annotated[float | None, typer.Option(help="Latitude (with --lon).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude (with --lat).")] = None,
    commune: Annotated[str | None, typer.Option(help="INSEE code or name of a commune.")] = None,
    postal_code: Annotated[str | None, typer.Option(help="Postal code.")] = None,
    radius: Annotated[float, typer.Option(help="Radius in km (at most 100).")] = 30,
    rome: Annotated[str | None, typer.Option(help="ROME fiche or code.")] = None,
    contract_type: Annotated[str | None, typer.Option(help="CDI, CDD ...")] = None,
    sort: Annotated[str, typer.Option(help="distance or date (soonest session).")] = "distance",
    limit: Annotated[int, typer.Option(help="Results per page.")] = 20,
    offset: Annotated[int, typer.Option(help="Results to skip.")] = 0,
    url: Annotated[
        str | None,
        typer.Option(
            help="Base URL of a running matching service (role all or search); default: this host's "
            "HTTP_HOST/HTTP_PORT settings."
        ),
    ] = None,
) -> None:
    """Search offers with a funded training near a place, by asking a running service's GET /search;
    prints the JSON answer (exit code 1 on a 4xx/5xx answer, 2 when the service does not answer)."""
    params = {
        k: v
        for k, v in {
            "lat": lat,
            "lon": lon,
            "commune": commune,
            "postal_code": postal_code,
            "radius_km": radius,
            "rome": rome,
            "contract_type": contract_type,
            "sort": sort,
            "limit": limit,
            "offset": offset,
        }.items()
        if v is not None
    }
    base = url or Settings().base_url()
    try:
        response = httpx.get(f"{base.rstrip('/')}/search", params=params, timeout=10)
    except httpx.HTTPError as exc:
        typer.echo(f"no answer from {base}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(response.json(), ensure_ascii=False, indent=2))
    if response.status_code >= 400:
        raise typer.Exit(1)

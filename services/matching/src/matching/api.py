"""The seekers' search over HTTP: GET /search from a point, a commune or a postal code."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from matching.adapters.kafka import CatchUp
from matching.domain.search import MAX_RADIUS_KM, Hit, SearchIndex, SearchQuery, SessionCard
from tdu_shared.contracts.matching import OfferSummary
from tdu_shared.geo import commune_table, valid_coordinates
from tdu_shared.rome import ROME_CODE, rome_referential


class Origin(BaseModel):
    lat: float = Field(description="Latitude searched around.")
    lon: float = Field(description="Longitude searched around.")
    radius_km: float = Field(description="Radius, km.")
    commune_insee: str | None = Field(None, description="Commune searched from, when given by code or name.")
    commune_name: str | None = Field(None, description="Name of that commune.")


class SessionResult(BaseModel):
    session_id: str
    title: str
    distance_km: float = Field(description="Great-circle distance from the seeker, km.")
    start_date: date | None = None
    end_date: date | None = None
    provider_name: str | None = None
    commune_name: str | None = Field(None, description="Commune of the session's place.")
    lat: float
    lon: float
    entry_level: str | None = Field(None, description="LHEO code-niveau-entree.")
    funded_places: int | None = None


class OfferResult(BaseModel):
    offer: OfferSummary
    distance_km: float = Field(description="Great-circle distance from the seeker to the workplace, km.")
    sessions: list[SessionResult] = Field(
        description="Linked funded sessions passing the session filters, nearest to the seeker first, "
        "at most max_sessions."
    )
    session_count: int = Field(description="How many linked sessions pass the filters in all.")


class SearchResponse(BaseModel):
    origin: Origin
    offset: int
    limit: int
    has_more: bool = Field(description="True when another page follows (ask again with offset + limit).")
    results: list[OfferResult]


def field_error(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors."""
    return HTTPException(422, detail=[{"loc": ["query", field], "msg": message, "type": "value_error"}])


def resolve_origin(
    lat: float | None, lon: float | None, commune: str | None, postal_code: str | None
) -> tuple[float, float, str | None, str | None]:
    given = [
        name
        for name, v in (
            ("lat/lon", lat if lat is not None else lon),
            ("commune", commune),
            ("postal_code", postal_code),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise field_error("lat", "donnez exactement un point de départ : lat et lon, commune, ou postal_code")
    if commune is not None:
        table = commune_table()
        found = table.by_insee(commune)
        candidates = [found] if found else list({c.insee: c for c in table.by_name(commune)}.values())
        if not candidates:
            raise field_error("commune", f"commune inconnue : {commune!r} (code INSEE ou nom)")
        if len(candidates) > 1:
            codes = ", ".join(c.insee for c in candidates)
            raise field_error("commune", f"nom ambigu : {commune!r} désigne plusieurs communes ({codes})")
        c = candidates[0]
        return c.lat, c.lon, c.insee, c.name
    if postal_code is not None:
        communes = commune_table().by_postal_code(postal_code)
        if not communes:
            raise field_error("postal_code", f"code postal inconnu : {postal_code!r}")
        return (
            sum(c.lat for c in communes) / len(communes),
            sum(c.lon for c in communes) / len(communes),
            None,
            None,
        )
    if lat is None or lon is None:
        raise field_error("lon" if lon is None else "lat", "lat et lon vont ensemble")
    if not valid_coordinates(lat, lon):
        raise field_error("lat", f"coordonnées invalides : ({lat}, {lon})")
    return lat, lon, None, None


def rome_filter(rome: str | None) -> tuple[str | None, str | None]:
    """A fiche filters on the offers' fiche; a derived code on the offers' own code."""
    if rome is None:
        return None, None
    code = rome.strip().upper()
    if not ROME_CODE.match(code):
        raise field_error("rome", f"code ROME invalide : {rome!r} (une lettre et quatre chiffres)")
    fiche = rome_referential().fiche_of(code)
    return (None, code) if fiche == code else (code, None)


Latitude = Annotated[float | None, Query(ge=-90, le=90, description="Latitude (with lon).")]
Longitude = Annotated[float | None, Query(ge=-180, le=180, description="Longitude (with lat).")]
CommuneQuery = Annotated[str | None, Query(max_length=100, description="INSEE code or name of a commune.")]
PostalCodeQuery = Annotated[str | None, Query(pattern=r"^\d{5}$", description="Postal code.")]
"""Where a search starts from: one of lat and lon, a commune, a postal code (see :func:`resolve_origin`)."""


def search_router(index: SearchIndex, loaded: CatchUp, max_radius_km: float = 100) -> APIRouter:
    router = APIRouter(tags=["search"])

    @router.get(
        "/search",
        summary="Offers near a place that come with a region-funded training",
        response_model=SearchResponse,
    )
    async def search(
        lat: Latitude = None,
        lon: Longitude = None,
        commune: CommuneQuery = None,
        postal_code: PostalCodeQuery = None,
        radius_km: Annotated[
            float, Query(gt=0, le=MAX_RADIUS_KM, description="Radius, km (at most 100).")
        ] = 30,
        rome: Annotated[
            str | None, Query(max_length=10, description="ROME fiche (M1801) or derived code (M1854).")
        ] = None,
        contract_type: Annotated[str | None, Query(max_length=10, description="CDI, CDD ...")] = None,
        entry_level: Annotated[
            str | None, Query(max_length=10, description="LHEO code-niveau-entree of the session.")
        ] = None,
        start_from: Annotated[date | None, Query(description="Sessions starting on or after.")] = None,
        start_to: Annotated[date | None, Query(description="Sessions starting on or before.")] = None,
        sort: Annotated[
            Literal["distance", "date"], Query(description="Nearest offers, or soonest session.")
        ] = "distance",
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        max_sessions: Annotated[int, Query(ge=1, le=50, description="Sessions shown per offer.")] = 5,
    ) -> Response:
        if not loaded.ready.is_set():
            raise HTTPException(503, detail="index de recherche en cours de chargement, réessayez")
        if radius_km > max_radius_km:
            raise field_error("radius_km", f"le rayon ne peut dépasser {max_radius_km:g} km")
        origin_lat, origin_lon, insee, name = resolve_origin(lat, lon, commune, postal_code)
        if start_from and start_to and start_from > start_to:
            raise field_error("start_to", "start_to précède start_from")
        rome_code, rome_fiche = rome_filter(rome)
        page = index.search(
            SearchQuery(
                origin_lat,
                origin_lon,
                radius_km,
                rome_code=rome_code,
                rome_fiche=rome_fiche,
                contract_type=contract_type,
                entry_level=entry_level,
                start_from=start_from,
                start_to=start_to,
                sort=sort,
                offset=offset,
                limit=limit,
                max_sessions=max_sessions,
            )
        )
        origin = {
            "lat": origin_lat,
            "lon": origin_lon,
            "radius_km": radius_km,
            "commune_insee": insee,
            "commune_name": name,
        }
        # written by hand: the response model documents the shape, a second validation would only cost
        paging = {"offset": page.offset, "limit": page.limit, "has_more": page.has_more}
        head = _json({"origin": origin, **paging})
        results = b",".join(result_json(hit) for hit in page.hits)
        return Response(head[:-1] + b',"results":[' + results + b"]}", media_type="application/json")

    @router.get(
        "/search/offers/{offer_id}",
        summary="One eligible offer with its linked funded sessions, distances from a place or the workplace",
        response_model=OfferResult,
        responses={404: {"description": "Not an eligible offer (unknown, withdrawn or without session)"}},
    )
    async def one_offer(
        offer_id: Annotated[str, Path(max_length=100)],
        lat: Latitude = None,
        lon: Longitude = None,
        commune: CommuneQuery = None,
        postal_code: PostalCodeQuery = None,
        max_sessions: Annotated[int, Query(ge=1, le=50, description="Sessions shown.")] = 10,
    ) -> Response:
        if not loaded.ready.is_set():
            raise HTTPException(503, detail="index de recherche en cours de chargement, réessayez")
        place = None
        if lat is not None or lon is not None or commune is not None or postal_code is not None:
            place = resolve_origin(lat, lon, commune, postal_code)[:2]
        hit = index.one(offer_id, place, max_sessions)
        if hit is None:
            raise HTTPException(404, detail=f"offre {offer_id} absente de la recherche (inconnue ou retirée)")
        body = result_json(hit)
        return Response(body, media_type="application/json")

    return router


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=str, ensure_ascii=False).encode()


def result_json(hit: Hit) -> bytes:
    """One result as JSON; the offer summary goes in as the index stores it (JSON already)."""
    rest = {
        "distance_km": hit.distance_km,
        "session_count": hit.session_count,
        "sessions": [session_result(card, km) for card, km in hit.sessions],
    }
    return b'{"offer":' + hit.summary + b"," + _json(rest)[1:]


def session_result(card: SessionCard, distance_km: float) -> dict[str, Any]:
    return {
        "session_id": card.session_id,
        "title": card.title,
        "distance_km": distance_km,
        "start_date": card.start_date,
        "end_date": card.end_date,
        "provider_name": card.provider_name,
        "commune_name": card.commune_name,
        "lat": card.lat,
        "lon": card.lon,
        "entry_level": card.entry_level,
        "funded_places": card.funded_places,
    }

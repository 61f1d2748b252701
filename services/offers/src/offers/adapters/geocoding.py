"""Street-address geocoding: the national address base (BAN) through geopy's BANFrance, and the cache.

- :class:`BanGeocoder`: ``GET <base URL>/search?q=...&limit=1``; the feature's ``type`` tells how precise
  the match is (housenumber -> address, street -> street, locality or municipality -> commune). Matches
  scoring under ``min_score`` count as not found.
- :class:`MongoGeocodingStore`: ``geocoded_addresses`` (``_id`` = normalised address: the only key read)
  and ``geocoding_pending`` (``_id`` = normalised address, the submissions waiting for it, next attempt).
- :class:`MemoryGeocodingStore`: the same in memory, for the use-case tests.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from geopy.exc import GeopyError
from geopy.geocoders import BANFrance
from pymongo.asynchronous.database import AsyncDatabase

from offers.domain.location import AddressPoint
from offers.domain.model import GeocodedAs
from offers.ports import GeocoderUnavailable, PendingAddress

FOUND: dict[str, GeocodedAs] = {
    "housenumber": "address",
    "street": "street",
    "locality": "street",
    "municipality": "commune",
}


def point_of_feature(feature: dict[str, Any]) -> AddressPoint | None:
    """An AddressPoint from one BAN GeoJSON feature."""
    properties = feature.get("properties") or {}
    coordinates = (feature.get("geometry") or {}).get("coordinates") or []
    found = FOUND.get(str(properties.get("type")))
    if found is None or len(coordinates) != 2:
        return None
    lon, lat = float(coordinates[0]), float(coordinates[1])
    return AddressPoint(lat, lon, found, properties.get("citycode"), properties.get("label"))


class BanGeocoder:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0, min_score: float = 0.5) -> None:
        parts = urlsplit(base_url)
        self._ban = BANFrance(
            domain=(parts.netloc + parts.path).rstrip("/"),
            scheme=parts.scheme or "https",
            timeout=timeout_s,
            user_agent="traitdunion-offers",
        )
        self.min_score = min_score

    async def geocode(self, query: str) -> AddressPoint | None:
        try:
            found = await asyncio.to_thread(self._ban.geocode, query, limit=1, exactly_one=True)
        except GeopyError as exc:
            raise GeocoderUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if found is None:
            return None
        feature = found.raw
        if float((feature.get("properties") or {}).get("score", 0)) < self.min_score:
            return None
        return point_of_feature(feature)


def _point_doc(point: AddressPoint | None) -> dict[str, Any]:
    if point is None:
        return {"found": None}
    return {
        "lat": point.lat,
        "lon": point.lon,
        "found": point.found,
        "commune_insee": point.commune_insee,
        "label": point.label,
    }


def _point_of_doc(doc: dict[str, Any]) -> AddressPoint | None:
    if not doc.get("found"):
        return None
    return AddressPoint(doc["lat"], doc["lon"], doc["found"], doc.get("commune_insee"), doc.get("label"))


class MongoGeocodingStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._results = db["geocoded_addresses"]
        self._pending = db["geocoding_pending"]

    async def results(self) -> dict[str, AddressPoint | None]:
        return {d["_id"]: _point_of_doc(d) async for d in self._results.find({})}

    async def save_result(self, key: str, point: AddressPoint | None, at: datetime) -> None:
        await self._results.replace_one({"_id": key}, {**_point_doc(point), "geocoded_at": at}, upsert=True)

    async def add_pending(self, key: str, query: str, submission: dict[str, Any], at: datetime) -> None:
        await self._pending.update_one(
            {"_id": key},
            {
                "$setOnInsert": {"query": query, "attempts": 0, "retry_at": at, "since": at},
                "$push": {"submissions": submission},
            },
            upsert=True,
        )

    async def due(self, now: datetime, limit: int) -> list[PendingAddress]:
        # A small collection (addresses waiting for the geocoder): read whole, filtered here.
        docs = [d async for d in self._pending.find({})]
        ready = sorted((d for d in docs if _aware(d["retry_at"]) <= now), key=lambda d: _aware(d["retry_at"]))
        return [PendingAddress(d["_id"], d["query"], d["submissions"], d["attempts"]) for d in ready[:limit]]

    async def retry_later(self, key: str, attempts: int, retry_at: datetime) -> None:
        await self._pending.update_one({"_id": key}, {"$set": {"attempts": attempts, "retry_at": retry_at}})

    async def drop_pending(self, key: str) -> None:
        await self._pending.delete_one({"_id": key})


def _aware(value: datetime) -> datetime:
    """The store gives back naive UTC datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MemoryGeocodingStore:
    def __init__(self) -> None:
        self.saved: dict[str, AddressPoint | None] = {}
        self.pending: dict[str, dict[str, Any]] = {}

    async def results(self) -> dict[str, AddressPoint | None]:
        return dict(self.saved)

    async def save_result(self, key: str, point: AddressPoint | None, at: datetime) -> None:
        self.saved[key] = point

    async def add_pending(self, key: str, query: str, submission: dict[str, Any], at: datetime) -> None:
        entry = self.pending.setdefault(
            key, {"query": query, "attempts": 0, "retry_at": at, "submissions": []}
        )
        entry["submissions"].append(submission)

    async def due(self, now: datetime, limit: int) -> list[PendingAddress]:
        ready = [(k, e) for k, e in self.pending.items() if e["retry_at"] <= now][:limit]
        return [PendingAddress(k, e["query"], list(e["submissions"]), e["attempts"]) for k, e in ready]

    async def retry_later(self, key: str, attempts: int, retry_at: datetime) -> None:
        self.pending[key].update(attempts=attempts, retry_at=retry_at)

    async def drop_pending(self, key: str) -> None:
        self.pending.pop(key, None)

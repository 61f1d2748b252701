"""A stand-in for the national address base (BAN) for tests and the demo: a real HTTP server answering
``GET /search?q=...&limit=...`` with recorded responses in BAN's GeoJSON format.

Recordings: a JSON object mapping a query to the FeatureCollection BAN answered for it (queries compare
normalised: case, accents and punctuation aside). An unknown query gets BAN's answer for no match (an
empty FeatureCollection); ``GET /calls`` lists the queries received.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query

from tdu_shared.geo import normalise_name


def ban_standin_app(recordings: dict[str, Any] | Path) -> FastAPI:
    raw = json.loads(recordings.read_text(encoding="utf-8")) if isinstance(recordings, Path) else recordings
    answers = {normalise_name(q): response for q, response in raw.items()}
    app = FastAPI(title="BAN stand-in")
    app.state.calls = []

    @app.get("/search")
    def search(q: str = Query(..., min_length=3), limit: int = 5) -> dict[str, Any]:
        app.state.calls.append(q)
        found = answers.get(normalise_name(q))
        if found is None:
            return {
                "type": "FeatureCollection",
                "version": "draft",
                "features": [],
                "attribution": "BAN",
                "licence": "ETALAB-2.0",
                "query": q,
                "limit": limit,
            }
        return {**found, "features": found["features"][:limit]}

    @app.get("/calls")
    def calls() -> list[str]:
        return list(app.state.calls)

    return app

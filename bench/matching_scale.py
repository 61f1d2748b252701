"""Matching at national scale: eligibility of synthetic offers against a synthetic catalogue, and search.

Builds in memory N offers and M sessions: points in Grand Est are real commune centres (the shared commune
table), points elsewhere in mainland France come from synthetic towns; sizes follow a Zipf law and the
ROME mix is Zipf over the 532 ROME 4 fiches (offers often carry derived codes). Measures index build, full
eligibility, incremental re-evaluation per event, in-process search, HTTP search at a fixed request rate
(real uvicorn server in a forked process, loopback), and memory per indexed offer. Prints one JSON object.

    uv run python bench/matching_scale.py                       # 1,000,000 offers, 300,000 sessions
    uv run python bench/matching_scale.py --offers 100000 --sessions 30000 --http-requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI

from matching.adapters.kafka import CatchUp
from matching.api import search_router
from matching.domain.matcher import Matcher
from matching.domain.model import Offer, Session
from matching.domain.rules import window_from
from matching.domain.search import SearchIndex, SearchQuery
from matching.translate import listing_of_result
from tdu_shared.geo import commune_table, load_basins
from tdu_shared.rome import rome_referential

AS_OF = date(2026, 11, 22)
GRAND_EST_SHARE = 0.08  # Grand Est holds about 8% of the French population
CONTRACTS = ["CDI"] * 55 + ["CDD"] * 30 + ["MIS"] * 10 + ["SAI"] * 5


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def zipf_weights(n: int, s: float, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    rng.shuffle(w)
    return w / w.sum()


class Geography:
    """Grand Est commune centres plus synthetic towns elsewhere, each with a Zipf weight."""

    def __init__(self, rng: np.random.Generator, towns: int = 30_000) -> None:
        communes = list(commune_table())
        self.ge = np.array([(c.lat, c.lon) for c in communes])
        self.ge_names = [c.name for c in communes]
        self.ge_insee = [c.insee for c in communes]
        self.ge_w = zipf_weights(len(communes), 1.0, rng)
        lat = rng.uniform(42.6, 50.9, towns)
        lon = rng.uniform(-4.4, 7.8, towns)
        outside = ~((lat > 47.4) & (lat < 50.2) & (lon > 3.4) & (lon < 8.2))  # keep Grand Est to its communes
        self.towns = np.column_stack((lat[outside], lon[outside]))
        self.town_w = zipf_weights(len(self.towns), 1.0, rng)
        self.rng = rng

    def points(self, n: int) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
        """n points (lat, lon) and, for Grand Est ones, the commune index."""
        in_ge = self.rng.random(n) < GRAND_EST_SHARE
        lat, lon = np.empty(n), np.empty(n)
        commune: list[int | None] = [None] * n
        k = int(in_ge.sum())
        idx = self.rng.choice(len(self.ge), size=k, p=self.ge_w)
        lat[in_ge], lon[in_ge] = self.ge[idx, 0], self.ge[idx, 1]
        for pos, i in zip(np.nonzero(in_ge)[0], idx, strict=True):
            commune[pos] = int(i)
        tidx = self.rng.choice(len(self.towns), size=n - k, p=self.town_w)
        jitter = self.rng.normal(0, 0.02, (n - k, 2))
        lat[~in_ge] = self.towns[tidx, 0] + jitter[:, 0]
        lon[~in_ge] = self.towns[tidx, 1] + jitter[:, 1]
        return lat, lon, commune


def rome_mix(rng: np.random.Generator) -> tuple[list[str], np.ndarray, dict[str, list[str]]]:
    referential = rome_referential()
    fiches = sorted(referential.fiches())
    codes: dict[str, list[str]] = {f: [] for f in fiches}
    for f in fiches:
        codes[f].append(f)
    for row in _all_codes():
        fiche = referential.fiche_of(row)
        if fiche and row != fiche:
            codes[fiche].append(row)
    return fiches, zipf_weights(len(fiches), 1.1, rng), codes


def _all_codes() -> list[str]:
    from importlib.resources import files

    text = files("tdu_shared.data").joinpath("rome4_v460_codes.csv").read_text(encoding="utf-8")
    return [line.split(",")[0] for line in text.splitlines()[1:]]


def build_dataset(n_offers: int, n_sessions: int, seed: int) -> tuple[list[Offer], list[Session], Geography]:
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    geo = Geography(rng)
    fiches, weights, codes = rome_mix(rng)
    updated = datetime(2026, 11, 1, tzinfo=UTC)

    lat, lon, commune = geo.points(n_offers)
    offer_fiche = rng.choice(len(fiches), size=n_offers, p=weights)
    offers = []
    for i in range(n_offers):
        fiche = fiches[offer_fiche[i]]
        contract = pyrng.choice(CONTRACTS)
        eligible = contract == "CDI" or (contract == "CDD" and pyrng.random() < 0.5)
        located = pyrng.random() > 0.03
        c = commune[i]
        offers.append(
            Offer(
                offer_id=f"{i:07d}X",
                revision=1,
                title=f"Offre {fiche}",
                rome_fiche=fiche,
                lat=float(lat[i]) if located else None,
                lon=float(lon[i]) if located else None,
                basin=None,
                contract_eligible=eligible,
                ineligibility_reason=None if eligible else "contrat non éligible",
                rome_code=pyrng.choice(codes[fiche]),
                contract_type=contract,
                contract_months=None if contract == "CDI" else 6,
                employer_name=f"Entreprise {i % 50_000}",
                employer_contact_id=f"emp-{i % 50_000}",
                commune_insee=geo.ge_insee[c] if c is not None else None,
                commune_name=geo.ge_names[c] if c is not None else None,
                region="44" if c is not None else None,
                url=f"https://candidat.francetravail.fr/offres/recherche/detail/{i:07d}X",
                updated_at=updated,
            )
        )
    slat, slon, scommune = geo.points(n_sessions)
    session_fiche = rng.choice(len(fiches), size=(n_sessions, 3), p=weights)
    sessions = []
    for j in range(n_sessions):
        extra = pyrng.choice([0, 0, 1, 2])
        own = tuple(sorted({fiches[f] for f in session_fiche[j, : 1 + extra]}))
        start = AS_OF + timedelta(days=pyrng.randint(-90, 540)) if pyrng.random() > 0.05 else None
        c = scommune[j]
        sessions.append(
            Session(
                session_id=f"carif:{j}",
                revision=1,
                title=f"Formation {own[0]}",
                rome_fiches=own,
                lat=float(slat[j]),
                lon=float(slon[j]),
                start_date=start,
                region_funded=pyrng.random() < 0.8,
                end_date=start + timedelta(days=180) if start else None,
                provider_name=f"Organisme {j % 3000}",
                provider_contact_id=f"prov-{j % 3000}",
                commune_name=geo.ge_names[c] if c is not None else None,
                entry_level=pyrng.choice(["0", "3", "4", "5"]),
                funded_places=12,
            )
        )
    return offers, sessions, geo


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.array(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }


def queries(geo: Geography, fiches: list[str], n: int, seed: int) -> list[SearchQuery]:
    """Seekers in Grand Est communes (weighted like offers), 30 km, some with a fiche or contract filter."""
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    idx = rng.choice(len(geo.ge), size=n, p=geo.ge_w)
    out = []
    for i in idx:
        roll = pyrng.random()
        out.append(
            SearchQuery(
                float(geo.ge[i, 0]),
                float(geo.ge[i, 1]),
                30.0,
                rome_fiche=pyrng.choice(fiches) if roll < 0.15 else None,
                contract_type="CDI" if 0.15 <= roll < 0.30 else None,
            )
        )
    return out


def serve_search(index: SearchIndex, port: int) -> None:
    ready = CatchUp()
    ready.ready.set()
    app = FastAPI()
    app.include_router(search_router(index, ready))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def http_load(port: int, qs: list[SearchQuery], rate: float) -> dict[str, Any]:
    """Open-loop load: request i leaves at i/rate seconds whatever the previous answers did."""
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        for _ in range(100):
            try:
                if (await client.get("/search", params={"lat": 49.1, "lon": 6.2})).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
        latencies: list[float] = []
        errors = 0

        async def one(q: SearchQuery, at: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            t0 = time.perf_counter()
            params: dict[str, Any] = {"lat": q.lat, "lon": q.lon, "radius_km": q.radius_km}
            if q.rome_fiche:
                params["rome"] = q.rome_fiche
            if q.contract_type:
                params["contract_type"] = q.contract_type
            r = await client.get("/search", params=params)
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += r.status_code != 200

        start = time.perf_counter() + 0.1
        await asyncio.gather(*(one(q, start + i / rate) for i, q in enumerate(qs)))
        elapsed = time.perf_counter() - start
    return {
        "requests": len(qs),
        "rate_per_s": rate,
        "achieved_rate_per_s": round(len(qs) / elapsed, 1),
        "errors": errors,
        **percentiles(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--offers", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=2000, help="in-process search queries")
    parser.add_argument("--events", type=int, default=500, help="incremental offer and session events")
    parser.add_argument("--http-requests", type=int, default=3000, help="0 skips the HTTP measure")
    parser.add_argument("--rate", type=float, default=200.0, help="HTTP requests per second")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out: dict[str, Any] = {"offers": args.offers, "sessions": args.sessions, "as_of": AS_OF.isoformat()}

    t = time.perf_counter()
    offers, sessions, geo = build_dataset(args.offers, args.sessions, args.seed)
    out["dataset_s"] = round(time.perf_counter() - t, 2)

    basins = load_basins()
    matcher = Matcher(basins.radius_km, max_radius_km=basins.default_radius_km)
    window = window_from(AS_OF)
    gc.collect()
    rss0 = rss_bytes()
    t = time.perf_counter()
    for s in sessions:
        matcher.put_session(s)
    for o in offers:
        matcher.put_offer(o)
    matcher.evaluate_many([offers[0].offer_id], window)  # merges every fiche's buffer into its KD-tree
    out["matcher_index_build_s"] = round(time.perf_counter() - t, 2)
    gc.freeze()  # long-lived state: keep the cyclic collector from walking millions of objects per pause
    out["matcher_bytes_per_offer"] = round((rss_bytes() - rss0) / args.offers)

    t = time.perf_counter()
    results = matcher.evaluate_many([o.offer_id for o in offers], window)
    out["full_eligibility_s"] = round(time.perf_counter() - t, 2)
    eligible = [r for r in results if r.eligible]
    out["eligible_offers"] = len(eligible)
    out["mean_linked_sessions"] = round(sum(len(r.links) for r in eligible) / max(1, len(eligible)), 1)
    del results

    # incremental: an offer event re-evaluates that offer; a session event the offers it reaches
    rng = random.Random(args.seed)
    offer_ms, session_ms, reached = [], [], []
    for _ in range(args.events):
        o = rng.choice(offers)
        t = time.perf_counter()
        matcher.put_offer(o.__class__(**{**{f: getattr(o, f) for f in o.__slots__}, "revision": 2}))
        matcher.evaluate(o.offer_id, window)
        offer_ms.append((time.perf_counter() - t) * 1000)
        s = rng.choice(sessions)
        moved = s.__class__(
            **{
                **{f: getattr(s, f) for f in s.__slots__},
                "revision": s.revision + 1,
                "lat": (s.lat or 48.0) + 0.01,
                "start_date": AS_OF + timedelta(days=30),
            }
        )
        t = time.perf_counter()
        affected = matcher.put_session(moved)
        matcher.evaluate_many(affected, window)
        session_ms.append((time.perf_counter() - t) * 1000)
        reached.append(len(affected))
    out["incremental_offer_event"] = percentiles(offer_ms)
    out["incremental_session_event"] = {
        **percentiles(session_ms),
        "mean_offers_reevaluated": round(sum(reached) / len(reached), 1),
    }

    del matcher, offers, sessions
    gc.collect()
    rss0 = rss_bytes()
    t = time.perf_counter()
    index = SearchIndex()
    for r in eligible:
        listing = listing_of_result(r)
        if listing is not None:
            index.put(listing)
    index.compact()
    out["search_index_build_s"] = round(time.perf_counter() - t, 2)
    gc.freeze()
    del eligible, r
    gc.collect()
    out["search_indexed_offers"] = len(index)
    out["search_index_sessions"] = index.session_count
    out["search_bytes_per_indexed_offer"] = round(index.memory_bytes() / max(1, len(index)))
    out["search_rss_growth_bytes_per_indexed_offer"] = round((rss_bytes() - rss0) / max(1, len(index)))

    fiches = sorted(rome_referential().fiches())
    qs = queries(geo, fiches, args.queries, args.seed)
    for q in qs[:50]:
        index.search(q)
    lat_ms, found = [], []
    for q in qs:
        t = time.perf_counter()
        page = index.search(q)
        lat_ms.append((time.perf_counter() - t) * 1000)
        found.append(len(page.hits))
    out["search_in_process"] = {
        "queries": len(qs),
        "mix": "Grand Est communes, 30 km, 20 per page, nearest first; 15% fiche filter, 15% CDI filter",
        **percentiles(lat_ms),
        "mean_hits": round(sum(found) / len(found), 1),
    }
    date_ms = []
    for q in qs[:300]:
        t = time.perf_counter()
        index.search(SearchQuery(q.lat, q.lon, 30.0, sort="date"))
        date_ms.append((time.perf_counter() - t) * 1000)
    out["search_in_process_sorted_by_date"] = {"queries": len(date_ms), **percentiles(date_ms)}

    if args.http_requests:
        port = 18000 + os.getpid() % 1000
        ctx = multiprocessing.get_context("fork")
        server = ctx.Process(target=serve_search, args=(index, port), daemon=True)
        server.start()
        try:
            http_qs = queries(geo, fiches, args.http_requests, args.seed + 1)
            out["search_http"] = asyncio.run(http_load(port, http_qs, args.rate))
        finally:
            server.terminate()
            server.join(10)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

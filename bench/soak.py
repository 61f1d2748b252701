"""Soak run: the whole platform with the demo, then a realistic load on top of it, measured end to end.

    uv run python bench/soak.py                      # 500 sessions, 5,000 offers, 2,000 applications

Starts Kafka and the local store (or uses KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL), then the five
services, the mail catcher and the SMS stand-in as separate processes, under topic and database names
of their own. It imports the demo (``deploy/demo/generate.py``) through the services' own import
commands and waits for search to show it; then imports, through the same commands, a second catalogue
(``--sessions`` region-funded sessions, another source) and a second offers file (the 521 real France
Travail offers again, plus ``--offers`` generated ones numbered after the demo's). It measures how long
until search shows every offer matching says is eligible, then sends ``--applications`` applications
over HTTP (``--concurrency`` at a time, each from another seeker, e-mail consent given) and waits until
every seeker's confirmation e-mail is accepted by the SMTP server. Every service's ``/ready`` is polled
each second throughout. One JSON object on stdout:

- ``search``: seconds from the start of the second import until search shows every eligible offer
  (``catch_up_s``), how many, and any eligible offer search never showed;
- ``applications``: accepted per second, latency p50/p99/max, refusals;
- ``emails``: e-mails per second overall and over the first and last tenth, seconds from the first
  application until the last confirmation is accepted by SMTP, duplicates (one message id twice);
- ``journeys``: ``GET /journeys?basin=`` and ``GET /kpis`` p99 once every application is in;
- ``cpu``: CPU-seconds of the store and of each service during the load, the store's share;
- ``not_ready``: every time a service answered ``/ready`` with anything but 200.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from aiokafka import AIOKafkaConsumer

from tdu_dev.infra.paths import Paths
from tdu_dev.infra.platform import SERVICES, Platform
from tdu_dev.testing.infrastructure import provide_infrastructure
from tdu_dev.testing.measure import cpu_seconds, percentile, store_pid
from tdu_dev.testing.platform import running_platform
from tdu_shared import kafka_auth
from tdu_shared.envelope import decode_event
from tdu_shared.geo import distance_km
from tdu_shared.kafka_auth import connection
from tdu_shared.topics import MATCHING_ELIGIBILITY, Topics

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

CENTRES = {"Metz": (49.1193, 6.1757), "Strasbourg": (48.5734, 7.7521)}
"""Search origins: together, within SEARCH_RADIUS_KM, they cover every basin of the demo."""
SEARCH_RADIUS_KM = 100
PAGE = 100
LOAD_FIRST_NUMBER = 10_001
"""The load's generated offers and sessions are numbered from here: they add to the demo's."""


def log(message: str) -> None:
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


# ---------------------------------------------------------------- the platform


@contextmanager
def platform(outbox: Path) -> Iterator[Platform]:
    """The five services on the endpoints the tests would use (the environment's, else the local
    launcher's), each as its own Kafka principal; this process's own clients connect as the super user."""
    log("Kafka and the local store")
    with provide_infrastructure() as (endpoints, _origin):
        kafka_auth.use(endpoints.kafka_auth())
        log("starting the five services (topics and databases of their own, removed after)")
        with running_platform(endpoints, outbox, extra_env={}, ready_timeout=180, prefix="soak") as running:
            yield running


class ReadinessWatch(threading.Thread):
    """Polls every service's /ready each second; keeps every answer that is not 200."""

    def __init__(self, running: Platform) -> None:
        super().__init__(daemon=True)
        self.running = running
        self.failures: list[dict[str, Any]] = []
        self.polls = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        with httpx.Client(timeout=5) as http:
            while not self.stopping.wait(1.0):
                for service in SERVICES:
                    try:
                        status: int | str = http.get(f"{self.running.url(service)}/ready").status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    if status != 200:
                        self.failures.append(
                            {"service": service, "at_s": round(time.monotonic() - start, 1), "got": status}
                        )
                self.polls += 1


def generate(out: Path, *, offers: int, sessions: int, first: int, seed: int) -> None:
    script = Paths.discover().root / "deploy" / "demo" / "generate.py"
    args = ["--out", str(out), "--offers", str(offers), "--sessions", str(sessions), "--first", str(first)]
    run([sys.executable, str(script), *args, "--seed", str(seed)])


def run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stderr[-2000:]}")


def import_through_cli(running: Platform, folder: Path, source: str) -> dict[str, float]:
    took: dict[str, float] = {}
    for service, args in (
        ("trainings", ["import", str(folder / "catalogue.xml"), "--source", source, "--json"]),
        ("offers", ["import", str(folder / "offers.json"), "--json"]),
    ):
        started = time.monotonic()
        result = running.run_cli(service, args, timeout=1800)
        if result.returncode != 0:
            raise RuntimeError(
                f"{service} {' '.join(args)}:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
            )
        took[f"{service}_import_s"] = round(time.monotonic() - started, 1)
    return took


# ---------------------------------------------------------------- search against matching's decisions


@dataclass
class Eligibility:
    """The newest eligibility of every offer, read from ``matching.eligibility`` as it is written."""

    bootstrap: str
    topic: str
    offers: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_change: float = field(default_factory=time.monotonic)
    consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        # Without a group, a subscription takes every partition of the topic (its metadata is fetched).
        self.consumer = AIOKafkaConsumer(
            self.topic,
            **connection(self.bootstrap),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self.consumer.start()

    async def read(self) -> None:
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=300, max_records=50_000)
        for records in batches.values():
            for record in records:
                event = decode_event(record.value)
                payload = event.payload
                offer = payload.offer
                self.offers[payload.offer_id] = {
                    "eligible": payload.eligible,
                    "lat": offer.lat if offer else None,
                    "lon": offer.lon if offer else None,
                }
                self.last_change = time.monotonic()

    def searchable(self) -> set[str]:
        """Eligible offers a search from one of the centres can show."""
        return {
            offer_id
            for offer_id, o in self.offers.items()
            if o["eligible"]
            and o["lat"] is not None
            and o["lon"] is not None
            and any(
                distance_km(lat, lon, o["lat"], o["lon"]) <= SEARCH_RADIUS_KM - 0.5
                for lat, lon in CENTRES.values()
            )
        }

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()


async def shown_by_search(http: httpx.AsyncClient, matching: str) -> set[str]:
    shown: set[str] = set()
    for lat, lon in CENTRES.values():
        offset = 0
        while True:
            response = await http.get(
                f"{matching}/search",
                params={
                    "lat": lat,
                    "lon": lon,
                    "radius_km": SEARCH_RADIUS_KM,
                    "limit": PAGE,
                    "offset": offset,
                    "max_sessions": 1,
                },
            )
            if response.status_code != 200:
                break
            body = response.json()
            shown.update(r["offer"]["offer_id"] for r in body["results"])
            if not body["has_more"] or offset + PAGE > 10_000:
                break
            offset += PAGE
    return shown


async def search_catch_up(
    running: Platform, started: float, timeout: float, quiet_s: float
) -> tuple[dict[str, Any], set[str]]:
    """Seconds from ``started`` until search shows every offer matching has decided is eligible.

    Done once matching has written nothing for ``quiet_s`` seconds and search shows all of it; the time
    reported is that of the first search pass that showed the final set. Also returns that set.
    """
    eligibility = Eligibility(
        running.endpoints.kafka_bootstrap_servers, Topics(running.topic_prefix).name(MATCHING_ELIGIBILITY)
    )
    await eligibility.start()
    passes: list[tuple[float, set[str]]] = []
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                await eligibility.read()
                shown = await shown_by_search(http, running.url("matching"))
                await eligibility.read()
                now = time.monotonic()
                passes.append((now, shown))
                expected = eligibility.searchable()
                settled = now - eligibility.last_change >= quiet_s
                if settled and expected <= shown:
                    break
                if now - started > timeout:
                    break
                await asyncio.sleep(1)
    finally:
        await eligibility.stop()
    expected = eligibility.searchable()
    first_complete = next((t for t, shown in passes if expected <= shown), None)
    figures = {
        "catch_up_s": round(first_complete - started, 1) if first_complete else None,
        "eligible_offers_shown": len(expected),
        "offers_known_to_matching": len(eligibility.offers),
        "never_shown": sorted(expected - passes[-1][1])[:20],
        "search_passes": len(passes),
    }
    return figures, expected


# ---------------------------------------------------------------- applications and their e-mails


def seeker_email(n: int) -> str:
    return f"soak.seeker.{n}@exemple.fr"


async def apply_all(
    running: Platform, offer_ids: list[str], count: int, concurrency: int, run_id: str
) -> dict[str, Any]:
    latencies: list[float] = []
    refused: dict[str, int] = {}
    examples: dict[str, str] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    url = f"{running.url('journeys')}/journeys"

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body = {
                "offer_id": offer_ids[n % len(offer_ids)],
                "first_name": "Camille",
                "last_name": f"Soak{n}",
                "email": seeker_email(n),
                "postal_code": "57000",
                "consent_email": True,
                "consent_sms": False,
            }
            headers = {
                **running.session("seeker", f"soak-seeker-{n}"),
                "Idempotency-Key": f"{run_id}-apply-{n}",
            }
            began = time.perf_counter()
            try:
                response = await http.post(url, json=body, headers=headers)
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - began)
            if status not in ("200", "201"):
                refused[status] = refused.get(status, 0) + 1
                if status not in examples:
                    examples[status] = response.text[:300] if status.isdigit() else status

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    took = time.monotonic() - started
    return {
        "sent": count,
        "accepted": count - sum(refused.values()),
        "refused": refused,
        "refusal_examples": examples,
        "per_s": round(count / took, 1),
        "seconds": round(took, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


def mails(mail_dir: Path) -> list[dict[str, Any]]:
    index = mail_dir / "index.jsonl"
    if not index.exists():
        return []
    return [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]


def wait_for_confirmations(mail_dir: Path, seekers: set[str], since: float, timeout: float) -> dict[str, Any]:
    """Wait until every seeker has an e-mail; e-mail rates from the catcher's own receive times."""
    deadline = time.monotonic() + timeout
    while True:
        caught = [m for m in mails(mail_dir) if _received(m) >= since]
        confirmed = {to for m in caught for to in m["to"] if to in seekers}
        if confirmed >= seekers or time.monotonic() > deadline:
            break
        time.sleep(2)
    times = sorted(_received(m) for m in caught)
    firsts = [min(_received(m) for m in caught if s in m["to"]) for s in confirmed]
    seen: dict[str, int] = {}  # a message's id is derived from its delivery: twice is a duplicate
    for m in caught:
        seen[m["message_id"]] = seen.get(m["message_id"], 0) + 1

    def rate(part: list[float]) -> float | None:
        return (
            round((len(part) - 1) / (part[-1] - part[0]), 1) if len(part) > 1 and part[-1] > part[0] else None
        )

    tenth = max(2, len(times) // 10)
    return {
        "sent": len(times),
        "per_s": rate(times),
        "per_s_first_tenth": rate(times[:tenth]),
        "per_s_last_tenth": rate(times[-tenth:]),
        "seekers_confirmed": len(confirmed),
        "seekers_waiting": len(seekers - confirmed),
        "last_confirmation_s": round(max(firsts) - since, 1) if firsts else None,
        "same_message_twice": sum(n - 1 for n in seen.values() if n > 1),
    }


def _received(mail: dict[str, Any]) -> float:
    return datetime.fromisoformat(mail["received_at"]).timestamp()


# ---------------------------------------------------------------- reads once everything is in


def read_latencies(running: Platform, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = running.url("journeys")
    operator = running.session("basin_operator", "soak-operator@traitdunion.test")
    with httpx.Client(timeout=30) as http:
        for name, path in (("list_by_basin", "/journeys?basin=4410&page_size=50"), ("kpis", "/kpis")):
            samples = []
            for _ in range(rounds):
                began = time.perf_counter()
                response = http.get(f"{base}{path}", headers=operator)
                samples.append(time.perf_counter() - began)
                if response.status_code != 200:
                    failed = f"{path}: {response.status_code} {response.text[:200]}"
                    out.setdefault("errors", []).append(failed)
            out[name] = {
                "p50_ms": round(percentile(samples, 50) * 1000, 1),
                "p99_ms": round(percentile(samples, 99) * 1000, 1),
            }
        total = http.get(f"{base}/journeys?page_size=1", headers=operator).json().get("total")
    out["journeys_stored"] = total
    return out


def cpu_now(running: Platform, store: int | None) -> dict[str, float | None]:
    now = {
        s: cpu_seconds(p.proc.pid if p.proc else None) for s, p in running.processes.items() if s in SERVICES
    }
    return {**now, "store": cpu_seconds(store)}


def cpu_used(before: dict[str, float | None], after: dict[str, float | None], wall: float) -> dict[str, Any]:
    used = {k: round((after[k] or 0) - (before[k] or 0), 1) for k in after if after[k] is not None}
    total = sum(used.values())
    return {
        "seconds": used,
        "wall_s": round(wall, 1),
        "store_share_of_platform": round(used.get("store", 0) / total, 3) if total else None,
        "store_cores": round(used.get("store", 0) / wall, 2) if wall else None,
    }


@app.command()
def main(
    offers: Annotated[int, typer.Option(help="Generated offers in the second import.")] = 5000,
    sessions: Annotated[int, typer.Option(help="Generated sessions in the second catalogue.")] = 500,
    applications: Annotated[int, typer.Option(help="Applications sent after the import.")] = 2000,
    concurrency: Annotated[int, typer.Option(help="Applications under way at once.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for each wait.")] = 900,
    seed: Annotated[int, typer.Option(help="Seed of the generated load.")] = 20261202,
) -> None:
    """Run the soak and print its figures as one JSON object."""
    signal.signal(signal.SIGTERM, _stop)  # stop the platform on a kill too, not only on Ctrl-C
    work = Path(tempfile.mkdtemp(prefix="tdu-soak-"))
    run_id = uuid.uuid4().hex[:8]
    result: dict[str, Any] = {"load": {"offers": offers, "sessions": sessions, "applications": applications}}
    with platform(work / "outbox") as running:
        watch = ReadinessWatch(running)
        watch.start()
        store = store_pid(running.endpoints.mongodb_url)

        log("importing the demo")
        generate(work / "demo", offers=800, sessions=120, first=1, seed=20261122)
        started = time.monotonic()
        result["demo"] = import_through_cli(running, work / "demo", "demo-carif-grand-est")
        result["demo"].update(asyncio.run(search_catch_up(running, started, timeout, quiet_s=10))[0])
        log(f"demo searchable: {result['demo']}")

        log(f"importing {sessions} sessions and {offers} offers on top of it")
        generate(work / "load", offers=offers, sessions=sessions, first=LOAD_FIRST_NUMBER, seed=seed)
        cpu_before, wall_before = cpu_now(running, store), time.monotonic()
        started = time.monotonic()
        result["import"] = import_through_cli(running, work / "load", "soak-carif-grand-est")
        search, searchable = asyncio.run(search_catch_up(running, started, timeout, quiet_s=15))
        result["search"] = search
        log(f"search: {search}")

        # Applications go to the new offers (numbered from LOAD_FIRST_NUMBER), else to any shown.
        eligible = sorted(o for o in searchable if o.startswith("DEMO1")) or sorted(searchable)
        log(f"sending {applications} applications, {concurrency} at a time")
        since = time.time()
        result["applications"] = asyncio.run(apply_all(running, eligible, applications, concurrency, run_id))
        log(f"applications: {result['applications']}")
        seekers = {seeker_email(n) for n in range(applications)}
        result["emails"] = wait_for_confirmations(running.mail_dir, seekers, since, timeout)
        log(f"e-mails: {result['emails']}")
        result["journeys"] = read_latencies(running, rounds=50)
        result["cpu"] = cpu_used(cpu_before, cpu_now(running, store), time.monotonic() - wall_before)
        watch.stopping.set()
        watch.join()
        result["not_ready"] = watch.failures
        result["readiness_polls"] = watch.polls
    typer.echo(json.dumps(result, ensure_ascii=False))


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    app()

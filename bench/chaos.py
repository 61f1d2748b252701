"""Fault-injection run (``make chaos``): the whole platform under a realistic load while its parts fail,
checked afterwards against a clean run of the same load.

    uv run python bench/chaos.py                       # a random seed, printed
    uv run python bench/chaos.py --seed 4242           # replays that run's faults
    uv run python bench/chaos.py --offers 2000 --journeys 200   # smaller, for a quick look

Starts its own three-node Kafka cluster (SASL, every topic at replication factor 3, ``min.insync.replicas``
2) and its own local store (FerretDB), under ``.cache/chaos/`` and on ports of its own, so it never touches
``make run`` or the tests. On them, the five services as processes, with a second instance of matching and
of notifications (same consumer groups, as a second pod), the mail catcher (keeping every copy, no
deduplication) and the SMS provider stand-in.

The load goes through the public interfaces only: an LHEO catalogue (``--sessions`` region-funded sessions)
and ``--offers`` France Travail offers (the 521 real ones plus generated ones) through the services' import
commands, a refresh of the catalogue (a tenth of its formations gone), then ``--journeys`` journeys over
HTTP, each taken through its own script by the people it belongs to (seeker, employer, provider, operator):
hired and followed up, declined, declined after a bad immersion, abandoned, corrected by an operator,
left under way; some seekers change their e-mail and phone, some erase themselves at the end. Every call is
sent again with the same idempotency key until it is answered, as a front end does.

The load runs twice on the same cluster and store: once clean (no fault), then with faults injected at
seeded moments spread over the clean run's duration: ``kill -9`` of each service (then restarted), of one
broker (restarted), a stop and restart of the store, a service paused (SIGSTOP) past its Kafka session
timeout, plus a few more drawn at random. The clean run's observations are kept in
``.cache/chaos/clean-<load>.json`` and reused by later runs of the same load on the same day (after a change
to the services, ``--fresh-clean`` runs it again).

Once quiet, it prints one JSON line: the seed, the faults injected, and each invariant — offers stored vs
expected, eligibility results that differ from the clean run, each journey's final state vs its script,
e-mails and SMS per (recipient, subject or text, channel) missing or duplicated (a resend with the same
Message-ID, which a deduplicating relay drops, is counted apart: the README's known limit), dead letters
not in the clean run, personal data of erased people left in any collection of any service. Exit 1 on any
violation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import MongoClient

from tdu_dev.infra.kafka_acl import load_users
from tdu_dev.infra.local import Endpoints, LocalInfra
from tdu_dev.infra.paths import Paths
from tdu_dev.infra.platform import SERVICES, Platform
from tdu_dev.infra.servers import kafka_ready, mongo_ready
from tdu_dev.testing.platform import FAST_TEST_ENV, running_platform
from tdu_dev.testing.privacy import personal_data_left
from tdu_dev.testing.processes import free_port
from tdu_shared import kafka_auth
from tdu_shared.envelope import decode_event
from tdu_shared.kafka_auth import connection
from tdu_shared.topics import ALL_TOPICS, JOURNEYS_EVENTS, MATCHING_ELIGIBILITY, Topics

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

REPLICATED = ("matching", "notifications")
"""Services run as two instances (one consumer group), so a paused one's partitions move to the other."""
CHAOS_ENV = {
    **FAST_TEST_ENV,
    "DAILY_CAP": "100000",  # employers get one e-mail per application: no cap in the way of the counts
    "DELIVERY_LEASE_S": "30",  # a delivery claimed by a killed instance is taken back after 30 s
}
STEP_TIMEOUT_S = 600
"""How long one call of the load is sent again before it counts as failed."""
QUIET_S = 45
"""Nothing new (e-mails, SMS, events, eligibility) for this long, every service ready: the run is over."""


def log(message: str) -> None:
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


# ---------------------------------------------------------------- the load


OBSERVATIONS_VERSION = 2
"""Changes with what the observations count (2: whole SMS rather than their parts): a clean run kept from
before is not compared with them."""


@dataclass(frozen=True)
class Load:
    offers: int
    sessions: int
    journeys: int
    concurrency: int

    def signature(self) -> str:
        """Same load on the same day (the scripts' dates are relative to it): the clean run's observations
        still hold. After a change to the services, run with ``--fresh-clean``."""
        text = json.dumps([asdict(self), date.today().isoformat(), OBSERVATIONS_VERSION])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class DataFiles:
    catalogue: Path
    refresh: Path
    offer_chunks: list[Path]
    offer_ids: list[str]


def prepare_data(folder: Path, load: Load) -> DataFiles:
    """The demo generator's catalogue and offers (fixed seed); the refresh drops every tenth formation;
    the offers go in files of 2,000, imported one after the other."""
    folder.mkdir(parents=True, exist_ok=True)
    script = Paths.discover().root / "deploy" / "demo" / "generate.py"
    args = ["--out", str(folder), "--offers", str(load.offers - 521), "--sessions", str(load.sessions)]
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"generate.py failed:\n{done.stderr[-2000:]}")
    catalogue = folder / "catalogue.xml"
    text = catalogue.read_text(encoding="utf-8")
    formations = re.findall(r"<formation\b.*?</formation>\n?", text, flags=re.S)
    kept = "".join(f for n, f in enumerate(formations) if n % 10 != 3)
    head, tail = text.split(formations[0], 1)[0], text.rsplit(formations[-1], 1)[1]
    refresh = folder / "catalogue-refresh.xml"
    refresh.write_text(head + kept + tail, encoding="utf-8")
    offers = json.loads((folder / "offers.json").read_text(encoding="utf-8"))
    chunks = []
    for start in range(0, len(offers), 2000):
        chunk = folder / f"offers-{start // 2000:02d}.json"
        chunk.write_text(json.dumps(offers[start : start + 2000], ensure_ascii=False), encoding="utf-8")
        chunks.append(chunk)
    return DataFiles(catalogue, refresh, chunks, [str(o["id"]) for o in offers])


# ------------------------------------------------------------ journeys' scripts


@dataclass(frozen=True)
class Step:
    path: str
    """``apply``, ``contact``, ``erase``, or an action's path under /journeys/{id}/."""
    role: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Script:
    kind: str
    steps: list[Step]
    final_state: str
    erased: bool


def seeker_email(n: int, changed: bool = False) -> str:
    return f"chaos.{n:05d}{'.nouveau' if changed else ''}@exemple.fr"


def seeker_phone(n: int, changed: bool = False) -> str:
    return f"{'07' if changed else '06'}{10_000_000 + n:08d}"


def script_of(n: int) -> Script:
    """Journey ``n``'s script, by ``n`` modulo 20: 8 hired, 4 declined, 3 abandoned, 2 corrected, 3 left
    under way; every seventh seeker changes e-mail and phone after applying, every eleventh erases
    themself at the end."""
    today = date.today()

    def day(days: int) -> str:
        return (today + timedelta(days=days)).isoformat()

    schedule = Step(
        "schedule-immersion", "employer", {"starts_on": day(5), "ends_on": day(7), "place": "Metz"}
    )
    good = Step("immersion-outcome", "employer", {"outcome": "positive"})
    bad = Step("immersion-outcome", "employer", {"outcome": "negative"})
    cdi = {"contract_type": "CDI", "planned_start": day(250), "position": "Poste après formation"}
    promise = Step("hiring-promise", "employer", cdi)
    commit = Step("training-commitment", "seeker")
    start = Step("training-start", "provider", {"started_on": day(60)})
    complete = Step("training-completion", "provider", {"completed_on": day(180), "certified": True})
    hire = Step("hire", "employer", {"contract_start": day(181), "contract_type": "CDI"})
    follow_up = Step("follow-up", "employer", {"months": 6, "employed": True})
    decline = Step("decline", "employer", {"reason": "Profil éloigné du poste"})
    abandon = Step("abandon", "seeker", {"reason": "Déménagement"})
    correct = Step("correction", "operator", {"to_state": "immersion_scheduled", "reason": "Saisie erronée"})
    reschedule = Step(
        "reschedule-immersion",
        "seeker",
        {"starts_on": day(8), "ends_on": day(9), "place": "Metz", "reason": "Rendez-vous médical"},
    )
    kinds: dict[int, tuple[str, list[Step], str]] = {}
    for k in range(8):
        kinds[k] = (
            "hired",
            [schedule, good, promise, commit, start, complete, hire, follow_up],
            "followed_up_6m",
        )
    kinds[8] = kinds[9] = kinds[10] = ("declined", [decline], "declined")
    kinds[11] = ("declined_after_immersion", [schedule, bad, decline], "declined")
    kinds[12] = ("abandoned", [schedule, abandon], "abandoned")
    kinds[13] = ("abandoned", [schedule, good, abandon], "abandoned")
    kinds[14] = ("abandoned", [schedule, good, promise, abandon], "abandoned")
    kinds[15] = kinds[16] = ("corrected", [schedule, good, correct, good, promise, commit], "committed")
    kinds[17] = ("under_way", [schedule, good, promise, commit, start], "training_started")
    kinds[18] = ("under_way", [schedule, good, commit, promise], "committed")
    kinds[19] = ("under_way", [schedule, reschedule], "immersion_scheduled")
    kind, steps, final = kinds[n % 20]
    steps = [Step("apply", "seeker"), *steps]
    if n % 7 == 3:
        contact = {"email": seeker_email(n, True), "phone": seeker_phone(n, True)}
        steps.insert(1, Step("contact", "seeker", contact))
    erased = n % 11 == 5
    if erased:
        steps.append(Step("erase", "seeker"))
    return Script(kind, steps, final, erased)


# ---------------------------------------------------------------- calls that retry


class Caller:
    """HTTP calls sent again (same idempotency key) while the answer is a network error, a 5xx, 429, a 409
    asking to try again (a journey changing under a concurrent write; not a refused step) or a refusal
    ``retry_on`` accepts, until ``STEP_TIMEOUT_S``."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.retries = 0

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(timeout=30)
        client: httpx.Client = self.local.client
        return client

    def call(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
        *,
        retry_on: Callable[[httpx.Response], bool] = lambda r: False,
    ) -> httpx.Response:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            try:
                answer = self.client().request(method, url, json=body, headers=headers)
                if answer.status_code < 500 and not _try_again(answer) and not retry_on(answer):
                    return answer
                problem = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {url}: {problem}")
            self.retries += 1
            time.sleep(1.0)


def _try_again(answer: httpx.Response) -> bool:
    """429, or a 409 that is not a refused step (those name the ``allowed_actions``)."""
    if answer.status_code == 429:
        return True
    return answer.status_code == 409 and "allowed_actions" not in answer.text


@dataclass
class JourneyRun:
    n: int
    script: Script
    journey_id: str | None = None
    error: str | None = None


class Driver:
    """The load through the public interfaces: imports by the services' commands, journeys over HTTP."""

    def __init__(self, platform: Platform, load: Load) -> None:
        self.platform = platform
        self.load = load
        self.caller = Caller()
        self.done = 0
        self.lock = threading.Lock()

    def cli(self, service: str, args: list[str]) -> dict[str, Any]:
        """A command, run again until it succeeds (the store or a broker may be down for a while)."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            result = self.platform.run_cli(service, args, timeout=900)
            if result.returncode == 0:
                report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
                return report
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} {' '.join(args)} kept failing:\n{result.stderr[-1500:]}")
            log(f"{service} {args[0]} failed (exit {result.returncode}), again in 5 s")
            time.sleep(5)

    def imports(self, data: DataFiles) -> None:
        catalogue = self.cli("trainings", ["import", str(data.catalogue), "--source", "chaos", "--json"])
        log(f"catalogue: {catalogue}")
        for n, chunk in enumerate(data.offer_chunks, 1):
            report = self.cli("offers", ["import", str(chunk), "--json"])
            log(f"offers {n}/{len(data.offer_chunks)}: {report}")
        log(f"refresh: {self.cli('trainings', ['import', str(data.refresh), '--source', 'chaos', '--json'])}")

    def journeys(self, offers: list[str]) -> list[JourneyRun]:
        runs = [JourneyRun(n, script_of(n)) for n in range(self.load.journeys)]
        with ThreadPoolExecutor(max_workers=self.load.concurrency) as pool:
            list(pool.map(lambda r: self.one(r, offers[r.n % len(offers)]), runs))
        return runs

    def one(self, run: JourneyRun, offer_id: str) -> None:
        try:
            self.walk(run, offer_id)
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        with self.lock:
            self.done += 1

    def walk(self, run: JourneyRun, offer_id: str) -> None:
        n, p = run.n, self.platform
        journeys = p.url("journeys")
        seeker = p.session("seeker", f"chaos-seeker-{n}")
        journey: dict[str, Any] = {}
        for index, step in enumerate(run.script.steps):
            key = {"Idempotency-Key": f"chaos-{n}-{index}"}
            if step.path == "apply":
                application = {
                    "offer_id": offer_id,
                    "first_name": "Dominique",
                    "last_name": f"Chaos{n:05d}",
                    "email": seeker_email(n),
                    "phone": seeker_phone(n),
                    "postal_code": "57000",
                    "consent_email": True,
                    "consent_sms": n % 3 == 0,
                }
                # Refused until journeys has seen the offer's eligibility: sent again, as a front end does.
                answer = self.caller.call(
                    "POST",
                    f"{journeys}/journeys",
                    {**seeker, **key},
                    application,
                    retry_on=lambda r: r.status_code >= 400,
                )
            elif step.path == "contact":
                answer = self.caller.call(
                    "PATCH", f"{journeys}/contacts/{journey['seeker_id']}", seeker, step.body
                )
            elif step.path == "erase":
                answer = self.caller.call("DELETE", f"{journeys}/contacts/{journey['seeker_id']}", seeker)
            else:
                body = dict(step.body)
                if step.path == "training-commitment":
                    body["session_id"] = self.nearest_session(offer_id)
                who = self.credential(step.role, journey, seeker)
                url = f"{journeys}/journeys/{journey['journey_id']}/{step.path}"
                answer = self.caller.call("POST", url, {**who, **key}, body)
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"step {index} {step.path}: {answer.status_code} {answer.text[:300]}")
            if step.path not in ("contact", "erase"):
                journey = answer.json()
                run.journey_id = journey["journey_id"]

    def credential(self, role: str, journey: dict[str, Any], seeker: dict[str, str]) -> dict[str, str]:
        """The person whose step it is; an employer or provider the platform has no address for (some real
        offers give none) is acted for by the basin's operator, as the operators do."""
        p = self.platform
        if role == "seeker":
            return seeker
        if role == "employer" and journey.get("employer_id"):
            return p.session("employer", journey["employer_id"])
        if role == "provider" and journey.get("provider_id"):
            return p.session("training_provider", journey["provider_id"])
        return p.session("basin_operator", "operateur.chaos@traitdunion.test", basins=[journey["basin"]])

    def nearest_session(self, offer_id: str) -> str:
        url = f"{self.platform.url('matching')}/search/offers/{offer_id}"
        answer = self.caller.call("GET", url, {})
        if answer.status_code != 200:
            raise RuntimeError(f"search for offer {offer_id}: {answer.status_code} {answer.text[:200]}")
        session_id: str = answer.json()["sessions"][0]["session_id"]
        return session_id


# ---------------------------------------------------------------- faults


@dataclass
class Fault:
    at_s: float
    kind: str
    """kill (a service instance, SIGKILL), broker (SIGKILL), store (stop), pause (SIGSTOP)."""
    target: str
    hold_s: float
    """How long it stays down (or paused) before it is started again (or continued)."""
    started_s: float | None = None
    recovered_s: float | None = None
    error: str | None = None


def plan_faults(seed: int, window_s: float, instances: list[str]) -> list[Fault]:
    """At least one kill of each service, one broker kill, one store stop, one pause past the Kafka session
    timeout (10 s); two to four more of any kind; at random moments of the window, from the seed."""
    rng = random.Random(seed)
    kinds: list[tuple[str, str]] = [
        ("kill", rng.choice([i for i in instances if i.split("-")[0] == s])) for s in SERVICES
    ]
    kinds += [("broker", f"kafka-cluster-{rng.randint(1, 3)}"), ("store", "ferretdb")]
    kinds += [("pause", rng.choice(instances))]
    for _ in range(rng.randint(2, 4)):
        kind = rng.choice(["kill", "kill", "broker", "store", "pause"])
        target = {"broker": f"kafka-cluster-{rng.randint(1, 3)}", "store": "ferretdb"}.get(
            kind, rng.choice(instances)
        )
        kinds.append((kind, target))
    rng.shuffle(kinds)
    moments = sorted(rng.uniform(0.03, 0.85) * window_s for _ in kinds)
    hold = {"kill": (1, 8), "broker": (10, 40), "store": (5, 20), "pause": (15, 25)}
    return [
        Fault(round(at, 1), kind, target, round(rng.uniform(*hold[kind]), 1))
        for at, (kind, target) in zip(moments, kinds, strict=True)
    ]


class Injector(threading.Thread):
    """Injects the planned faults in order, each at its moment (or right after the previous one ended)."""

    def __init__(
        self, platform: Platform, infra: LocalInfra, endpoints: Endpoints, faults: list[Fault]
    ) -> None:
        super().__init__(daemon=True)
        self.platform, self.infra, self.endpoints, self.faults = platform, infra, endpoints, faults
        self.started = time.monotonic()
        self.busy = threading.Event()

    def run(self) -> None:
        for fault in self.faults:
            time.sleep(max(0.0, self.started + fault.at_s - time.monotonic()))
            self.busy.set()
            fault.started_s = round(time.monotonic() - self.started, 1)
            log(f"fault: {fault.kind} {fault.target} for {fault.hold_s} s")
            try:
                self.inject(fault)
            except Exception as exc:
                fault.error = f"{type(exc).__name__}: {str(exc)[:300]}"
                log(f"fault {fault.kind} {fault.target} could not recover: {fault.error}")
            fault.recovered_s = round(time.monotonic() - self.started, 1)
            self.busy.clear()

    def inject(self, fault: Fault) -> None:
        if fault.kind in ("kill", "pause"):
            process = self.platform.processes[fault.target]
            assert process.proc is not None
            if fault.kind == "pause":
                os.killpg(process.proc.pid, signal.SIGSTOP)
                time.sleep(fault.hold_s)
                os.killpg(process.proc.pid, signal.SIGCONT)
                return
            process.kill()
            time.sleep(fault.hold_s)
            process.start(ready_timeout=300)
        elif fault.kind == "broker":
            [node] = [s for s in self.infra.cluster() if s.name == fault.target]
            pid = node.pid()
            assert pid is not None, f"{node.name} is not running"
            os.killpg(pid, signal.SIGKILL)
            time.sleep(fault.hold_s)
            node.start()
            admin = self.endpoints.kafka_auth()
            bootstrap = self.endpoints.kafka_bootstrap_servers
            node.wait_ready(lambda: kafka_ready(bootstrap, expected_brokers=3, auth=admin), 180)
        else:
            store = self.infra.ferretdb()
            store.stop()
            time.sleep(fault.hold_s)
            store.start()
            store.wait_ready(lambda: mongo_ready(self.endpoints.mongodb_url), 120)


# ---------------------------------------------------------------- observations


async def _partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**connection(bootstrap))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if not t.get("error_code")
        for p in t["partitions"]
    ]


async def _end_offsets(bootstrap: str, topics: list[str]) -> dict[str, int]:
    partitions = await _partitions(bootstrap, topics)
    consumer = AIOKafkaConsumer(**connection(bootstrap), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await consumer.stop()
    totals = dict.fromkeys(topics, 0)
    for tp, offset in ends.items():
        totals[tp.topic] += offset
    return totals


async def _lag(bootstrap: str, prefix: str) -> int:
    """Records not yet consumed by this platform's consumer groups (their ids start with its topic prefix):
    committed offsets against the partitions' ends."""
    admin = AIOKafkaAdminClient(**connection(bootstrap))
    await admin.start()
    try:
        # A per-instance group (a random 12-hex suffix, for what every instance reads whole) of an instance
        # that was killed stays behind with its last offsets: not counted.
        groups = [
            g[0]
            for g in await admin.list_consumer_groups()
            if str(g[0]).startswith(prefix) and not re.search(r"-[0-9a-f]{12}$", str(g[0]))
        ]
        committed = {}
        for group in groups:
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items():
                committed[(group, tp)] = meta.offset
    finally:
        await admin.close()
    partitions = sorted({tp for _, tp in committed})
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(**connection(bootstrap), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return sum(max(0, ends[tp] - offset) for (_, tp), offset in committed.items() if offset >= 0)


async def _latest_eligibility(bootstrap: str, topic: str) -> dict[str, list[Any]]:
    """The last eligibility matching published for each offer: [eligible, linked session ids]."""
    partitions = await _partitions(bootstrap, [topic])
    consumer = AIOKafkaConsumer(**connection(bootstrap), group_id=None, enable_auto_commit=False)
    await consumer.start()
    latest: dict[str, list[Any]] = {}
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for record in records:
                    payload = decode_event(record.value).payload
                    sessions = sorted(s.session_id for s in payload.linked_sessions)
                    latest[payload.offer_id] = [payload.eligible, sessions]
    finally:
        await consumer.stop()
    return latest


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def person(address: str) -> str:
    """A seeker's e-mail address or phone number, old or new, is the seeker; anyone else is their address."""
    if found := re.match(r"chaos\.(\d{5})(\.nouveau)?@", address):
        return f"seeker-{int(found.group(1))}"
    digits = re.sub(r"\D", "", address)
    if len(digits) >= 9 and digits[-9] in "67" and digits[-8:].startswith("1"):
        return f"seeker-{int(digits[-8:]) - 10_000_000}"
    return address


def messages(platform: Platform) -> dict[str, Any]:
    """E-mails per (person, subject): distinct Message-IDs, and copies; SMS per (person, text, no links)."""
    distinct: Counter[str] = Counter()
    copies: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for mail in _lines(platform.mail_dir / "index.jsonl"):
        for to in mail["to"]:
            key = f"email|{person(to)}|{mail['subject']}"
            copies[key] += 1
            if (to, mail["message_id"]) not in seen:
                seen.add((to, mail["message_id"]))
                distinct[key] += 1
    sms: Counter[str] = Counter()
    for recipient, content in sms_messages(_lines(platform.sms_file)):
        without_links = re.sub(r"https?://\S+", "<lien>", content)
        sms[f"sms|{person(recipient)}|{without_links}"] += 1
    return {"email": dict(distinct), "email_copies": dict(copies), "sms": dict(sms)}


def sms_messages(parts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Whole SMS (recipient, text) from the parts the provider received: the parts of one message share its
    tag and end in ``(i/n)``; a part sent twice counts twice. Counted per part, the last part of two
    different messages (often the link alone) would look like one message sent twice."""
    messages: dict[tuple[str, str], list[list[str]]] = {}
    for part in parts:
        found = re.search(r"\s*\((\d+)/(\d+)\)$", part["content"])
        index = int(found.group(1)) if found else 1
        text = part["content"][: found.start()] if found else part["content"]
        copies = messages.setdefault((part["recipient"], part.get("tag") or text), [])
        if not copies or (index <= len(copies[-1]) and copies[-1][index - 1]):  # that part again: a copy
            copies.append([])
        copy = copies[-1]
        copy.extend([""] * (index - len(copy)))
        copy[index - 1] = text
    return [(recipient, " ".join(copy)) for (recipient, _), copies in messages.items() for copy in copies]


def offers_stored(platform: Platform) -> int:
    """Offers in the offers service's store (read there: its list API counts and sorts the whole collection
    on the local store, over 30 s at 20,000 offers under load)."""
    client: MongoClient[dict[str, Any]] = MongoClient(platform.endpoints.mongodb_url)
    try:
        return client[f"{platform.database_prefix}offers"]["offers"].count_documents({})
    finally:
        client.close()


def wait_quiet(platform: Platform, busy: Callable[[], bool], timeout: float = 1800) -> float:
    """Until nothing new happens for ``QUIET_S`` (e-mails, SMS, events, eligibility), every consumer group
    has read everything, every service and instance is ready and no fault is under way; the seconds it
    took."""
    topics = Topics(platform.topic_prefix)
    watched = [topics.name(JOURNEYS_EVENTS), topics.name(MATCHING_ELIGIBILITY)]
    bootstrap = platform.endpoints.kafka_bootstrap_servers
    started = time.monotonic()
    last, since = None, time.monotonic()
    while time.monotonic() - started < timeout:
        ready = all(
            _ready(f"http://127.0.0.1:{process.port}")
            for process in platform.processes.values()
            if process.port is not None
        )
        now = (
            len(_lines(platform.mail_dir / "index.jsonl")),
            len(_lines(platform.sms_file)),
            tuple(asyncio.run(_end_offsets(bootstrap, watched)).values()),
        )
        try:  # every consumer group has read everything (a stalled one keeps e-mails waiting)
            lag = asyncio.run(_lag(bootstrap, platform.topic_prefix))
        except Exception:
            lag = -1
        if now != last or not ready or busy() or lag != 0:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET_S:
            return round(time.monotonic() - started, 1)
        time.sleep(3)
    raise TimeoutError(f"the platform did not go quiet within {timeout:.0f} s")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def observe(platform: Platform, runs: list[JourneyRun], data: DataFiles) -> dict[str, Any]:
    operator = platform.session("basin_operator", "operateur.chaos@traitdunion.test")
    caller = Caller()
    states: dict[str, str | None] = {}
    for run in runs:
        if run.journey_id is None:
            states[str(run.n)] = None
            continue
        answer = caller.call("GET", f"{platform.url('journeys')}/journeys/{run.journey_id}", operator)
        states[str(run.n)] = (
            answer.json()["state"] if answer.status_code == 200 else f"HTTP {answer.status_code}"
        )
    topics = Topics(platform.topic_prefix)
    bootstrap = platform.endpoints.kafka_bootstrap_servers
    dlqs = [topics.dlq(spec) for spec in ALL_TOPICS]
    erased = [r.n for r in runs if r.script.erased]
    needles = [
        s
        for n in erased
        for s in (
            seeker_email(n),
            seeker_email(n, True),
            f"Chaos{n:05d}",
            seeker_phone(n)[1:],
            seeker_phone(n, True)[1:],
        )
    ]
    checks: dict[str, Callable[[], Any]] = {
        "offers_stored": lambda: offers_stored(platform),
        "eligibility": lambda: asyncio.run(_latest_eligibility(bootstrap, topics.name(MATCHING_ELIGIBILITY))),
        "messages": lambda: messages(platform),
        "dead_letters": lambda: asyncio.run(_end_offsets(bootstrap, dlqs)),
        "personal_data_of_erased": lambda: personal_data_left(platform, needles),
    }
    seen: dict[str, Any] = {
        "offers_expected": len(set(data.offer_ids)),
        "journeys": states,
        "journey_errors": {str(r.n): r.error for r in runs if r.error},
        "erased": [f"seeker-{n}" for n in erased],
        "observation_errors": {},
    }
    for name, check in checks.items():  # one that fails is reported, and the others still read
        try:
            seen[name] = check()
        except Exception as exc:
            seen["observation_errors"][name] = f"{type(exc).__name__}: {str(exc)[:300]}"
            log(f"could not observe {name}: {exc!r}")
    return seen


# ---------------------------------------------------------------- one run, and the comparison


@dataclass(frozen=True)
class Setting:
    infra: LocalInfra
    endpoints: Endpoints
    data: DataFiles
    load: Load
    state: Path


def one_run(setting: Setting, name: str, offers: list[str] | None, faults: list[Fault]) -> dict[str, Any]:
    """The load on a fresh platform (topics and databases of its own); ``offers``: where the journeys apply
    (none: the eligible offers this run finds, as the clean run does)."""
    outbox = setting.state / f"{name}-outbox"
    shutil.rmtree(outbox, ignore_errors=True)
    with running_platform(
        setting.endpoints,
        outbox,
        extra_env=CHAOS_ENV,
        ready_timeout=300,
        prefix=name,
        paths=setting.infra.paths,
        replication_factor=3,
        mail_dedupe=False,
    ) as platform:
        for service in REPLICATED:
            platform.start_replica(service, 2, free_port(), ready_timeout=300)
        driver = Driver(platform, setting.load)
        injector = Injector(platform, setting.infra, setting.endpoints, faults)
        progress = Progress(driver, injector, setting.load)
        started = time.monotonic()
        injector.start()
        progress.start()
        driver.imports(setting.data)
        if offers is None:  # the clean run: where to apply, once matching is done with the imports
            waited = wait_quiet(platform, injector.busy.is_set)
            log(f"imports done and quiet ({waited} s of waiting)")
            bootstrap = setting.endpoints.kafka_bootstrap_servers
            topic = Topics(platform.topic_prefix).name(MATCHING_ELIGIBILITY)
            latest = asyncio.run(_latest_eligibility(bootstrap, topic))
            eligible = sorted(o for o, (ok, _) in latest.items() if ok)
            step = max(1, len(eligible) // setting.load.journeys)
            offers = eligible[::step][: setting.load.journeys]
        # (with faults, the journeys start at once: an application is sent again until its offer is known)
        log(f"{setting.load.journeys} journeys on {len(offers)} offers, {setting.load.concurrency} at a time")
        runs = driver.journeys(offers)
        load_s = round(time.monotonic() - started, 1)
        injector.join()
        quiet_s = wait_quiet(platform, injector.busy.is_set)
        progress.stop()
        log(f"load done in {load_s} s, quiet {quiet_s} s later; observing")
        seen = observe(platform, runs, setting.data)
        seen |= {
            "load_s": load_s,
            "quiet_s": quiet_s,
            "offers_applied": offers,
            "retries": driver.caller.retries,
        }
        return seen


class Progress(threading.Thread):
    """A line on stderr every 15 s: journeys done, faults injected, calls sent again."""

    def __init__(self, driver: Driver, injector: Injector, load: Load) -> None:
        super().__init__(daemon=True)
        self.driver, self.injector, self.load = driver, injector, load
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(15):
            faults = sum(f.recovered_s is not None for f in self.injector.faults)
            log(
                f"progress: journeys {self.driver.done}/{self.load.journeys}, faults {faults}/"
                f"{len(self.injector.faults)}, calls sent again {self.driver.caller.retries}"
            )

    def stop(self) -> None:
        self.stopping.set()


def _unerased_peers(key: str, sent: dict[str, int], erased: set[str]) -> int:
    """The most messages of ``key``'s channel and subject that a seeker of the same script (``n`` modulo
    20: see ``script_of``) who is not erased received; 1 for anyone else. A corrected journey's seeker is
    told "Immersion terminée" twice: once per ImmersionCompleted."""
    channel, who, subject = key.split("|", 2)
    found = re.fullmatch(r"seeker-(\d+)", who)
    if found is None:
        return 1
    n = int(found.group(1))
    peers = [
        count
        for other, count in sent.items()
        if (parts := other.split("|", 2))[0] == channel
        and parts[2] == subject
        and parts[1] not in erased
        and (m := re.fullmatch(r"seeker-(\d+)", parts[1])) is not None
        and int(m.group(1)) % 20 == n % 20
    ]
    return max(peers, default=1)


def compare(clean: dict[str, Any], chaos: dict[str, Any], runs_expected: dict[str, str]) -> dict[str, Any]:
    erased = set(chaos["erased"])
    for side in (clean, chaos):
        for name, empty in (("eligibility", {}), ("messages", {"email": {}, "email_copies": {}, "sms": {}})):
            side.setdefault(name, empty)
        side.setdefault("dead_letters", {})
    eligibility_diff = sorted(
        o
        for o in set(clean["eligibility"]) | set(chaos["eligibility"])
        if clean["eligibility"].get(o) != chaos["eligibility"].get(o)
    )
    wrong_state = {
        n: {"expected": expected, "got": chaos["journeys"].get(n)}
        for n, expected in runs_expected.items()
        if chaos["journeys"].get(n) != expected
    }
    missing, duplicated = {}, {}
    for channel in ("email", "sms"):
        before, after = clean["messages"][channel], chaos["messages"][channel]
        for key in set(before) | set(after):
            got, want = after.get(key, 0), before.get(key, 0)
            who = key.split("|")[1]
            # an erased person's messages depend on when the erasure lands: only more than a person of
            # the same script who is not erased gets is a duplicate
            if got > (max(want, _unerased_peers(key, before, erased)) if who in erased else want):
                duplicated[key] = {"clean": want, "chaos": got}
            elif got < want and who not in erased:
                missing[key] = {"clean": want, "chaos": got}
    resent = {
        k: n - chaos["messages"]["email"].get(k, 0)
        for k, n in chaos["messages"]["email_copies"].items()
        if n > chaos["messages"]["email"].get(k, 0)
    }
    unexpected_dlq = {
        t: n
        for t, n in chaos["dead_letters"].items()
        if n > clean["dead_letters"].get(_clean_topic(t, clean), 0)
    }
    return {
        "offers": {
            "expected": chaos["offers_expected"],
            "stored": chaos.get("offers_stored"),
            "clean": clean.get("offers_stored"),
        },
        "eligibility_differences": len(eligibility_diff),
        "eligibility_difference_examples": eligibility_diff[:5],
        "journeys_wrong_state": len(wrong_state),
        "journeys_wrong_state_examples": dict(list(wrong_state.items())[:5]),
        "journey_errors": len(chaos["journey_errors"]),
        "journey_error_examples": dict(list(chaos["journey_errors"].items())[:3]),
        "messages_missing": len(missing),
        "messages_missing_examples": dict(list(missing.items())[:5]),
        "messages_duplicated": len(duplicated),
        "messages_duplicated_examples": dict(list(duplicated.items())[:5]),
        "emails_resent_same_message_id": sum(resent.values()),
        "dead_letters_unexpected": unexpected_dlq,
        "personal_data_of_erased": chaos.get("personal_data_of_erased", {}),
        "observation_errors": {
            "clean": clean.get("observation_errors", {}),
            "chaos": chaos["observation_errors"],
        },
    }


def _clean_topic(topic: str, clean: dict[str, Any]) -> str:
    """The clean run's name of the same topic (each run has its own prefix)."""
    suffix = topic.split(".", 1)[1]
    return next((t for t in clean["dead_letters"] if t.split(".", 1)[1] == suffix), topic)


def violations(result: dict[str, Any]) -> list[str]:
    found = []
    if result["offers"]["stored"] != result["offers"]["expected"]:
        found.append("offers")
    for name in (
        "eligibility_differences",
        "journeys_wrong_state",
        "journey_errors",
        "messages_missing",
        "messages_duplicated",
    ):
        if result[name]:
            found.append(name)
    if result["dead_letters_unexpected"]:
        found.append("dead_letters_unexpected")
    if result["personal_data_of_erased"]:
        found.append("personal_data_of_erased")
    if any(result["observation_errors"].values()):
        found.append("observation_errors")
    return found


# ---------------------------------------------------------------- infrastructure of its own


@dataclass(frozen=True)
class StatePaths(Paths):
    """The checkout's downloads and builds (Kafka's jars, FerretDB), with servers' state and logs apart."""

    state: Path = Path(".cache/chaos")

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"


@contextmanager
def own_infrastructure(
    state: Path, cluster_port: int, mongo_port: int
) -> Iterator[tuple[LocalInfra, Endpoints]]:
    root = Paths.discover().root
    shutil.rmtree(state / "run", ignore_errors=True)
    infra = LocalInfra(paths=StatePaths(root, state), mongo_port=mongo_port, cluster_port=cluster_port)
    try:
        infra.install()
        log("three-node Kafka cluster and the local store (own ports, .cache/chaos)")
        store = infra.ferretdb()
        store.start()
        bootstrap = infra.start_cluster(timeout=300)
        url = f"mongodb://127.0.0.1:{mongo_port}/"
        store.wait_ready(lambda: mongo_ready(url), 120)
        users = tuple(sorted(load_users(infra.paths.run).items()))
        endpoints = Endpoints(bootstrap, url, users)
        kafka_auth.use(endpoints.kafka_auth())
        yield infra, endpoints
    finally:
        infra.stop()


# ---------------------------------------------------------------- the command


def head(root: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


@app.command()
def main(
    seed: Annotated[
        int | None, typer.Option(help="Replays a run's faults (default: a random seed, printed).")
    ] = None,
    offers: Annotated[int, typer.Option(help="France Travail offers (the 521 real ones included).")] = 20_000,
    sessions: Annotated[int, typer.Option(help="Region-funded sessions in the LHEO catalogue.")] = 300,
    journeys: Annotated[int, typer.Option(help="Journeys taken through their scripts.")] = 2_000,
    concurrency: Annotated[int, typer.Option(help="Journeys under way at once.")] = 16,
    fresh_clean: Annotated[bool, typer.Option(help="Run the clean run again even if it is kept.")] = False,
    window_s: Annotated[
        float | None,
        typer.Option(help="Seconds over which the faults are drawn (default: the clean run's duration)."),
    ] = None,
    cluster_port: Annotated[int, typer.Option(help="First port of the three brokers.")] = 29192,
    mongo_port: Annotated[int, typer.Option(help="Port of the run's own local store.")] = 47017,
) -> None:
    """A seeded fault-injection run checked against a clean run of the same load; one JSON line on stdout."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    log(f"seed {seed} (replay: bench/chaos.py --seed {seed})")
    load = Load(offers, sessions, journeys, concurrency)
    root = Paths.discover().root
    state = root / ".cache" / "chaos"
    data = prepare_data(state / "data", load)
    expected = {str(n): script_of(n).final_state for n in range(journeys)}
    kept = state / f"clean-{load.signature()}.json"
    with own_infrastructure(state, cluster_port, mongo_port) as (infra, endpoints):
        setting = Setting(infra, endpoints, data, load, state)
        if fresh_clean or not kept.exists():
            log("clean run (no fault)")
            kept.write_text(json.dumps({**one_run(setting, "clean", None, []), "commit": head(root)}))
        clean = json.loads(kept.read_text())
        instances = [*SERVICES, *(f"{s}-2" for s in REPLICATED)]
        window = window_s or clean["load_s"]
        faults = plan_faults(seed, window, instances)
        log(
            f"run with {len(faults)} faults over {window} s: "
            + ", ".join(f"{f.kind} {f.target}" for f in faults)
        )
        chaos = one_run(setting, "chaos", clean["offers_applied"], faults)
    result = compare(clean, chaos, expected)
    broken = violations(result)
    failed_faults = [asdict(f) for f in faults if f.error]
    print(
        json.dumps(
            {
                "seed": seed,
                "load": asdict(load),
                "faults_injected": len(faults) - len(failed_faults),
                "window_s": window,
                "faults": [asdict(f) for f in faults],
                "commit": head(root),
                "clean": {
                    "load_s": clean["load_s"],
                    "quiet_s": clean["quiet_s"],
                    "commit": clean.get("commit"),
                },
                "chaos": {
                    "load_s": chaos["load_s"],
                    "quiet_s": chaos["quiet_s"],
                    "retries": chaos["retries"],
                },
                **result,
                "violations": broken + (["faults_not_recovered"] if failed_faults else []),
            },
            ensure_ascii=False,
        ),
        flush=True,
    )
    if broken or failed_faults:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()

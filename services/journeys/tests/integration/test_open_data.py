"""Open data against the real broker and store: journeys taken through their steps over HTTP, then the
`journeys open-data` command (a process of its own, as the monthly CronJob runs it) writes the month's
files and stores them; the service serves them to anyone, without a credential."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from journeys.domain.opendata import read_csv
from journeys.main import build
from journeys.settings import Settings
from journeys.testing import eligibility
from tdu_dev.testing.access import session
from tdu_shared.clock import FixedClock
from tdu_shared.contracts.matching import OfferEligibilityChanged
from tdu_shared.envelope import new_envelope
from tdu_shared.kafka import EventPublisher
from tdu_shared.mongo import Document
from tdu_shared.topics import MATCHING_ELIGIBILITY, Topics

pytestmark = pytest.mark.integration

OPERATOR = session("basin_operator", "operateur@grand-est.test")
MONTH = "2026-10"


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 9, 0, tzinfo=UTC)


STEPS: list[tuple[datetime, str, dict[str, Any]]] = [
    (at(9, 2), "schedule-immersion", {"starts_on": "2026-09-07", "ends_on": "2026-09-09", "place": "Metz"}),
    (at(9, 10), "immersion-outcome", {"outcome": "positive"}),
    (
        at(9, 11),
        "hiring-promise",
        {"contract_type": "CDI", "planned_start": "2026-10-12", "position": "Aide à domicile"},
    ),
    (at(9, 12), "training-commitment", {"session_id": "S1"}),
    (at(9, 14), "training-start", {"started_on": "2026-09-14"}),
    (at(10, 5), "training-completion", {"completed_on": "2026-10-05"}),
    (at(10, 12), "hire", {"contract_start": "2026-10-12", "contract_type": "CDI"}),
]


async def publish(kafka_bootstrap: str, topics: Topics, event: OfferEligibilityChanged, basin: str) -> None:
    envelope = new_envelope(event, producer="matching", region="44", basin=basin)
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await publisher.publish(MATCHING_ELIGIBILITY, event.offer_id, envelope)


async def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise TimeoutError("condition not met")


@pytest.fixture
async def service(
    service_env: dict[str, str],
) -> AsyncIterator[tuple[httpx.AsyncClient, AsyncDatabase[Document], FixedClock]]:
    clock = FixedClock(at(9, 1))
    settings = Settings.model_validate(
        {k.lower(): v for k, v in service_env.items()} | {"relay_interval_s": 0.2}
    )
    app = build(settings, clock=clock)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://journeys")
        yield client, app.state.runtime.db, clock
        await client.aclose()


async def hired(client: httpx.AsyncClient, clock: FixedClock, name: str, offer_id: str) -> None:
    """An application on 1 September, taken to a hire on 12 October by the basin's operator."""
    clock.moment = at(9, 1)
    body = {
        "command_id": name,
        "offer_id": offer_id,
        "seeker_id": f"seeker-{name}",
        "first_name": "Camille",
        "last_name": "Durand",
        "email": f"{name}@example.org",
        "postal_code": "57000",
        "consent_email": True,
        "consent_sms": False,
    }
    created = await client.post("/journeys", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    jid = created.json()["journey_id"]
    for n, (moment, path, fields) in enumerate(STEPS):
        clock.moment = moment
        done = await client.post(
            f"/journeys/{jid}/{path}", json={"command_id": f"{name}-{n}", **fields}, headers=OPERATOR
        )
        assert done.status_code == 200, done.text


async def test_the_monthly_command_publishes_the_month_and_anyone_reads_it(
    service: tuple[httpx.AsyncClient, AsyncDatabase[Document], FixedClock],
    service_env: dict[str, str],
    kafka_bootstrap: str,
    topics: Topics,
    tmp_path: Path,
) -> None:
    client, db, clock = service
    metz = eligibility("OFFER-K", basin="4410", rome_code="K1302", evaluated_at=datetime.now(UTC))
    nancy = eligibility("OFFER-H", basin="4412", evaluated_at=datetime.now(UTC))  # ROME fiche H2913 only
    await publish(kafka_bootstrap, topics, metz, "4410")
    await publish(kafka_bootstrap, topics, nancy, "4412")
    await wait_for(lambda: db.offers.find_one({"_id": "OFFER-H"}))
    for n in range(6):
        await hired(client, clock, f"metz-{n}", "OFFER-K")
    for n in range(2):
        await hired(client, clock, f"nancy-{n}", "OFFER-H")

    # The offer is withdrawn afterwards: its record keeps the ROME code the hires are counted under.
    withdrawn = metz.model_copy(update={"offer": None, "eligible": False, "evaluated_at": datetime.now(UTC)})
    await publish(kafka_bootstrap, topics, withdrawn, "4410")

    async def withdrawal_stored() -> Document | None:
        return await db.offers.find_one({"_id": "OFFER-K", "eligible": False})

    offer = await wait_for(withdrawal_stored)
    assert (offer["rome_code"], offer["contract_type"]) == ("K1302", "CDI")

    out = tmp_path / "opendata"
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "journeys",
        "open-data",
        "--month",
        MONTH,
        "--out",
        str(out),
        env={**os.environ, **service_env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(command.communicate(), 120)
    assert command.returncode == 0, stderr.decode()
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    assert summary["month"] == MONTH and summary["journeys_read"] == 8 and summary["stored"] is True

    # The files: the CSV's columns are the schema's, one row per territory, indicator and breakdown.
    csv_text = (out / f"traitdunion-44-{MONTH}.csv").read_bytes().decode("utf-8")  # CRLF kept
    schema = json.loads((out / "schema.json").read_text(encoding="utf-8"))
    assert csv_text.splitlines()[0].split(";") == [f["name"] for f in schema["fields"]]
    assert all(f["description"] for f in schema["fields"])
    rows = read_csv(csv_text)

    def cell(indicator: str, territory: str, family: str = "ensemble", contract: str = "ensemble") -> str:
        (row,) = [
            r
            for r in rows
            if (r["indicateur"], r["code_territoire"], r["grand_domaine"], r["type_contrat"])
            == (indicator, territory, family, contract)
        ]
        assert (row["valeur"] == "") == (row["secret_statistique"] == "true")
        return str(row["valeur"])

    assert cell("embauches", "44") == "8"
    assert cell("embauches", "4410") == "6"
    assert cell("embauches", "4412") == ""  # 2 < 5: secret
    assert cell("sorties_formation", "44") == "8"  # completed on 5 October
    # All 8 were CDI: 8 CDI beside a total of 8 would tell "0 CDD" (a count under 5), so CDI is secret too.
    assert cell("embauches", "44", contract="CDI") == cell("embauches", "44", contract="CDD") == ""
    assert cell("embauches", "44", "K") == "6"  # the K of the withdrawn offer's K1302
    assert cell("candidatures", "44") == ""  # applied in September: 0 in October, secret too
    assert {r["libelle_grand_domaine"] for r in rows if r["grand_domaine"] == "K"} == {
        "Services à la personne et à la collectivité"
    }

    # Stored, keyed by month, and the latest: served to anyone, no credential.
    pointer = await db.open_data.find_one({"_id": "latest"})
    assert pointer is not None and pointer["month"] == MONTH
    latest = await client.get("/open-data/latest.csv")
    assert latest.status_code == 200, latest.text
    assert latest.headers["content-type"].startswith("text/csv") and latest.text == csv_text
    as_json = await client.get(f"/open-data/{MONTH}.json")
    assert as_json.status_code == 200
    assert as_json.json()["donnees"][0]["mois"] == MONTH
    assert (await client.get("/open-data/schema.json")).json() == schema
    missing = await client.get("/open-data/2026-09.csv")
    assert missing.status_code == 404 and "2026-09" in missing.json()["detail"]

    # The same command for a month not over yet is refused, and changes nothing.
    refused = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "journeys",
        "open-data",
        "--month",
        datetime.now(UTC).strftime("%Y-%m"),
        env={**os.environ, **service_env, "COLUMNS": "300"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, refusal = await asyncio.wait_for(refused.communicate(), 120)
    assert refused.returncode == 2 and "n'est pas terminé" in refusal.decode()

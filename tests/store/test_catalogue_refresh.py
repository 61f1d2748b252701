"""A catalogue refresh on a running platform: the demo loaded, then a catalogue that changes the eligibility
of a few hundred known offers, then a changed version of that catalogue. Search must catch up each time.

This is the daily event that froze the local store (one update of as many statements as the store's
connection pool holds, in matching's eligibility ledger); it must now complete within a minute.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from tdu_dev.infra.local import Endpoints
from tdu_dev.infra.platform import Platform
from tdu_dev.testing.platform import running_platform
from tdu_shared.rome import rome_referential

from ..e2e.fixtures import formation_xml, now_utc, offer_record, write_catalogue, write_offers

pytestmark = pytest.mark.e2e

KNOWN_OFFERS = 200
"""Offers whose eligibility the refresh changes: over the 99 statements that froze the store."""
FICHE = "A1203"
"""An occupation the demo has no session for: its offers are known and not eligible until the refresh."""
CATCH_UP_S = 60
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_platform(infrastructure: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Offers, trainings and matching running, with the demo imported through their own commands."""
    outbox = tmp_path_factory.mktemp("outbox")
    with running_platform(infrastructure, outbox, services=("offers", "trainings", "matching")) as platform:
        demo = tmp_path_factory.mktemp("demo")
        generate = [sys.executable, str(ROOT / "deploy" / "demo" / "generate.py"), "--out", str(demo)]
        subprocess.run(generate, check=True, capture_output=True)
        for service, args in (
            ("trainings", ["import", str(demo / "catalogue.xml"), "--source", "demo", "--json"]),
            ("offers", ["import", str(demo / "offers.json"), "--json"]),
        ):
            done = platform.run_cli(service, args)
            assert done.returncode == 0, done.stderr
        yield platform


def searched_sessions(platform: Platform) -> dict[str, set[str]]:
    """Every offer of FICHE that search lists near Metz, with the numbers of its linked sessions."""
    found: dict[str, set[str]] = {}
    offset = 0
    while True:
        params: dict[str, str | int] = {"commune": "57463", "radius_km": 30, "rome": FICHE, "limit": 100}
        answer = httpx.get(
            f"{platform.url('matching')}/search", params={**params, "offset": offset}, timeout=10
        )
        if answer.status_code == 503:  # the index is still loading
            return found
        answer.raise_for_status()
        page = answer.json()
        for result in page["results"]:
            found[result["offer"]["offer_id"]] = {
                s["session_id"].rsplit(":", 1)[-1] for s in result["sessions"]
            }
        if not page["has_more"]:
            return found
        offset += 100


def search_catches_up(platform: Platform, expected: dict[str, set[str]]) -> float:
    """Seconds until search lists exactly these offers with these sessions; fails after CATCH_UP_S."""
    started = time.monotonic()
    while (found := searched_sessions(platform)) != expected:
        if time.monotonic() - started > CATCH_UP_S:
            missing = {k: v for k, v in expected.items() if found.get(k) != v}
            assert found == expected, f"not caught up after {CATCH_UP_S} s; {len(missing)} offers differ"
        time.sleep(0.5)
    return time.monotonic() - started


def test_a_catalogue_refresh_that_changes_hundreds_of_known_offers_shows_in_search_within_a_minute(
    demo_platform: Platform, tmp_path: Path
) -> None:
    label = rome_referential().get(FICHE)
    assert label is not None
    now, today = now_utc(), date.today()
    records = [
        offer_record(f"REFRESH{n:04d}", now, rome=FICHE, label=label.label) for n in range(KNOWN_OFFERS)
    ]
    imported = demo_platform.run_cli(
        "offers", ["import", str(write_offers(tmp_path, now, records)), "--json"]
    )
    assert imported.returncode == 0, imported.stderr
    ids = {str(r["id"]) for r in records}

    def catalogue(*formations: str) -> list[str]:
        path = write_catalogue(tmp_path, today, list(formations))
        return ["import", str(path), "--source", "refresh", "--json"]

    first = formation_xml("R-1", "S-R-1", today + timedelta(days=60), today + timedelta(days=180), rome=FICHE)
    assert demo_platform.run_cli("trainings", catalogue(first)).returncode == 0
    search_catches_up(demo_platform, {i: {"S-R-1"} for i in ids})

    moved = formation_xml("R-1", "S-R-1", today + timedelta(days=90), today + timedelta(days=210), rome=FICHE)
    added = formation_xml("R-2", "S-R-2", today + timedelta(days=45), today + timedelta(days=150), rome=FICHE)
    assert demo_platform.run_cli("trainings", catalogue(moved, added)).returncode == 0
    search_catches_up(demo_platform, {i: {"S-R-1", "S-R-2"} for i in ids})

    assert demo_platform.run_cli("trainings", catalogue(added)).returncode == 0  # S-R-1 withdrawn
    search_catches_up(demo_platform, {i: {"S-R-2"} for i in ids})

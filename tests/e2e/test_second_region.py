"""A second region joins by configuration only: Bourgogne-Franche-Comté's file, its own topic prefix and
databases, the same code. Its catalogue (a funded session in Dijon), its France Travail offers (one in
Dijon, one in Metz, another region's), search by its communes, its KPIs, and nothing of Grand Est in it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest

from tdu_dev.infra.local import Endpoints
from tdu_dev.infra.platform import Platform, wait_for
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_dev.testing.platform import FAST_TEST_ENV, running_platform
from tdu_shared.access.tokens import issue_session
from tdu_shared.contracts.journeys import Role
from tdu_shared.envelope import decode_event
from tdu_shared.topics import OFFERS_STATE, Topics

from .fixtures import apply_until_accepted, now_utc, write_catalogue, write_offers

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

BFC_FILE = str(files("tdu_shared.data").joinpath("basins_bourgogne_franche_comte.yaml"))
DIJON_OFFER, METZ_OFFER = "BFC0001", "E2E0001"
SEEKER = "seeker-bfc-lou"


@pytest.fixture(scope="module")
def region(infrastructure: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    env = {**FAST_TEST_ENV, "REGION": "27", "BASINS_FILE": BFC_FILE}
    with running_platform(
        infrastructure,
        tmp_path_factory.mktemp("outbox"),
        services=("offers", "matching", "journeys"),
        extra_env=env,
    ) as running:
        yield running


def dijon_inputs(folder: Path) -> tuple[Path, Path]:
    """The e2e's Metz inputs moved to Dijon, plus the Metz offer unchanged (another region's)."""
    metz = json.loads(write_offers(folder, now_utc()).read_text(encoding="utf-8"))[0]
    dijon = {
        **metz,
        "id": DIJON_OFFER,
        "description": "Entretien de bureaux à Dijon.",
        "lieuTravail": {
            "libelle": "21 - Dijon",
            "latitude": 47.3216,
            "longitude": 5.0415,
            "codePostal": "21000",
            "commune": "21231",
        },
        "entreprise": {"nom": "NETTOYAGE DIJON"},
        "contact": {"nom": "NETTOYAGE DIJON", "courriel": "recrutement@nettoyage-dijon.exemple.fr"},
    }
    offers = folder / "offers_bfc.json"
    offers.write_text(json.dumps([dijon, metz], ensure_ascii=False), encoding="utf-8")
    xml = write_catalogue(folder, date.today()).read_text(encoding="utf-8")
    xml = (
        xml.replace(
            "<ligne>12 rue de Metz</ligne><codepostal>57140</codepostal>",
            "<ligne>8 rue de Mulhouse</ligne><codepostal>21000</codepostal>",
        )
        .replace(
            "<ville>Woippy</ville><code-INSEE-commune>57751</code-INSEE-commune>",
            "<ville>Dijon</ville><code-INSEE-commune>21231</code-INSEE-commune>",
        )
        .replace(
            "<latitude>49.1519</latitude><longitude>6.1516</longitude>",
            "<latitude>47.3290</latitude><longitude>5.0530</longitude>",
        )
    )
    catalogue = folder / "catalogue_bfc.xml"
    catalogue.write_text(xml, encoding="utf-8")
    return catalogue, offers


def test_a_second_region_runs_on_its_own_configuration(region: Platform, tmp_path: Path) -> None:
    catalogue, offers = dijon_inputs(tmp_path)
    imported = region.run_cli("trainings", ["import", str(catalogue), "--source", "bfc", "--json"])
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout.strip().splitlines()[-1])
    assert report["funded_sessions"] == 1
    sent = region.run_cli("offers", ["import", str(offers), "--json"])
    assert sent.returncode == 0, sent.stderr

    # Offers are placed by the region's rules: Dijon in its Dijon basin, Metz outside the region.
    records = asyncio.run(
        read_topic(
            region.endpoints.kafka_bootstrap_servers, Topics(region.topic_prefix).name(OFFERS_STATE), until=2
        )
    )
    placed = {e.payload.offer.offer_id: e for e in (decode_event(r.value) for r in records)}
    assert placed[DIJON_OFFER].region == "27" and placed[DIJON_OFFER].basin == "27-DIJ"
    assert placed[METZ_OFFER].basin is None

    # Search by the region's communes: name, INSEE code, postal code.
    search = f"{region.url('matching')}/search"

    def found(params: dict[str, Any]) -> list[str] | None:
        response = httpx.get(search, params={**params, "radius_km": 30}, timeout=5)
        ids = (
            [r["offer"]["offer_id"] for r in response.json()["results"]]
            if response.status_code == 200
            else []
        )
        return ids or None

    assert wait_for(lambda: found({"commune": "Dijon"}), 60, "the Dijon offer in the search") == [DIJON_OFFER]
    assert found({"commune": "21231"}) == [DIJON_OFFER]
    assert found({"postal_code": "21000"}) == [DIJON_OFFER]
    assert found({"commune": "57463"}) is None  # Grand Est's offer has no funded session of this region

    # A seeker applies; the region's KPIs count it in its basin, and only the region's basins appear.
    journeys = region.url("journeys")
    application = {
        "offer_id": DIJON_OFFER,
        "first_name": "Lou",
        "last_name": "Bernard",
        "email": "lou.bernard@exemple.fr",
        "postal_code": "21000",
        "consent_email": True,
        "consent_sms": False,
    }

    journey = apply_until_accepted(journeys, application, region.session("seeker", SEEKER), "apply-bfc")
    assert journey["basin"] == "27-DIJ" and journey["region"] == "27"
    operator = region.session("basin_operator", "operateur@bourgogne-franche-comte.test")
    kpis = httpx.get(f"{journeys}/kpis", headers=operator, timeout=10)
    grand_est = issue_session(region.access_secret, role=Role.BASIN_OPERATOR, subject="op@metz", region="44")
    refused = httpx.get(f"{journeys}/kpis", headers={"Authorization": f"Bearer {grand_est}"}, timeout=10)
    assert refused.status_code == 403, refused.text  # another region's operator, even with a valid session
    assert kpis.status_code == 200, kpis.text
    report = kpis.json()
    assert report["region"]["code"] == "27"
    assert set(report["basins"]) == {"27-DIJ"}

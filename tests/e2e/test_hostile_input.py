"""Hostile input against every service of the running platform, through their HTTP APIs only.

Schemathesis generates requests from each service's own OpenAPI document: boundary values, wrong types,
huge numbers, odd Unicode, missing and extra fields. No request may make a server error, and every
answer must match the schema the service documents. Journeys is tried in each of its callers' roles, on
a real journey and a real person (an offer and a catalogue are imported first, and a seeker applies), so
the generated requests reach the rules and the store instead of stopping at "unknown journey".

The seed is fixed, so a failure replays; the command each failing case needs is in the assertion message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tdu_dev.infra.platform import Platform

from .fixtures import OFFER_ID, apply_until_accepted, import_catalogue_and_offers

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(900)]

SEED = 20261206
EXAMPLES = 10
"""Generated cases per operation and phase (coverage of the boundaries, then random fuzzing)."""
SEEKER_ID = "seeker-hostile"
NOT_API = "^/(docs|redoc|metrics|asyncapi|health|ready)"
"""Documentation and operations endpoints: /ready answers 503 by design when a dependency is slow."""


@pytest.fixture(scope="module")
def known(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A real journey (and its seeker and employer), made the way a front end makes one."""
    folder = tmp_path_factory.mktemp("hostile")
    import_catalogue_and_offers(platform, folder, "e2e")
    application = {
        "offer_id": OFFER_ID,
        "first_name": "Camille",
        "last_name": "Martin",
        "email": "camille.hostile@exemple.fr",
        "postal_code": "57000",
        "consent_email": True,
        "consent_sms": False,
    }

    seeker = platform.session("seeker", SEEKER_ID)
    journey = apply_until_accepted(platform.url("journeys"), application, seeker, "hostile-1")
    return {"journey_id": journey["journey_id"], "employer_id": journey["employer_id"]}


def fuzz(
    platform: Platform, service: str, folder: Path, headers: dict[str, str], known: dict[str, str]
) -> str:
    """Run schemathesis against one service; returns its report, fails the test on any finding."""
    config = folder / "schemathesis.toml"
    config.write_text(
        f'[parameters]\n"path.journey_id" = "{known["journey_id"]}"\n"path.person_id" = "{SEEKER_ID}"\n',
        encoding="utf-8",
    )
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{platform.url(service)}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--exclude-path-regex",
        NOT_API,
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600, check=False)
    found = f"{service} {json.dumps(headers)}:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    assert run.returncode == 0, found
    return run.stdout


@pytest.mark.parametrize(
    ("service", "role"),
    [
        ("journeys", "seeker"),
        ("journeys", "employer"),
        ("journeys", "basin_operator"),
        ("offers", None),
        ("matching", None),
        ("notifications", None),
        ("trainings", None),  # last: its generated uploads may withdraw the catalogue the others use
    ],
)
def test_no_request_makes_a_server_error_or_an_answer_outside_its_schema(
    platform: Platform, known: dict[str, str], tmp_path: Path, service: str, role: str | None
) -> None:
    actor = {"seeker": SEEKER_ID, "employer": known["employer_id"], "basin_operator": "operateur-metz"}
    headers = platform.session(role or "basin_operator", actor[role or "basin_operator"])
    report = fuzz(platform, service, tmp_path, headers, known)
    assert "generated" in report and "passed" in report  # it did run cases

"""Access on the running platform: partner keys made with the operators' command, scoped to basins, and
refused by every service within seconds of their revocation."""

from __future__ import annotations

import importlib
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from tdu_dev.infra.platform import SERVICES, Platform, wait_for
from tdu_shared.access.keys import CAPABILITIES as CAPABILITIES_ALL
from tdu_shared.contracts.journeys import Role

from .fixtures import OFFER_ID, apply_until_accepted, import_catalogue_and_offers

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

CAPABILITIES = ["applications:write", "journeys:read", "journeys:write", "kpis:read"]
APPLICATION = {
    "offer_id": OFFER_ID,
    "first_name": "Inès",
    "last_name": "Moreau",
    "email": "ines.moreau@exemple.fr",
    "postal_code": "57000",
    "consent_email": True,
    "consent_sms": False,
}
# One cheap request per service that a valid key passes (whatever the answer) and a revoked one does not.
PROBES = {
    "offers": "/offers/NONE",
    "trainings": "/sessions/NONE",
    "matching": "/search?lat=49.1193&lon=6.1757&radius_km=5",
    "journeys": "/journeys",
    "notifications": "/unsubscribe?token=x",
}


def statuses(platform: Platform, credential: dict[str, str]) -> dict[str, int]:
    return {
        service: httpx.get(f"{platform.url(service)}{path}", headers=credential, timeout=10).status_code
        for service, path in PROBES.items()
    }


def test_a_partner_key_acts_in_its_basins_only_and_a_revoked_one_is_refused_everywhere(
    platform: Platform, tmp_path: Path
) -> None:
    import_catalogue_and_offers(platform, tmp_path, "e2e-access")
    metz = platform.partner_key("mission-locale-metz", CAPABILITIES, ["4410"])
    nancy = platform.partner_key("mission-locale-nancy", CAPABILITIES, ["4412"])
    journeys = platform.url("journeys")

    # The Metz key applies on a seeker's behalf (once every service has read the key from access.keys).
    journey = apply_until_accepted(journeys, APPLICATION, metz, "partner-apply-1", timeout=120)
    assert journey["basin"] == "4410" and journey["history"][0]["actor_id"] == "mission-locale-metz"
    journey_id, seeker_id = journey["journey_id"], journey["seeker_id"]
    assert httpx.get(f"{journeys}/journeys/{journey_id}", headers=metz).status_code == 200
    assert httpx.get(f"{journeys}/kpis", headers=metz).json()["basins"]["4410"]["journeys"] >= 1

    # The Nancy key can do none of it in Metz, and no key reads a person's contact details.
    wait_for(
        lambda: httpx.get(f"{journeys}/journeys", headers=nancy).status_code == 200, 30, "nancy key known"
    )
    refused = {
        "apply": httpx.post(
            f"{journeys}/journeys", json=APPLICATION, headers={**nancy, "Idempotency-Key": "nancy-1"}
        ),
        "read": httpx.get(f"{journeys}/journeys/{journey_id}", headers=nancy),
        "list": httpx.get(f"{journeys}/journeys", params={"basin": "4410"}, headers=nancy),
        "kpis": httpx.get(f"{journeys}/kpis", params={"basin": "4410"}, headers=nancy),
        "act": httpx.post(
            f"{journeys}/journeys/{journey_id}/decline",
            json={"command_id": "nancy-decline", "reason": "essai"},
            headers=nancy,
        ),
        "contact": httpx.get(f"{journeys}/contacts/{seeker_id}", headers=metz),
    }
    assert {what: r.status_code for what, r in refused.items()} == dict.fromkeys(refused, 403)
    assert httpx.get(f"{journeys}/journeys", headers=nancy).json()["total"] == 0

    # Revoked with the operators' command: refused by every service within 5 s.
    before = statuses(platform, metz)
    assert 401 not in before.values(), before
    key_id = metz["Authorization"].split("_")[1]
    revoked = platform.run_cli(
        "tdu-access", ["keys", "revoke", key_id, "--by", "op@metz.test", "--reason", "fin du partenariat"]
    )
    assert revoked.returncode == 0, revoked.stderr
    started = time.monotonic()
    wait_for(lambda: set(statuses(platform, metz).values()) == {401}, 5, "every service to refuse the key")
    took = time.monotonic() - started
    answer = httpx.get(f"{journeys}/journeys", headers=metz)
    assert answer.status_code == 401 and "révoquée" in answer.json()["detail"]
    assert statuses(platform, nancy)["journeys"] == 200  # the other key still works
    listed = platform.run_cli("tdu-access", ["keys", "list", "--json"])
    rows = {row["key_id"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert (
        "fin du partenariat" in rows[key_id]["revoked"] and rows[key_id]["partner"] == "mission-locale-metz"
    )
    secret = metz["Authorization"].split("_", 2)[2]  # tdu_<key id>_<secret>: the secret may hold "_"
    assert len(secret) == 43 and secret not in listed.stdout
    print(f"revocation refused everywhere after {took:.2f} s")


def test_every_operation_lets_in_whom_its_rule_names(platform: Platform) -> None:
    """On the running platform, for every operation of every service's OpenAPI that is not public: without
    a credential (and with forged X-Actor-* headers) 401; a caller its rule names is not refused (401 or
    403), whatever the operation answers then (404 for an unknown id, 422 for an empty body). The 403s
    for the callers a rule does not name are walked in tests/api/test_access_policy.py."""
    partner = "walker"
    key = platform.partner_key(partner, sorted(CAPABILITIES_ALL), [])
    operator = platform.session("basin_operator", "operateur@region.test")
    wait_for(lambda: 401 not in statuses(platform, key).values(), 30, "every service to know the key")
    checked: list[str] = []
    for service in SERVICES:
        app_policy = importlib.import_module(f"{service}.access").POLICY
        spec = httpx.get(f"{platform.url(service)}/openapi.json", timeout=10).json()
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                rule = app_policy.rule(method.upper(), path)
                if "operations" in operation.get("tags", []) or rule is None or rule.public:
                    continue
                roles = {g.role for g in rule.allow}
                credential = (
                    operator
                    if Role.BASIN_OPERATOR in roles
                    else key
                    if Role.PARTNER_SYSTEM in roles
                    else platform.session(sorted(roles)[0], "x")
                )
                url = platform.url(service) + re.sub(
                    r"\{partner\}", partner, re.sub(r"\{(?!partner)[^}]+\}", "x", path)
                )
                body: dict[str, object] | None = {} if method in ("post", "patch", "put") else None
                forged = {"X-Actor-Role": "basin_operator", "X-Actor-Id": "anyone"}
                refused = httpx.request(method, url, json=body, headers=forged, timeout=10)
                assert refused.status_code == 401, (service, method, path, refused.status_code)
                status = httpx.request(method, url, json=body, headers=credential, timeout=10).status_code
                assert status not in (401, 403, 500), (service, method, path, status)
                checked.append(f"{service} {method.upper()} {path}")
    assert len(checked) >= 25, checked

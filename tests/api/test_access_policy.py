"""The access policy covers every operation of every service, and refuses whoever it does not name.

Each service's app is built from its code (nothing started); its OpenAPI lists every operation. Every
operation has a rule; every operation that is not public answers 401 without a credential (forged
``X-Actor-*`` headers change nothing), 401 with a malformed one, 403 to each role and partner key its rule
does not name, and 403 to a credential of another region. The allowed callers are taken through the
whole journey by the end-to-end tests, with real credentials.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tdu_dev.testing.access import partner_key, session
from tdu_shared.access.keys import CAPABILITIES
from tdu_shared.access.policy import Policy, Rule
from tdu_shared.contracts.journeys import Role

SERVICES = ("offers", "trainings", "matching", "journeys", "notifications")
OPERATIONS_TAG = "operations"
PEOPLE = (Role.SEEKER, Role.EMPLOYER, Role.TRAINING_PROVIDER, Role.BASIN_OPERATOR)


def built(service: str) -> tuple[FastAPI, Policy]:
    main = importlib.import_module(f"{service}.main")
    settings = importlib.import_module(f"{service}.settings").Settings()
    app = main.build(settings)
    return app, app.state.policy


def operations(app: FastAPI) -> Iterator[tuple[str, str]]:
    for path, entries in app.openapi()["paths"].items():
        for method, operation in entries.items():
            if OPERATIONS_TAG not in operation.get("tags", []):
                yield method.upper(), path


def refused_callers(rule: Rule, ring: Any) -> Iterator[tuple[str, dict[str, str]]]:
    """A credential for each kind of caller the rule does not let in."""
    admitted = {g.role for g in rule.allow if g.capability is None}
    for role in PEOPLE:
        if role not in admitted:
            yield role.value, session(role, "someone", email="someone@example.org")
    wanted = {g.capability for g in rule.allow if g.capability}
    others = sorted(set(CAPABILITIES) - wanted)
    _, header = partner_key(ring, "another-partner", others)
    yield f"partner key without {sorted(wanted) or 'any capability it allows'}", header


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_rule(service: str) -> None:
    app, policy = built(service)
    found = list(operations(app))
    assert len(found) >= 1
    assert [op for op in found if policy.rule(*op) is None] == []


@pytest.mark.parametrize("service", SERVICES)
async def test_operations_refuse_whoever_their_rule_does_not_name(service: str) -> None:
    app, policy = built(service)
    ring = app.state.verifier.ring
    checked = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for method, path in operations(app):
            rule = policy.rule(method, path)
            assert rule is not None
            if rule.public:
                continue
            url = re.sub(r"\{[^}]+\}", "x", path)
            forged = {"X-Actor-Role": "basin_operator", "X-Actor-Id": "anyone"}
            answer = await client.request(method, url, headers=forged)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            bad = await client.request(method, url, headers={"Authorization": "Bearer tdu_broken"})
            assert bad.status_code == 401, (method, path)
            for who, header in refused_callers(rule, ring):
                answer = await client.request(method, url, headers=header)
                assert answer.status_code == 403, (method, path, who, answer.text)
            elsewhere = session(Role.BASIN_OPERATOR, "op@dijon.test", region="27")
            answer = await client.request(method, url, headers=elsewhere)
            assert answer.status_code == 403 and "région 27" in answer.json()["detail"], (method, path)
            checked += 1
    rules = [policy.rule(*op) for op in operations(app)]
    assert checked == sum(1 for rule in rules if rule is not None and not rule.public)


def test_the_readme_policy_table_is_written_from_the_code() -> None:
    from tdu_dev import policy_table

    assert policy_table.main(["--check"]) == 0, "run: uv run python -m tdu_dev.policy_table"

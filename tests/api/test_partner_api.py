"""The partners' API: one OpenAPI document of every service's ``/v1`` operations, valid, current, with an
example for each operation, open to partner keys only (or public), and each operation the service's own
(same code) under a stable path. The end-to-end test calls every operation with a partner key."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tdu_dev import partner_api
from tdu_shared.access.policy import PARTNER
from tdu_shared.v1 import PREFIX

DOCUMENT = json.loads(partner_api.OUT.read_text(encoding="utf-8"))
"""The committed document (the first test checks it is the one the code writes): read, not built, at
collection (building the apps there would set the process's Kafka credentials before the tests' own)."""
OPERATIONS = [
    (path, method, operation)
    for path, entries in DOCUMENT["paths"].items()
    for method, operation in entries.items()
]


def test_the_document_is_valid_openapi_and_docs_holds_the_current_one() -> None:
    document = partner_api.document()
    validate(document)  # type: ignore[arg-type]
    assert json.loads(partner_api.OUT.read_text(encoding="utf-8")) == document, (
        "docs/partner-api.json is stale: run `uv run python -m tdu_dev.partner_api`"
    )
    assert len(OPERATIONS) >= 15 and all(path.startswith(f"{PREFIX}/") for path, _, _ in OPERATIONS)


@pytest.mark.parametrize(
    ("path", "method", "operation"), OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_operation_has_an_example_of_what_it_takes_and_answers(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    body = operation.get("requestBody")
    if body is not None:
        assert all("example" in c for c in body["content"].values()), f"{method} {path}: no request example"
    success = [s for s in operation["responses"] if s.startswith("2")]
    assert success, f"{method} {path}: no success answer"
    answers = [operation["responses"][s].get("content", {}) for s in success]
    assert any("example" in c for content in answers for c in content.values()), (
        f"{method} {path}: no answer example"
    )


@pytest.mark.parametrize("service", partner_api.SERVICES)
def test_v1_operations_are_for_partner_keys_only_or_public(service: str) -> None:
    app = partner_api.service_app(service)
    policy = app.state.policy
    for path, entries in app.openapi()["paths"].items():
        if not path.startswith(f"{PREFIX}/"):
            continue
        for method in entries:
            rule = policy.rule(method.upper(), path)
            assert rule is not None, f"{method} {path}"
            assert rule.public or {g.role for g in rule.allow} == {PARTNER}, f"{method} {path}: {rule}"


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema validator for one of the document's schemas, its references resolved in it."""
    registry: Registry = Registry().with_resource(  # type: ignore[call-arg]
        "urn:partner-api", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    rewritten = json.loads(json.dumps(schema).replace('"#/components/', '"urn:partner-api#/components/'))
    return Draft202012Validator(rewritten, registry=registry)


@pytest.mark.parametrize(
    ("path", "method", "operation"), OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_example_is_what_the_operation_really_takes_or_answers(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    document = DOCUMENT
    contents = [*operation.get("requestBody", {}).get("content", {}).items()]
    contents += [
        item
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        for item in answer.get("content", {}).items()
    ]
    for media, content in contents:
        if "example" in content and media == "application/json" and "schema" in content:
            errors = [
                e.message for e in _validator(document, content["schema"]).iter_errors(content["example"])
            ]
            assert not errors, f"{method} {path} ({media}): {errors[:3]}"


def test_the_ingress_sends_each_v1_operation_to_the_service_that_serves_it() -> None:
    ingress = yaml.safe_load((partner_api.OUT.parents[1] / "deploy/k8s/base/ingress.yaml").read_text())
    routes = [
        (p["path"], p["pathType"], p["backend"]["service"]["name"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]
    served_by = {}
    for service in partner_api.SERVICES:
        for path in partner_api.service_app(service).openapi()["paths"]:
            if path.startswith(f"{PREFIX}/"):
                served_by[path] = service
    for path, service in served_by.items():
        matches = [
            (prefix, backend)
            for prefix, kind, backend in routes
            if (kind == "Exact" and path == prefix)
            or (kind == "Prefix" and (path + "/").startswith(prefix + "/"))
        ]
        longest = max(matches, key=lambda m: len(m[0]), default=None)
        assert longest is not None and longest[1].startswith(service), (
            f"{path} → {matches}, served by {service}"
        )

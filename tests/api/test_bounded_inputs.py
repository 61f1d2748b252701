"""Every input of every HTTP API is bounded in its OpenAPI document, so the service enforces the bound.

A text without a maximum length, a list without a maximum size, is a place where a caller can make a
service parse, store and publish megabytes (and an event the broker refuses). Walk each service's
OpenAPI (built from the code, nothing started): every string a request carries (path, query, header,
body, nested) has ``maxLength``, or is an enum, a constant, a date or a pattern that bounds its length;
every array has ``maxItems``. The request body as a whole is capped by ``MAX_REQUEST_KB`` besides.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

SERVICES = ("offers", "trainings", "matching", "journeys", "notifications")
UPLOADS = {("trainings", "POST /imports body")}
"""Raw file uploads: streamed and capped by their own setting (MAX_UPLOAD_MB), not a JSON string."""
UNBOUNDED_REPEAT = re.compile(r"(?<!\\)[+*]|\{\d+,\}")


def openapi(service: str) -> dict[str, Any]:
    main = importlib.import_module(f"{service}.main")
    settings = importlib.import_module(f"{service}.settings").Settings()
    return dict(main.build(settings).openapi())


def unbounded(
    schema: dict[str, Any], components: dict[str, Any], where: str, seen: frozenset[str]
) -> Iterator[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from unbounded(components[name], components, where, seen | {name})
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from unbounded(option, components, where, seen)
    kind = schema.get("type")
    if kind == "string" and not (
        "maxLength" in schema
        or "enum" in schema
        or "const" in schema
        or schema.get("format") in ("date", "date-time", "uuid")
        or ("pattern" in schema and not UNBOUNDED_REPEAT.search(schema["pattern"]))
    ):
        yield where
    if kind == "array":
        if "maxItems" not in schema:
            yield f"{where}[] (no maxItems)"
        yield from unbounded(schema.get("items", {}), components, f"{where}[]", seen)
    for name, field in schema.get("properties", {}).items():
        yield from unbounded(field, components, f"{where}.{name}", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from unbounded(schema["additionalProperties"], components, f"{where}.*", seen)


def request_inputs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                yield (
                    f"{method.upper()} {path} {parameter['in']}:{parameter['name']}",
                    parameter.get("schema", {}),
                )
            for content in operation.get("requestBody", {}).get("content", {}).values():
                yield f"{method.upper()} {path} body", content.get("schema", {})


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_input_is_bounded(service: str) -> None:
    doc = openapi(service)
    components = doc.get("components", {}).get("schemas", {})
    inputs = list(request_inputs(doc))
    assert len(inputs) >= 3, "the walk does see the service's inputs"
    found = [
        problem
        for where, schema in inputs
        if (service, where) not in UPLOADS
        for problem in unbounded(schema, components, where, frozenset())
    ]
    assert found == [], f"{service}: inputs without a bound"


def test_the_walk_finds_an_unbounded_text() -> None:
    schema = {
        "type": "object",
        "properties": {"note": {"type": "string"}, "code": {"type": "string", "pattern": "^[A-Z]+$"}},
    }
    assert list(unbounded(schema, {}, "body", frozenset())) == ["body.note", "body.code"]
    bounded = {"type": "string", "pattern": r"^\d{5}$"}
    assert list(unbounded(bounded, {}, "q", frozenset())) == []

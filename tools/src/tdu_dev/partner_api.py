"""The partners' OpenAPI document: the ``/v1`` operations of every service, merged into one.

uv run python -m tdu_dev.partner_api           # writes docs/partner-api.json
uv run python -m tdu_dev.partner_api --check   # exit 1 if docs/partner-api.json is stale

Each service's app is built from its code (nothing is started) and gives its OpenAPI; the ``/v1`` paths of
all of them, and the schemas those paths use, make the document partners read (the ingress routes each
``/v1`` prefix to its service).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tdu_dev.policy_table import write_or_check
from tdu_shared.v1 import PREFIX

SERVICES = ("offers", "trainings", "matching", "journeys", "notifications")
OUT = Path(__file__).resolve().parents[3] / "docs" / "partner-api.json"
INFO = {
    "title": "Trait d'Union — API des partenaires",
    "version": "1",
    "description": (
        "The operations partner systems (France Travail advisers' tools, Missions Locales, training "
        "providers, other regions) may call, with a partner key (`Authorization: Bearer tdu_<id>_<secret>`, "
        "made by the region's operators with `tdu-access keys create`, scoped to a region, basins and "
        "capabilities). Errors are RFC 9457 problem details (`application/problem+json`). Lists page with "
        "a cursor (`next_cursor`, passed back as `cursor`) or, for the search, `offset` and `has_more`."
    ),
}


def service_app(service: str) -> FastAPI:
    main = importlib.import_module(f"{service}.main")
    settings = importlib.import_module(f"{service}.settings").Settings()
    app: FastAPI = main.build(settings)
    return app


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values())) if node else found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for service in SERVICES:
        spec = service_app(service).openapi()
        for path, operations in spec["paths"].items():
            if path.startswith(f"{PREFIX}/"):
                for operation in operations.values():
                    operation["tags"] = [service]
                paths.setdefault(path, {}).update(operations)
        for name, schema in spec.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"schema {name} differs between services: rename one")
            schemas[name] = schema
    used: set[str] = set()
    todo = _refs(paths)
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo |= _refs(schemas[name]) - used
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "https://api.traitdunion.example", "description": "the region's API host"}],
        "security": [{"partnerKey": []}],
        "tags": [
            {"name": s}
            for s in SERVICES
            if any(s in o["tags"] for ops in paths.values() for o in ops.values())
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {name: schemas[name] for name in sorted(used)},
            "securitySchemes": {
                "partnerKey": {"type": "http", "scheme": "bearer", "description": "tdu_<key id>_<secret>"}
            },
        },
    }


def text() -> str:
    return json.dumps(document(), ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(OUT, text(), "tdu_dev.partner_api", "--check" in argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Every store write of every service goes through the shared helpers, and no filter reads a whole collection.

On the local store only a filter on one ``_id`` is served by an index; an ``$in`` (even on ``_id``) reads the
whole collection. Bulk writes go through ``tdu_shared.mongo`` so that one place bounds their size. These
rules are read off the code: a new call site that breaks them fails here, whatever the tests it has.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
SOURCES = sorted(SERVICES.glob("*/src/**/*.py"))
BULK_METHODS = {"bulk_write", "insert_many"}
"""Collection methods called only by ``tdu_shared.mongo`` (through ``bulk_write`` and its kin)."""


@dataclass(frozen=True)
class Breach:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def breaches_in(path: Path, source: str) -> list[Breach]:
    found: list[Breach] = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        method = (
            node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
        )
        if method in BULK_METHODS:
            found.append(Breach(where, f".{method}() outside tdu_shared.mongo"))
        if isinstance(node, ast.Constant) and node.value == "$in":
            found.append(Breach(where, "an $in filter (reads the whole collection on the local store)"))
    return found


def test_the_rules_catch_each_kind_of_breach() -> None:
    source = (
        "async def f(col, ids):\n"
        "    await col.insert_many([{}])\n"
        "    await col.bulk_write([])\n"
        "    await col.update_many({'_id': {'$in': ids}}, {'$set': {'a': 1}})\n"
        "    await bulk_write(col, [])\n"
    )
    whats = [b.what for b in breaches_in(Path("x.py"), source)]
    assert sorted(whats) == sorted(
        [
            ".insert_many() outside tdu_shared.mongo",
            ".bulk_write() outside tdu_shared.mongo",
            "an $in filter (reads the whole collection on the local store)",
        ]
    )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SERVICES)))
def test_service_code_writes_in_bulk_only_through_the_shared_helpers_and_never_filters_with_in(
    path: Path,
) -> None:
    assert [str(b) for b in breaches_in(path, path.read_text())] == []

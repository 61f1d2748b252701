"""Whether the store serves a query from the ``_id`` index or reads the whole collection, from ``explain``.

The local store (FerretDB 1.24 on SQLite) hands SQLite a filter only when it is exactly one ``_id`` equal
to a string or an ObjectId, or (our patch, deploy/ferretdb/patches/id-pushdown.patch) an ``_id: {$in:
[...]}`` of up to 1,000 of them, with or without other conditions beside it (``filterPushdown: true`` in
its ``explain``); every other filter, ``_id`` ranges included, reads every document of the collection and
filters them in Go. Whether
SQLite then uses an index shows in its query plan text (``SEARCH <table> USING INDEX ...`` against
``SCAN <table>``); the pushdown is written as FerretDB's unique ``_id`` index is built
(deploy/ferretdb/patches/id-column-is-the-id-index.patch), so it is that index. On MongoDB the
winning plan says it (``IDHACK``, ``EXPRESS_IXSCAN`` or an ``IXSCAN`` of ``_id_`` against ``COLLSCAN``).

Tests of hot paths call :func:`assert_id_only` with the filter the code sends, on a collection that
holds documents (an empty or missing collection has no plan).
"""

from __future__ import annotations

import json
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from tdu_shared.mongo import Document

ID_STAGES = {"IDHACK", "EXPRESS_IXSCAN", "EXPRESS_CLUSTERED_IXSCAN", "CLUSTERED_IXSCAN"}
"""MongoDB plan stages that read by ``_id`` alone."""


async def query_plan(collection: AsyncCollection[Document], filter: Document) -> dict[str, Any]:
    """How the store would serve ``find(filter)`` on this collection.

    Returns ``{"store": "ferretdb" | "mongodb", "uses_id_index": bool, "plan": [...], "explain": {...}}``:
    ``plan`` is the SQLite plan lines (FerretDB) or the winning plan's stages (MongoDB), ``explain`` the
    store's whole answer. ``uses_id_index`` is true only when the filter is answered from the ``_id``
    index without reading other documents.
    """
    explained = await collection.database.command(
        {"explain": {"find": collection.name, "filter": filter}, "verbosity": "queryPlanner"}
    )
    return _ferretdb_plan(explained) if _is_ferretdb(explained) else _mongodb_plan(explained)


def uses_id_index(explained: dict[str, Any]) -> bool:
    """Whether an ``explain`` answer (FerretDB's or MongoDB's) reads through the ``_id`` index alone."""
    plan = _ferretdb_plan(explained) if _is_ferretdb(explained) else _mongodb_plan(explained)
    return bool(plan["uses_id_index"])


async def assert_id_only(collection: AsyncCollection[Document], filter: Document) -> None:
    """Fail (AssertionError with the plan) unless ``find(filter)`` is served from the ``_id`` index."""
    plan = await query_plan(collection, filter)
    if not plan["plan"] and plan["store"] == "ferretdb" and _single_id(filter):
        return  # no table yet, so no plan: a single string or ObjectId _id is the filter FerretDB pushes down
    if not plan["plan"]:
        raise AssertionError(
            f"no query plan for {collection.full_name} (missing or empty collection?): "
            f"{_dump(plan['explain'])}"
        )
    if not plan["uses_id_index"]:
        raise AssertionError(
            f"{collection.full_name}: filter {_dump(filter)} is not served by the _id index "
            f"({plan['store']} plan: {_dump(plan['plan'])}; filterPushdown="
            f"{plan['explain'].get('filterPushdown')})"
        )


def _single_id(filter: Document) -> bool:
    """A filter FerretDB pushes down: one ``_id``, or an ``$in`` of them (strings or ObjectIds)."""
    if list(filter) != ["_id"]:
        return False
    wanted = filter["_id"]
    if isinstance(wanted, dict) and list(wanted) == ["$in"] and isinstance(wanted["$in"], list):
        return 0 < len(wanted["$in"]) <= 1000 and all(isinstance(i, str | ObjectId) for i in wanted["$in"])
    return isinstance(wanted, str | ObjectId)


def _is_ferretdb(explained: dict[str, Any]) -> bool:
    return "filterPushdown" in explained or "ferretdbVersion" in explained.get("serverInfo", {})


def _ferretdb_plan(explained: dict[str, Any]) -> dict[str, Any]:
    lines = [str(line) for line in explained.get("queryPlanner", {}).get("Plan", [])]
    searched = any(" USING INDEX " in line or " USING PRIMARY KEY" in line for line in lines)
    scans = any("detail=SCAN " in line for line in lines)
    return {
        "store": "ferretdb",
        "uses_id_index": bool(explained.get("filterPushdown")) and searched and not scans,
        "plan": lines,
        "explain": explained,
    }


def _mongodb_plan(explained: dict[str, Any]) -> dict[str, Any]:
    winning = explained.get("queryPlanner", {}).get("winningPlan", {})
    stages = list(_stages(winning))
    by_id = any(
        s.get("stage") in ID_STAGES
        or (
            s.get("stage") == "IXSCAN" and (s.get("indexName") == "_id_" or s.get("keyPattern") == {"_id": 1})
        )
        for s in stages
    )
    scans = any(s.get("stage") == "COLLSCAN" for s in stages)
    names = [
        f"{s.get('stage')}" + (f"({s['indexName']})" if s.get("indexName") else "")
        for s in stages
        if s.get("stage")
    ]
    return {"store": "mongodb", "uses_id_index": by_id and not scans, "plan": names, "explain": explained}


def _stages(node: Any) -> Any:
    """Every stage of a MongoDB plan tree (``inputStage``, ``inputStages``, and 8.0's ``queryPlan``)."""
    if not isinstance(node, dict):
        return
    plan = node.get("queryPlan", node)
    if plan.get("stage"):
        yield plan
    for child in [plan.get("inputStage"), *plan.get("inputStages", [])]:
        yield from _stages(child)


def _dump(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)

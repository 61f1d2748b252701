"""Query plans from the real store: is a filter served by the ``_id`` index, or does it scan?

The development store (FerretDB 1.24 on SQLite) pushes a filter down to SQL only when it is a single
string or ObjectId ``_id`` (``filterPushdown: true``); the SQLite plan then reads
``SEARCH <table> USING INDEX <table>__id_pushdown`` (the index our FerretDB build adds, a moment after the
table is created). Any other filter (ranges, ``$in``, other fields, ``_id`` plus another field) is
``filterPushdown: false`` with ``SCAN <table>``: every document is read. MongoDB answers ``explain`` with
a ``winningPlan`` instead: ``IDHACK`` / ``EXPRESS_IXSCAN`` or an ``IXSCAN`` on ``{_id: 1}`` versus
``COLLSCAN``. Both shapes are understood here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from tdu_shared.mongo import Document

INDEX_WAIT_S = 5.0
"""How long to wait for the ``_id`` index our FerretDB build adds to a new table (checked twice a second)."""


async def query_plan(collection: AsyncCollection[Document], filter: Document) -> dict[str, Any]:
    """The store's ``explain`` of ``find(filter)`` on ``collection``, as the store returns it."""
    explained: dict[str, Any] = await collection.database.command(
        "explain", {"find": collection.name, "filter": filter}
    )
    return explained


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    planner = plan.get("queryPlanner") or {}
    lines = planner.get("Plan") or []
    return [str(line) for line in lines]


def _stages(node: Any) -> list[dict[str, Any]]:
    """Every stage of a MongoDB plan tree (winningPlan and its inputStage(s))."""
    if not isinstance(node, dict):
        return []
    found = [node]
    for key in ("inputStage", "queryPlan"):
        found += _stages(node.get(key))
    for child in node.get("inputStages") or []:
        found += _stages(child)
    return found


def uses_id_index(plan: dict[str, Any]) -> bool:
    """Whether this ``explain`` answer reads only through the ``_id`` index (no collection scan)."""
    if "filterPushdown" in plan:  # FerretDB
        lines = _plan_lines(plan)
        searches = [line for line in lines if "SEARCH" in line and "USING INDEX" in line]
        scans = [line for line in lines if "detail=SCAN" in line]
        return bool(plan["filterPushdown"]) and bool(searches) and not scans
    stages = _stages((plan.get("queryPlanner") or {}).get("winningPlan"))
    names = {str(s.get("stage")) for s in stages}
    if "COLLSCAN" in names or not stages:
        return False
    if names & {"IDHACK", "EXPRESS_IXSCAN"}:
        return True
    return any(s.get("stage") == "IXSCAN" and s.get("keyPattern") == {"_id": 1} for s in stages)


async def assert_id_only(collection: AsyncCollection[Document], filter: Document) -> None:
    """Fail unless ``find(filter)`` on ``collection`` is answered from the ``_id`` index alone.

    On FerretDB a filter that is pushed down but still planned as a scan is retried for a few seconds:
    the ``_id`` index of a new table is added a moment after the table (see deploy/ferretdb/idindex.go).
    """
    deadline = asyncio.get_running_loop().time() + INDEX_WAIT_S
    while True:
        plan = await query_plan(collection, filter)
        if uses_id_index(plan):
            return
        if "filterPushdown" in plan and not _plan_lines(plan) and _single_id(filter):
            return  # no such collection yet (no table, no plan): this filter is the one FerretDB pushes down
        waiting = plan.get("filterPushdown") is True
        if not waiting or asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"{collection.name}.find({filter!r}) is not served by the _id index: {_summary(plan)}"
            )
        await asyncio.sleep(0.25)


def _single_id(filter: Document) -> bool:
    """The filter FerretDB 1.24 pushes down to its index: a single string or ObjectId ``_id``."""
    return list(filter) == ["_id"] and isinstance(filter["_id"], str | ObjectId)


def _summary(plan: dict[str, Any]) -> str:
    if "filterPushdown" in plan:
        return f"filterPushdown={plan['filterPushdown']}, plan={_plan_lines(plan)}"
    stages = _stages((plan.get("queryPlanner") or {}).get("winningPlan"))
    return "stages=" + ",".join(str(s.get("stage")) for s in stages)

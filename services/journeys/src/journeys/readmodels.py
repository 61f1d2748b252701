"""Read models of the journeys: lists per scope and day, KPI counters per basin and month.

Every request reads documents by ``_id`` only (the development store scans its whole collection for any
other filter), and nothing is recomputed over all journeys on a request:

- ``journey_lists``: a tree per scope by time of application: ``L|<scope>`` = ``{"c": {day: count}}``,
  ``L|<scope>|<day>`` = ``{"c": {HHMMSS: count}}`` (the seconds of that day that have journeys) and
  ``L|<scope>|<day>|<HHMMSS>`` = ``{"e": {journey_id: created_at}}`` (UTC). A page walks down from the
  scope's day counts, reading only the documents that hold its journeys, then those journeys' views
  (below). A journey's entry is in a document of one second's applications, not of a whole day's: the
  development store rewrites a whole document on each change, so a day of 2,000 applications in one
  document made each of them slower than the one before (a day document holds one small count per
  second, changed once per group of writes, see ``_write_lists``).
- ``journey_kpis``: ``K|<basin>|<YYYY-MM>`` = ``{"v": version, "d": "<JSON: {"<day>|<path>": n}>", "t":
  "<JSON: {path: n}, the month's totals>", "j": {journey_id: revision}}`` and ``K|basins`` (the basins
  that have journeys). ``GET /kpis`` over a year reads 13 documents per basin, and uses a month's totals
  unless the period cuts the month. The counters are one JSON text each, not nested documents: the
  development store's cost is per stored field (a month of a busy basin holds over a thousand counters,
  one per duration for the medians: 7 ms to read it nested, 1.5 s for a year of 16 basins). A month is
  changed by reading it and writing it back under the fence of its ``v`` (``Documents.swap``), one
  change at a time per document in a process. ``j`` holds only the revisions being applied: a marker is
  removed once the projection has recorded that revision as applied, so the month document does not
  grow with its journeys.
- ``journey_views``: per journey, the journey as one JSON text (``j``) with its revision (``r``), written
  by every projection unless a newer one is there: a list page reads its 50 journeys from these (one text
  each) rather than from the journey documents (some hundred fields each, 30 ms a page on the
  development store).
- ``journey_projections``: per journey, what the read models hold of it (its scopes, its counters and
  the revision they are of).

``project`` brings the read models up to a journey's current state. It runs right after every journey
write, and the relay checks every journey it relays (``repair``: projects again those whose record is
behind), so a crash between a journey write and its projection is repaired by the next relay pass (at
most ``RELAY_INTERVAL_S`` after a restart). It is
idempotent: list changes are ``$set``/``$unset`` of one entry (the projection first records the union of
the old and new scopes, so an interrupted move is finished by the next run), and the KPI counters of a
month document move together with the revision they are of (``j.<journey_id>``, in the same update), after
the projection has recorded which revision it is applying; a repeated or interrupted run never counts a
journey twice. Projections of one journey are serialised in a process (the relay also holds the journey's
lease). ``rebuild`` recomputes everything from the journeys (``journeys rebuild-read-models``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from weakref import WeakValueDictionary

from journeys.adapters.documents import journey_from_text, journey_to_text
from journeys.domain import readmodels as rm
from journeys.domain.kpis import Period
from journeys.domain.model import Journey
from journeys.ports import Documents, JourneyQuery, JourneyStore, Page

BASINS_DOC = "K|basins"
REPAIRS_AT_ONCE = 16
"""Journeys projected at once by ``repair``."""
SWAP_ATTEMPTS = 50
"""Times a month document is read and written again when another instance changed it in between."""


def _memory_documents() -> Documents:
    from journeys.adapters.memory import MemoryDocuments

    return MemoryDocuments()


class BadCursor(ValueError):
    """A list cursor that this service did not hand out (422)."""


def encode_cursor(created_at: datetime, journey_id: str) -> str:
    raw = f"{created_at.astimezone(UTC).isoformat()}|{journey_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, journey_id = raw.split("|", 1)
        return datetime.fromisoformat(moment), journey_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("curseur de pagination invalide") from exc


def _order(entry: tuple[str, datetime]) -> tuple[float, str]:
    """Newest first, then by id: the order of every list."""
    journey_id, created_at = entry
    return (-_aware(created_at).timestamp(), journey_id)


def _projected(record: Mapping[str, Any] | None, revision: int) -> bool:
    """Whether a projection record says every read model holds this revision of its journey."""
    if not record or record.get("moving") or record.get("kpi_next"):
        return False
    kpi = record.get("kpi") or {}
    return int(record.get("view_v") or 0) >= revision and int(kpi.get("v") or 0) >= revision


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _month_counters(doc: Mapping[str, Any] | None) -> dict[str, int]:
    """A month document's counters, ``"<day>|<path>" -> n``."""
    days = (doc or {}).get("d")
    if isinstance(days, str):
        return _untext(days)
    return _counters_of(doc)  # written by an older version: nested documents, changed by $inc


def _totals(counters: Mapping[str, int]) -> Counter[str]:
    """``"<day>|<path>" -> n`` summed over the days: ``path -> n``."""
    totals: Counter[str] = Counter()
    for key, n in counters.items():
        totals[key.partition("|")[2]] += n
    return totals


def _text(counters: Mapping[str, int]) -> str:
    return json.dumps({k: n for k, n in sorted(counters.items()) if n}, separators=(",", ":"))


def _untext(text: str) -> dict[str, int]:
    return {str(k): int(n) for k, n in json.loads(text).items()}


def _counters_of(doc: Mapping[str, Any] | None) -> dict[str, int]:
    """``{"d": {day: {path...: n}}}`` (the older format) as flat ``"<day>|<path>" -> n``."""
    flat: dict[str, int] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}", value)
        elif isinstance(node, int) and not isinstance(node, bool):
            flat[prefix] = node

    for day, paths in ((doc or {}).get("d") or {}).items():
        if isinstance(paths, dict):
            for key, value in paths.items():
                walk(f"{day}|{key}", value)
    return flat


def _in_month(counters: Mapping[str, int], month: str) -> dict[str, int]:
    return {k: n for k, n in counters.items() if k[:7] == month}


def _encode(counters: Mapping[str, int]) -> dict[str, list[Any]]:
    """Counters as two arrays (the development store takes no nested arrays, keys hold dots)."""
    kept = sorted((k, n) for k, n in counters.items() if n)
    return {"k": [k for k, _ in kept], "n": [n for _, n in kept]}


def _decode(encoded: Mapping[str, Sequence[Any]] | None) -> Counter[str]:
    if not encoded:
        return Counter()
    return Counter({str(k): int(n) for k, n in zip(encoded["k"], encoded["n"], strict=True)})


_Path = tuple[str, ...]
"""Where a journey sits in a list's tree: (day, HHMMSS) of its application, UTC; a prefix is a node."""
PATH_DEPTH = 2


@dataclass(frozen=True)
class _ListChange:
    scope: str
    path: _Path
    journey_id: str
    created_at: datetime | None
    """None: the journey leaves the list."""


@dataclass(frozen=True)
class _Queued:
    changes: Sequence[_ListChange]
    done: asyncio.Future[None]


def _path_of(moment: datetime) -> _Path:
    aware = _aware(moment).astimezone(UTC)
    return (aware.date().isoformat(), aware.strftime("%H%M%S"))


def _list_id(scope: str, path: Sequence[str]) -> str:
    return "|".join(("L", scope, *path))


def _edit(
    node: tuple[str, _Path], field: str, values: Mapping[str, Any]
) -> tuple[str, dict[str, Any], list[str]]:
    """A list node's change: ``<field>.<key>`` set where a value is given (a listing time, a count), unset
    where it is None or 0 (an unlisted journey, an emptied child)."""
    kept = {f"{field}.{k}": v for k, v in values.items() if v}
    return _list_id(*node), kept, [f"{field}.{k}" for k, v in values.items() if not v]


def _count(node: Mapping[str, Any] | None) -> int:
    """The entries under a list node, from its children's counts."""
    return sum(int(n) for n in ((node or {}).get("c") or {}).values())


def _select(units: Sequence[tuple[Any, int]], skip: int, limit: int) -> tuple[list[Any], int]:
    """Of units (newest first, with how many entries each holds), those holding entries ``skip`` to
    ``skip + limit`` and one more (to know whether there is a next page); and how many entries of the
    first of them come before ``skip``."""
    needed: list[Any] = []
    seen, skip_in_first = 0, 0
    for unit, count in units:
        if seen + count <= skip:
            seen += count
            continue
        if not needed:
            skip_in_first = skip - seen
        needed.append(unit)
        seen += count
        if seen >= skip + limit + 1:
            break
    return needed, skip_in_first


def _from_cursor(units: Sequence[tuple[Any, int]], limit: int) -> list[Any]:
    """Of units from the cursor's own one (newest first), enough to hold ``limit`` entries after the
    cursor and one more: the cursor's own unit may be entirely before it."""
    needed: list[Any] = []
    seen, first = 0, None
    for unit, count in units:
        first = count if first is None else first
        needed.append(unit)
        seen += count
        if seen >= limit + 1 + first:
            break
    return needed


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}-01"


class _Month:
    """A KPI document as read, its counters decoded when first used."""

    def __init__(self, raw: dict[str, Any], read_at: float) -> None:
        self.raw = raw
        self.read_at = read_at

    @cached_property
    def counters(self) -> dict[str, int]:
        """``"<day>|<path>" -> n``"""
        return _month_counters(self.raw)

    @cached_property
    def totals(self) -> Counter[str]:
        """``path -> n`` over the whole month."""
        text = self.raw.get("t")
        return Counter(_untext(text)) if isinstance(text, str) else _totals(self.counters)


class ReadModels:
    def __init__(
        self,
        lists: Documents,
        kpis: Documents,
        projections: Documents,
        kpi_cache_s: float = 0.0,
        *,
        views: Documents | None = None,
    ) -> None:
        """``kpi_cache_s``: KPI documents read from the store are reused this long, unless this process
        changed them meanwhile: another instance's writes show in the KPIs within that time. ``views``:
        where the journeys' list views are kept (in this process if not given)."""
        self._lists = lists
        self._kpis = kpis
        self._projections = projections
        self._views = views if views is not None else _memory_documents()
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        self._queued: list[_Queued] = []
        self._lists_lock = asyncio.Lock()
        self._cache_s = kpi_cache_s
        self._cache: dict[str, _Month] = {}
        self._stale: set[str] = set()
        self._basins_listed: set[str] = set()

    # ------------------------------------------------------------ projection

    async def project(self, journey: Journey) -> None:
        """Bring every read model up to ``journey`` (idempotent; never goes back to an older revision).

        What is to change is recorded first, in one write of the projection record (the lists the journey
        may be in, that a move is under way, the KPI counters being applied); then the view, the lists and
        the KPI months change together; then one write records them done. A run cut short is finished by
        the next one (each step is idempotent)."""
        async with self._lock(journey.journey_id):
            record = await self._projections.get(journey.journey_id) or {}
            record = await self._finish_interrupted(journey, record)
            lists = self._lists_to_change(journey, record)
            held = record.get("kpi") or {}
            kpi = self._kpis_to_change(journey, held)
            view = int(record.get("view_v") or 0) < journey.revision
            before: dict[str, Any] = {}
            if lists is not None:
                before |= {
                    "listed": sorted(lists[0] | lists[1]),
                    "moving": True,
                    "listed_v": journey.revision,
                }
            if kpi:
                before["kpi_next"] = kpi
            if before:
                await self._projections.change(journey.journey_id, set=before)
            if view:  # before the lists: a page that finds the journey in a list finds its view
                text = journey_to_text(journey)
                await self._views.set_if_newer(journey.journey_id, journey.revision, {"j": text})
            await asyncio.gather(
                self._move_lists(journey, *lists) if lists is not None else asyncio.sleep(0),
                self._apply_kpi_months(journey.journey_id, held, kpi) if kpi else asyncio.sleep(0),
            )
            after: dict[str, Any] = {"view_v": journey.revision} if view else {}
            if lists is not None:
                after |= {"listed": sorted(lists[1]), "moving": False}
            if kpi:
                after["kpi"] = kpi
            elif kpi is not None:  # same counters (a reminder, an erasure): only their revision moves on
                after["kpi.v"] = journey.revision
            if after:
                await self._projections.change(
                    journey.journey_id, set=after, unset=["kpi_next"] if kpi else []
                )
            if kpi:
                await self._forget_markers(journey.journey_id, held, kpi)

    async def repair(self, journeys: Sequence[Journey]) -> None:
        """Project those of these journeys whose read models are behind them (the relay's check: a process
        may have stopped between a journey write and its projection). Their records are read at once, so
        journeys already projected cost one read between them."""
        records = await self._projections.get_many(
            [j.journey_id for j in journeys], ["view_v", "kpi.v", "moving", "kpi_next"]
        )
        behind = [j for j in journeys if not _projected(records.get(j.journey_id), j.revision)]
        slots = asyncio.Semaphore(REPAIRS_AT_ONCE)

        async def one(journey: Journey) -> None:
            async with slots:
                await self.project(journey)

        await asyncio.gather(*(one(j) for j in behind))

    @staticmethod
    def _lists_to_change(
        journey: Journey, record: Mapping[str, Any]
    ) -> tuple[set[str], set[str], bool] | None:
        """(the lists it is in, those it belongs in, whether a move was cut short), or None: nothing to do."""
        old, new = set(record.get("listed") or []), rm.list_scopes(journey)
        moving = bool(record.get("moving"))
        if int(record.get("listed_v") or 0) > journey.revision or (old == new and not moving):
            return None  # unchanged, or an older version, late: the lists already show a newer one
        return old, new, moving

    async def _move_lists(self, journey: Journey, old: set[str], new: set[str], moving: bool) -> None:
        path, jid = _path_of(journey.created_at), journey.journey_id
        adding = new if moving else new - old
        changes = [_ListChange(scope, path, jid, journey.created_at) for scope in sorted(adding)]
        changes += [_ListChange(scope, path, jid, None) for scope in sorted(old - new)]
        if changes:
            await self._write_lists(changes)

    async def _write_lists(self, changes: Sequence[_ListChange]) -> None:
        """List or unlist a journey in some scopes.

        The list changes of this process are written one group at a time: those that arrive while a
        group is being written go together in the next, whatever their scopes (a few commands per group,
        level by level, rather than three per scope and journey: a burst of applications costs the store
        a few commands per group). Each node's count is set to what the node below holds, not
        incremented: repeating a change changes nothing, and the last count written saw every entry
        written before it.
        """
        mine = _Queued(changes, asyncio.get_running_loop().create_future())
        self._queued.append(mine)
        async with self._lists_lock:
            if not mine.done.done():
                group, self._queued = self._queued, []
                try:
                    await self._write_list_group([c for queued in group for c in queued.changes])
                except BaseException:
                    # The others' changes go back in front of the queue: each of them is waiting for
                    # this lock and writes them again when its turn comes (its own error if any).
                    self._queued = [q for q in group if q is not mine] + self._queued
                    raise
                for queued in group:
                    if not queued.done.done():
                        queued.done.set_result(None)
        await mine.done

    async def _write_list_group(self, changes: Sequence[_ListChange]) -> None:
        """The leaves in one write and one read, then each level above likewise, the roots in one write."""
        leaves: dict[tuple[str, _Path], dict[str, datetime | None]] = {}
        for change in changes:  # in arrival order: the last change of a journey wins
            leaves.setdefault((change.scope, change.path), {})[change.journey_id] = change.created_at
        await self._lists.change_many([_edit(node, "e", entries) for node, entries in leaves.items()])
        docs = await self._lists.get_many([_list_id(*node) for node in leaves])
        counts = {node: len((docs.get(_list_id(*node)) or {}).get("e") or {}) for node in leaves}
        for depth in range(PATH_DEPTH - 1, -1, -1):
            parents: dict[tuple[str, _Path], dict[str, int]] = {}
            for (scope, path), count in counts.items():
                parents.setdefault((scope, path[:depth]), {})[path[depth]] = count
            await self._lists.change_many([_edit(node, "c", children) for node, children in parents.items()])
            if depth > 0:
                docs = await self._lists.get_many([_list_id(*node) for node in parents], ["c"])
                counts = {node: _count(docs.get(_list_id(*node))) for node in parents}

    @staticmethod
    def _kpis_to_change(journey: Journey, held: Mapping[str, Any]) -> dict[str, Any] | None:
        """The counters to apply (with their revision and basin); ``{}`` when they are those held already
        and only their revision moves on; None when the projection holds this revision or a newer one."""
        if held and int(held["v"]) >= journey.revision:
            return None
        target = rm.contribution(journey)
        if held and held.get("basin") == rm.kpi_scope(journey) and _decode(held.get("c")) == +target:
            return {}
        return {"v": journey.revision, "c": _encode(target), "basin": rm.kpi_scope(journey)}

    async def _finish_interrupted(self, journey: Journey, record: dict[str, Any]) -> dict[str, Any]:
        intent = record.get("kpi_next")
        if not intent:
            return record
        held = record.get("kpi") or {}
        await self._apply_kpi_months(journey.journey_id, held, intent)
        await self._projections.change(journey.journey_id, set={"kpi": dict(intent)}, unset=["kpi_next"])
        await self._forget_markers(journey.journey_id, held, intent)
        return {**record, "kpi": intent, "kpi_next": None}

    @staticmethod
    def _months(held: Mapping[str, Any], intent: Mapping[str, Any]) -> tuple[str, list[str]]:
        before, after = _decode(held.get("c")), _decode(intent["c"])
        return str(intent["basin"]), sorted({k[:7] for k in before} | {k[:7] for k in after})

    async def _apply_kpi_months(
        self, journey_id: str, held: Mapping[str, Any], intent: Mapping[str, Any]
    ) -> None:
        """Move the journey's counters in each month they change, with its marker (see ``_change_month``)."""
        basin, months = self._months(held, intent)
        before, after = _decode(held.get("c")), _decode(intent["c"])
        version = int(intent["v"])
        if not held and basin not in self._basins_listed:
            await self._kpis.change(BASINS_DOC, set={f"b.{rm.key_segment(basin)}": True})
            self._basins_listed.add(basin)  # this process wrote it: not again for every journey
            self._stale.add(BASINS_DOC)

        async def one_month(month: str) -> None:
            holds, wanted = _in_month(before, month), _in_month(after, month)
            diff = {k: wanted.get(k, 0) - holds.get(k, 0) for k in set(holds) | set(wanted)}
            await self._change_month(f"K|{basin}|{month}", journey_id, version, diff)

        await asyncio.gather(*(one_month(m) for m in months))

    async def _forget_markers(
        self, journey_id: str, held: Mapping[str, Any], intent: Mapping[str, Any]
    ) -> None:
        """Once the projection says this revision is applied, the months' markers are no longer needed (a
        month without a marker holds what the projection's ``kpi`` says)."""
        basin, months = self._months(held, intent)

        async def forget(month: str) -> None:
            doc_id = f"K|{basin}|{month}"
            async with self._lock(doc_id):  # never beside a swap of this process (see ``_change_month``)
                await self._kpis.change(doc_id, unset=[f"j.{journey_id}"])

        await asyncio.gather(*(forget(m) for m in months))

    async def _change_month(
        self, doc_id: str, journey_id: str, version: int, diff: Mapping[str, int]
    ) -> None:
        """Add ``diff`` to a month's counters with the journey's marker, unless the month holds that
        revision already. One change at a time per month in this process: the development store writes a
        document back whole, so two updates of one document at once could undo each other; between
        instances, the fence of ``v`` makes the later writer read again."""
        async with self._lock(doc_id):
            for _ in range(SWAP_ATTEMPTS):
                doc = await self._kpis.get(doc_id, ["v", "d", f"j.{journey_id}"])
                marker = ((doc or {}).get("j") or {}).get(journey_id)
                if marker is not None and int(marker) >= version:
                    return  # this month already holds this revision (or a newer one)
                counters = Counter(_month_counters(doc))
                counters.update(diff)
                fields = {"d": _text(counters), "t": _text(_totals(counters)), f"j.{journey_id}": version}
                if await self._kpis.swap(doc_id, doc, fields):
                    self._stale.add(doc_id)
                    return
                await asyncio.sleep(random.uniform(0.001, 0.02))  # another instance wrote it first
        raise RuntimeError(f"{doc_id} changed by others {SWAP_ATTEMPTS} times in a row")

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # ------------------------------------------------------------ lists

    async def page(
        self,
        query: JourneyQuery,
        skip: int,
        limit: int,
        journeys: JourneyStore,
        cursor: str | None = None,
    ) -> Page:
        """Journeys matching ``query``, newest first: from ``cursor`` if given, else after ``skip``."""
        after = decode_cursor(cursor) if cursor else None
        wanted = rm.scope_for(**vars(query))
        units = await self._children(wanted.scope, [()])
        if wanted.rest:
            return await self._filtered_page(wanted, units, skip, limit, journeys, after)
        total = sum(n for _, n in units)
        if after is not None:
            cursor_path = _path_of(after[0])
            for depth in range(1, len(cursor_path) + 1):
                chosen = _from_cursor([(u, n) for u, n in units if u <= cursor_path[:depth]], limit)
                if depth < len(cursor_path):
                    units = await self._children(wanted.scope, chosen)
            position = _order((after[1], after[0]))
            entries = [e for e in await self._entries(wanted.scope, chosen) if _order(e) > position]
        else:
            for depth in range(1, PATH_DEPTH + 1):
                chosen, skip = _select(units, skip, limit)
                if depth < PATH_DEPTH:
                    units = await self._children(wanted.scope, chosen)
            entries = (await self._entries(wanted.scope, chosen))[skip:]
        chosen_entries = entries[:limit]
        found = await self._journeys([jid for jid, _ in chosen_entries], journeys)
        items = [found[jid] for jid, _ in chosen_entries if jid in found]
        more = len(entries) > limit
        last = chosen_entries[-1] if chosen_entries else None
        next_cursor = encode_cursor(last[1], last[0]) if more and last else None
        return Page(items, total, next_cursor)

    async def _journeys(self, journey_ids: Sequence[str], journeys: JourneyStore) -> dict[str, Journey]:
        """These journeys from their views (one JSON text each), or from the journey store for those
        without one (read models built by an older version)."""
        views = await self._views.get_many(journey_ids, ["j"])
        found = {i: journey_from_text(d["j"]) for i, d in views.items() if isinstance(d.get("j"), str)}
        missing = [i for i in journey_ids if i not in found]
        return found | (await journeys.get_many(missing) if missing else {})

    async def _children(self, scope: str, units: Sequence[_Path]) -> list[tuple[_Path, int]]:
        """The children of these tree nodes that hold journeys, newest first, with their counts."""
        ids = [_list_id(scope, u) for u in units]
        docs = await self._lists.get_many(ids)
        return sorted(
            (
                ((*unit, child), int(n))
                for unit, doc_id in zip(units, ids, strict=True)
                for child, n in ((docs.get(doc_id) or {}).get("c") or {}).items()
                if n
            ),
            reverse=True,
        )

    async def _entries(self, scope: str, leaves: Sequence[_Path]) -> list[tuple[str, datetime]]:
        ids = [_list_id(scope, leaf) for leaf in leaves]
        docs = await self._lists.get_many(ids)
        entries = [
            (jid, _aware(at))
            for doc_id in ids
            for jid, at in ((docs.get(doc_id) or {}).get("e") or {}).items()
        ]
        return sorted(entries, key=_order)

    async def _filtered_page(
        self,
        wanted: rm.ListScope,
        days: Sequence[tuple[_Path, int]],
        skip: int,
        limit: int,
        journeys: JourneyStore,
        after: tuple[datetime, str] | None,
    ) -> Page:
        """A person's list with more filters: that person's journeys are read and filtered (few)."""
        units = list(days)
        for _ in range(PATH_DEPTH - 1):
            units = await self._children(wanted.scope, [u for u, _ in units])
        entries = await self._entries(wanted.scope, [u for u, _ in units])
        found = await self._journeys([jid for jid, _ in entries], journeys)
        kept = [(jid, at) for jid, at in entries if jid in found and rm.matches(found[jid], wanted.rest)]
        if after is not None:
            position = _order((after[1], after[0]))
            rest = [e for e in kept if _order(e) > position]
        else:
            rest = kept[skip:]
        chosen = rest[:limit]
        next_cursor = encode_cursor(chosen[-1][1], chosen[-1][0]) if len(rest) > limit and chosen else None
        return Page([found[jid] for jid, _ in chosen], len(kept), next_cursor)

    # ------------------------------------------------------------ KPIs

    async def kpis(self, period: Period, region: str, basin: str | None = None) -> dict[str, Any]:
        """KPIs of the region and each basin (or of one basin) over a period of whole days."""
        first, end = rm.period_days(period)
        known = (await self._cached([BASINS_DOC]))[BASINS_DOC].raw.get("b") or {}
        basins = sorted(rm.segment_text(b) for b, present in known.items() if present)
        if basin is not None:
            basins = [b for b in basins if b == basin]
        months = rm.months_between(first, end)
        months_in_full = {m for m in months if first <= f"{m}-01" and _next_month(m) <= end}
        docs = await self._cached([f"K|{b}|{m}" for b in basins for m in months])
        summed: dict[str, Counter[str]] = {}
        for b in basins:
            paths: Counter[str] = Counter()
            for m in months:
                month = docs[f"K|{b}|{m}"]
                if m in months_in_full:
                    paths.update(month.totals)
                else:
                    paths.update(rm.in_period(month.counters, period))
            summed[b] = paths
        return rm.report_summed(summed, period, region)

    async def _cached(self, doc_ids: Sequence[str]) -> dict[str, _Month]:
        """KPI documents, from this process's copy when it is fresh (see ``kpi_cache_s``)."""
        now = time.monotonic()
        found: dict[str, _Month] = {}
        missing = []
        for doc_id in doc_ids:
            kept = self._cache.get(doc_id)
            if kept is not None and doc_id not in self._stale and now - kept.read_at < self._cache_s:
                found[doc_id] = kept
            else:
                missing.append(doc_id)
        if missing:
            self._stale.difference_update(missing)
            docs = await self._kpis.get_many(missing, ["d", "t", "b"])  # not the revision markers
            for doc_id in missing:
                found[doc_id] = self._cache[doc_id] = _Month(docs.get(doc_id) or {}, now)
        return found

    # ------------------------------------------------------------ rebuild

    async def rebuild(self, journeys: Iterable[Journey]) -> int:
        """Recompute every read model from the journeys and replace the stored ones; returns how many."""
        from journeys.adapters.memory import MemoryDocuments

        lists, kpis, projections, views = (MemoryDocuments() for _ in range(4))
        fresh = ReadModels(lists, kpis, projections, views=views)
        count = 0
        for journey in journeys:
            await fresh.project(journey)
            count += 1
        await self._lists.replace_all(lists.dump())
        await self._kpis.replace_all(kpis.dump())
        await self._projections.replace_all(projections.dump())
        await self._views.replace_all(views.dump())
        return count

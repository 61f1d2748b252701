"""A radius index over points keyed by id, kept current without rebuilding on every change.

A KD-tree (scipy ``cKDTree``) covers the points present at the last merge; points added since sit in a
small side buffer searched by brute force; removed or replaced points are masked. When the buffer or the
dead share grows, the next query merges everything into a fresh tree. No query ever scans all points.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from matching.domain.geometry import FloatArray

IntArray = NDArray[np.intp]


class PointSet:
    """Unit vectors keyed by id; ``within`` answers radius queries by slot, ``ids``/``xyz`` map slots back."""

    def __init__(self, *, merge_at: int = 256) -> None:
        self._merge_at = merge_at
        self._xyz: FloatArray = np.empty((16, 3))
        self._alive: NDArray[np.bool_] = np.zeros(16, dtype=bool)
        self.ids: list[str] = []
        self.values: list[Any] = []
        self._slot: dict[str, int] = {}
        self._tree: cKDTree | None = None
        self._tree_n = 0
        self._dead = 0

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, key: str) -> bool:
        return key in self._slot

    def keys(self) -> Iterator[str]:
        return iter(self._slot)

    @property
    def xyz(self) -> FloatArray:
        return self._xyz

    def slot_of(self, key: str) -> int | None:
        return self._slot.get(key)

    def put(self, key: str, xyz: FloatArray, value: Any = None) -> int:
        """Add or move a point, with a value kept beside it; returns its (new) slot."""
        self.remove(key)
        n = len(self.ids)
        if n == len(self._xyz):
            self._grow()
        self._xyz[n] = xyz
        self._alive[n] = True
        self.ids.append(key)
        self.values.append(value)
        self._slot[key] = n
        return n

    def remove(self, key: str) -> int | None:
        slot = self._slot.pop(key, None)
        if slot is not None:
            self._alive[slot] = False
            self._dead += 1
        return slot

    def within(self, xyz: FloatArray, chord: float) -> IntArray:
        """Slots of the live points within ``chord`` of ``xyz``."""
        self._maybe_merge()
        found: list[IntArray] = []
        if self._tree is not None:
            found.append(np.asarray(self._tree.query_ball_point(xyz, chord), dtype=np.intp))
        n = len(self.ids)
        if n > self._tree_n:
            buffer = self._xyz[self._tree_n : n]
            near = np.nonzero(np.linalg.norm(buffer - xyz, axis=1) <= chord)[0] + self._tree_n
            found.append(near.astype(np.intp))
        if not found:
            return np.empty(0, dtype=np.intp)
        slots = np.concatenate(found) if len(found) > 1 else found[0]
        return slots[self._alive[slots]]

    def within_many(self, xyz: FloatArray, chords: FloatArray) -> list[IntArray]:
        """``within`` for many points at once (one tree traversal per point, in C)."""
        self._maybe_merge(force=True)
        if self._tree is None or len(xyz) == 0:
            return [np.empty(0, dtype=np.intp) for _ in range(len(xyz))]
        results = self._tree.query_ball_point(xyz, chords)
        return [np.asarray(r, dtype=np.intp) for r in results]

    def nearest(self, xyz: FloatArray, k: int, chord: float) -> tuple[FloatArray, IntArray]:
        """Up to ``k`` points nearest ``xyz`` within ``chord``, nearest first: (chords, slots).

        Removed points are not filtered out here (callers check ``alive``), so fewer than ``k`` live
        points may come back even when more exist: ask again with a larger ``k``.
        """
        self._maybe_merge()
        dists: list[FloatArray] = []
        slots: list[IntArray] = []
        if self._tree is not None and k > 0:
            dist, idx = self._tree.query(xyz, k=min(k, self._tree_n), distance_upper_bound=chord)
            dist, idx = np.atleast_1d(dist), np.atleast_1d(idx)
            keep = idx < self._tree_n
            dists.append(dist[keep])
            slots.append(idx[keep].astype(np.intp))
        n = len(self.ids)
        if n > self._tree_n:
            chords = np.linalg.norm(self._xyz[self._tree_n : n] - xyz, axis=1)
            near = np.nonzero(chords <= chord)[0]
            dists.append(chords[near])
            slots.append((near + self._tree_n).astype(np.intp))
        if not dists:
            return np.empty(0), np.empty(0, dtype=np.intp)
        if len(dists) == 1 and n == self._tree_n:  # the tree's answer alone: sorted already
            return dists[0], slots[0]
        all_d, all_s = np.concatenate(dists), np.concatenate(slots)
        order = np.argsort(all_d, kind="stable")[:k]
        return all_d[order], all_s[order]

    def nearest_many(self, xyz: FloatArray, k: int, chords: FloatArray) -> tuple[FloatArray, IntArray]:
        """Each point's ``k`` nearest within its own chord: (n, k) chords (inf past the last) and slots."""
        self._maybe_merge(force=True)
        if self._tree is None:
            return np.full((len(xyz), k), np.inf), np.zeros((len(xyz), k), dtype=np.intp)
        k = max(1, min(k, self._tree_n))
        dist = np.empty((len(xyz), k))
        idx = np.empty((len(xyz), k), dtype=np.intp)
        for bound in np.unique(chords):  # one query per distinct radius (a handful of basins)
            rows = np.nonzero(chords == bound)[0]
            d, i = self._tree.query(xyz[rows], k=k, distance_upper_bound=bound)
            dist[rows], idx[rows] = np.asarray(d).reshape(len(rows), k), np.asarray(i).reshape(len(rows), k)
        return dist, np.minimum(idx, self._tree_n - 1)

    def alive(self, slots: IntArray) -> NDArray[np.bool_]:
        return self._alive[slots]

    def compact(self) -> None:
        """Merge the buffer into the tree now (after a bulk load, before serving queries)."""
        self._maybe_merge(force=True)

    @property
    def tree_size(self) -> int:
        return self._tree_n

    def tree_bytes(self) -> int:
        """Approximate memory of the KD-tree: its copy of the points, its index array, its nodes."""
        if self._tree is None:
            return 0
        return int(self._tree.data.nbytes + self._tree.indices.nbytes + self._tree.size * 96)

    def slot_table(self) -> dict[str, int]:
        return self._slot

    def _maybe_merge(self, force: bool = False) -> None:
        n = len(self.ids)
        buffered = n - self._tree_n
        # A large index tolerates a larger buffer: a rebuild costs O(n log n), a query scans the buffer.
        limit = max(self._merge_at, self._tree_n // 64)
        if (force and (buffered or self._dead)) or buffered > limit or self._dead > max(limit, n // 4):
            self._merge()

    def _merge(self) -> None:
        live = np.nonzero(self._alive[: len(self.ids)])[0]
        self._on_compact(live)
        xyz = self._xyz[live]
        self.ids = [self.ids[i] for i in live]
        self.values = [self.values[i] for i in live]
        self._slot = {key: i for i, key in enumerate(self.ids)}
        size = max(16, len(live) * 5 // 4)
        self._xyz = np.empty((size, 3))
        self._xyz[: len(live)] = xyz
        self._alive = np.zeros(size, dtype=bool)
        self._alive[: len(live)] = True
        self._tree = cKDTree(xyz, balanced_tree=False, compact_nodes=False) if len(live) else None
        self._tree_n = len(live)
        self._dead = 0

    def _on_compact(self, live: IntArray) -> None:
        """Hook for subclasses keeping per-slot arrays: ``live`` lists the slots kept, in their new order."""

    def _grow(self) -> None:
        size = len(self._xyz) * 2
        xyz = np.empty((size, 3))
        xyz[: len(self._xyz)] = self._xyz
        alive = np.zeros(size, dtype=bool)
        alive[: len(self._alive)] = self._alive
        self._xyz, self._alive = xyz, alive
        self._on_grow(size)

    def _on_grow(self, size: int) -> None:
        """Hook for subclasses keeping per-slot arrays."""


NO_DAY = np.iinfo(np.int32).max


class SessionPoints(PointSet):
    """Sessions of one fiche: points plus the first day of each (ordinal; NO_DAY when unknown)."""

    def __init__(self) -> None:
        super().__init__()
        self.start: NDArray[np.int32] = np.full(16, NO_DAY, dtype=np.int32)

    def put(self, key: str, xyz: FloatArray, value: Any = None) -> int:
        slot = super().put(key, xyz, value)
        day = getattr(value, "start_date", None)
        self.start[slot] = day.toordinal() if day is not None else NO_DAY
        return slot

    def _on_grow(self, size: int) -> None:
        start = np.full(size, NO_DAY, dtype=np.int32)
        start[: len(self.start)] = self.start
        self.start = start

    def _on_compact(self, live: IntArray) -> None:
        start = np.full(max(16, len(live) * 5 // 4), NO_DAY, dtype=np.int32)
        start[: len(live)] = self.start[live]
        self.start = start

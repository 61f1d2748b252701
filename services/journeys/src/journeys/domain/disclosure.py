"""Statistical disclosure control of a table of counts (pure, no I/O): primary and secondary suppression.

A table is a set of cells (counts) tied by additive relations: a total and its parts (a basin's total and
its parts by occupation family; the region and its basins...). Some cells may be *hidden*: counts the
table implies without publishing them (follow-ups without a job = follow-ups recorded - in a job).

- Primary suppression: every published cell below the threshold (5) is suppressed, zeros included.
- Secondary suppression: more published cells are suppressed until no suppressed cell, and no hidden
  cell below the threshold, can be worked out from what is published:
  - within one relation, never exactly one unknown member; and, its total being published, its unknown
    parts never add up to 0 (each of them would then be 0);
  - across relations, the published values and every relation, taken as one system of linear equations,
    leave each of those cells undetermined (exact Gaussian elimination over the rationals).
  Each secondary suppression takes the smallest published part of the relation at stake (its total only
  when no part is published), so that as little as possible is lost.

What this does not cover: bounds that several relations give together through the counts being
non-negative (beyond the zero sum of one relation), and differences between two versions of one table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

THRESHOLD = 5
"""A count below this is never published (nor can it be worked out from what is)."""

Cell = tuple[str, ...]


@dataclass(frozen=True)
class Relation:
    """``total`` = the sum of ``parts``."""

    total: Cell
    parts: tuple[Cell, ...]

    @property
    def members(self) -> tuple[Cell, ...]:
        return (self.total, *self.parts)


def suppress(
    values: Mapping[Cell, int],
    relations: Sequence[Relation],
    hidden: Iterable[Cell] = (),
    threshold: int = THRESHOLD,
) -> set[Cell]:
    """The published cells (those of ``values`` not in ``hidden``) to leave empty: below the threshold,
    and as many more as it takes that none of them can be worked out (see the module docstring)."""
    table = _Table(values, relations, frozenset(hidden), threshold)
    while True:
        table.widen_within_relations()
        exposed = sorted(c for c in table.determined() if table.protected(c))
        if not exposed:
            return table.unknown - table.hidden
        if not table.widen_around(exposed[0]):  # never: a determined cell has a relation with a known one
            raise RuntimeError(f"cannot protect {exposed[0]}")


class _Table:
    def __init__(
        self,
        values: Mapping[Cell, int],
        relations: Sequence[Relation],
        hidden: frozenset[Cell],
        threshold: int,
    ) -> None:
        self.values = values
        self.relations = relations
        self.hidden = hidden
        self.threshold = threshold
        self.unknown = {c for c, v in values.items() if c in hidden or v < threshold}
        self.of_cell: dict[Cell, list[Relation]] = defaultdict(list)
        for relation in relations:
            for member in relation.members:
                self.of_cell[member].append(relation)

    def protected(self, cell: Cell) -> bool:
        """A suppressed cell, or a hidden one below the threshold: must not be worked out."""
        return cell in self.unknown and (cell not in self.hidden or self.values[cell] < self.threshold)

    def exposes(self, relation: Relation) -> bool:
        """Whether this relation alone gives away a protected cell."""
        unknown = [m for m in relation.members if m in self.unknown]
        if not unknown:
            return False
        if len(unknown) == 1:
            return self.protected(unknown[0])
        zero_sum = relation.total not in self.unknown and sum(self.values[m] for m in unknown) == 0
        return zero_sum and any(self.protected(m) for m in unknown)

    def widen(self, relation: Relation) -> bool:
        """Suppress the smallest published part of the relation (its total if no part is published)."""
        known = [p for p in relation.parts if p not in self.unknown]
        if not known and relation.total not in self.unknown:
            known = [relation.total]
        if not known:
            return False
        self.unknown.add(min(known, key=lambda c: (self.values[c], c)))
        return True

    def widen_within_relations(self) -> None:
        changed = True
        while changed:
            changed = False
            for relation in self.relations:
                if self.exposes(relation) and self.widen(relation):
                    changed = True

    def widen_around(self, cell: Cell) -> bool:
        return any(self.widen(r) for r in self.of_cell[cell])

    def determined(self) -> set[Cell]:
        """The unknown cells whose value the published cells and the relations fix."""
        columns = sorted(self.unknown)
        index = {c: i for i, c in enumerate(columns)}
        rows = []
        for relation in self.relations:
            row = {index[p]: Fraction(-1) for p in relation.parts if p in self.unknown}
            if relation.total in self.unknown:
                row[index[relation.total]] = Fraction(1)
            if row:
                rows.append(row)
        return {columns[i] for i in determined_unknowns(rows)}


def determined_unknowns(rows: Sequence[Mapping[int, Fraction]]) -> set[int]:
    """Of the unknowns of the linear system ``rows`` (sparse: column -> coefficient; the right-hand sides
    do not matter), those it determines: in its reduced row echelon form, the pivots whose row holds no
    other unknown."""
    pivots: dict[int, dict[int, Fraction]] = {}
    """Pivot column -> its row, pivot coefficient 1, no other pivot column in it."""
    holders: dict[int, set[int]] = defaultdict(set)
    """Non-pivot column -> the pivots whose rows hold it."""
    for given in rows:
        row = dict(given)
        for col in [c for c in row if c in pivots]:
            _subtract(row, row[col], pivots[col])
        if not row:
            continue
        pivot = min(row, key=lambda c: (len(holders.get(c, ())), c))
        scale = 1 / row[pivot]
        row = {c: v * scale for c, v in row.items()}
        for other in sorted(holders.pop(pivot, set())):
            changed = pivots[other]
            before = set(changed)
            _subtract(changed, changed[pivot], row)
            for c in before - set(changed) - {pivot}:
                holders[c].discard(other)
            for c in set(changed) - before:
                holders[c].add(other)
        pivots[pivot] = row
        for c in row:
            if c != pivot:
                holders[c].add(pivot)
    return {p for p, row in pivots.items() if len(row) == 1}


def _subtract(row: dict[int, Fraction], factor: Fraction, other: Mapping[int, Fraction]) -> None:
    """``row -= factor * other``, dropping the zeros."""
    for col, value in other.items():
        new = row.get(col, Fraction(0)) - factor * value
        if new:
            row[col] = new
        else:
            row.pop(col, None)

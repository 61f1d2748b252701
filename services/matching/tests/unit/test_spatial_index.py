"""The radius index stays exact through additions, moves and removals (tree + side buffer + masks)."""

from __future__ import annotations

import random

import numpy as np

from matching.domain.geometry import chord_of_km, distances_km, unit_vector
from matching.domain.spatial import PointSet


def brute_force(points: dict[str, tuple[float, float]], centre: tuple[float, float], km: float) -> set[str]:
    origin = unit_vector(*centre)
    return {k for k, p in points.items() if distances_km(origin, unit_vector(*p)[None, :])[0] <= km}


def test_radius_queries_match_brute_force_through_many_changes() -> None:
    rng = random.Random(3)
    index, truth = PointSet(merge_at=16), {}
    for step in range(2000):
        key = f"p{rng.randrange(400)}"
        if rng.random() < 0.2:
            index.remove(key)
            truth.pop(key, None)
        else:
            truth[key] = (rng.uniform(48, 50), rng.uniform(5, 8))
            index.put(key, unit_vector(*truth[key]))
        if step % 100 == 0:
            centre = (rng.uniform(48, 50), rng.uniform(5, 8))
            found = {index.ids[s] for s in index.within(unit_vector(*centre), chord_of_km(40))}
            assert found == brute_force(truth, centre, 40 * 1.000001)
    assert len(index) == len(truth)


def test_nearest_returns_live_points_nearest_first_including_the_buffer() -> None:
    index = PointSet(merge_at=1000)
    for i, lat in enumerate([49.0, 49.1, 49.2, 49.3]):
        index.put(f"p{i}", unit_vector(lat, 6.0))
    index.compact()
    index.put("new", unit_vector(49.05, 6.0))  # stays in the side buffer
    index.remove("p0")
    chords, slots = index.nearest(unit_vector(49.0, 6.0), 10, chord_of_km(25))
    live = slots[index.alive(slots)]
    assert [index.ids[s] for s in live] == ["new", "p1", "p2"]
    assert np.all(np.diff(chords) >= 0)

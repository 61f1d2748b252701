"""Points on the sphere as 3-D unit vectors, so a radius query is a Euclidean ball in a KD-tree."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tdu_shared.geo import EARTH_RADIUS_KM

FloatArray = NDArray[np.float64]

# Queries use a slightly larger chord, then keep what the exact great-circle distance allows, so the
# radius edge is decided by the distance in km and not by floating-point noise in the chord.
_CHORD_SLACK = 1.000001


def unit_vector(lat: float, lon: float) -> FloatArray:
    vector: FloatArray = unit_vectors(np.array([lat]), np.array([lon]))[0]
    return vector


def unit_vectors(lats: FloatArray, lons: FloatArray) -> FloatArray:
    phi, lam = np.radians(lats), np.radians(lons)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def chord_of_km(radius_km: float) -> float:
    """Straight-line distance through the unit sphere matching a great-circle distance (slightly padded)."""
    return 2 * math.sin(min(radius_km, math.pi * EARTH_RADIUS_KM) / (2 * EARTH_RADIUS_KM)) * _CHORD_SLACK


def km_of_chords(chords: FloatArray) -> FloatArray:
    """Great-circle distance in km of unit-sphere chords."""
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chords / 2, 0.0, 1.0))


def distances_km(origin: FloatArray, points: FloatArray) -> FloatArray:
    """Great-circle distances (km) from one unit vector to many."""
    if len(points) == 0:
        return np.empty(0)
    return km_of_chords(np.linalg.norm(points - origin, axis=1))

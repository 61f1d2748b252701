"""Trait d'Union shared contracts and helpers."""

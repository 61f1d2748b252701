"""Trait d'Union trainings service."""

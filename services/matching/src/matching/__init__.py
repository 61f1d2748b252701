"""Trait d'Union matching service."""

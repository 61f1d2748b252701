"""Trait d'Union notifications service."""

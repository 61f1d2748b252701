"""Trait d'Union journeys service."""

"""Trait d'Union offers service."""

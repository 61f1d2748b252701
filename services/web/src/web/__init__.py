"""Trait d'Union web pages: seekers, employers, training providers and basin operators."""

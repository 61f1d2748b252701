"""Trait d'Union's development tooling: the local Kafka and store, the platform launcher, test fixtures.

A development dependency only: no service imports it and no image contains it.
"""

"""Trait d'Union's development tooling: the local Kafka and store, the platform launcher, test fixtures.

A development dependency only: no service imports it and no service's image contains it (docker-compose's
one-shot kafka-setup image runs its `tdu-infra kafka-setup`).
"""

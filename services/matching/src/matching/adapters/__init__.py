"""Implementations of the ports: clock, MongoDB ledger, Kafka topic readers."""

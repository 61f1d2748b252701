"""Implementations of the ports: MongoDB stores, the Kafka outbox relay."""

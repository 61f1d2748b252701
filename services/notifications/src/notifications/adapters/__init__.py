"""Implementations of the ports: MongoDB stores, SMTP, the SMS HTTP API, Kafka, Jinja2 templates."""

"""Errors with a meaning for message handling: what goes to a DLQ and what is retried."""

from __future__ import annotations


class InvalidMessage(Exception):
    """The message can never be used as it is (undecodable, invalid, refused by a rule): dead-letter it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Rejected(InvalidMessage):
    """A well-formed command a business rule refuses (for example an invalid journey transition)."""

"""Every event and command contract; importing this package registers them all."""

from tdu_shared.contracts import access, contacts, journeys, matching, notifications, offers, trainings

__all__ = ["access", "contacts", "journeys", "matching", "notifications", "offers", "trainings"]

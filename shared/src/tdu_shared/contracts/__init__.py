"""Every event and command contract; importing this package registers them all."""

from tdu_shared.contracts import contacts, journeys, matching, notifications, offers, trainings

__all__ = ["contacts", "journeys", "matching", "notifications", "offers", "trainings"]

"""Fixtures of the notifications service's integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifications.standins import MailCatcher
from tdu_dev.testing.processes import free_port


@pytest.fixture
def mail_catcher() -> Iterator[MailCatcher]:
    """A real SMTP server on a free port, keeping what it receives."""
    catcher = MailCatcher(port=free_port()).start()
    yield catcher
    catcher.stop()

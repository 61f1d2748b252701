"""The five services as separate processes against the real broker and store, with a real SMTP server
(the mail catcher, aiosmtpd) and the SMS provider stand-in, each on free ports, under topic and database
names of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tdu_dev.infra.local import Endpoints
from tdu_dev.infra.platform import Platform
from tdu_dev.testing.platform import running_platform


@pytest.fixture(scope="module")
def platform(infrastructure: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(infrastructure, tmp_path_factory.mktemp("outbox")) as running:
        yield running

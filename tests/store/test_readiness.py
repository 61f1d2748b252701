"""/ready tells the truth: a store that hangs or stops makes the service not ready within seconds."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tdu_dev.infra.paths import Paths
from tdu_dev.infra.servers import install_ferretdb, mongo_ready
from tdu_dev.testing.processes import ServiceProcess, free_port

pytestmark = pytest.mark.integration

NOT_READY_WITHIN_S = 10


@pytest.fixture
def own_store(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A store of this test's own (the local FerretDB program), so that it can be frozen and killed."""
    port = free_port()
    binary = install_ferretdb(Paths.discover())
    with (tmp_path / "store.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(binary), "-listen", f"127.0.0.1:{port}", "-data", str(tmp_path / "data")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while not mongo_ready(url):
        assert time.monotonic() < deadline, "the test's own store did not start"
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)


def seconds_until_ready_is(port: int, wanted: int, limit: float) -> float:
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < limit:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=limit).status_code == wanted:
                return elapsed
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/ready did not answer {wanted} within {limit} s")


def test_ready_fails_within_seconds_when_the_store_hangs_then_stops(
    own_store: tuple[subprocess.Popen[bytes], str], service_env: dict[str, str], tmp_path: Path
) -> None:
    store, url = own_store
    port = free_port()
    service = ServiceProcess(
        "trainings",
        ["serve"],
        {**service_env, "MONGODB_URL": url, "HTTP_PORT": str(port)},
        tmp_path / "trainings.log",
        port=port,
    ).start()
    try:
        database = tmp_path / "data" / f"{service_env['MONGODB_DATABASE']}.sqlite"
        with closing(sqlite3.connect(database, timeout=5, isolation_level=None)) as writer_elsewhere:
            writer_elsewhere.execute("BEGIN EXCLUSIVE")  # the store still answers ping, but cannot write
            assert seconds_until_ready_is(port, 503, NOT_READY_WITHIN_S) < NOT_READY_WITHIN_S
            assert mongo_ready(url)
            writer_elsewhere.execute("ROLLBACK")
        seconds_until_ready_is(port, 200, 30)

        os.kill(store.pid, signal.SIGSTOP)  # hung: connections open, nothing answers
        assert seconds_until_ready_is(port, 503, NOT_READY_WITHIN_S) < NOT_READY_WITHIN_S
        checks = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10).json()["checks"]
        assert checks["store"] is False and checks["kafka"] is True

        os.kill(store.pid, signal.SIGCONT)
        seconds_until_ready_is(port, 200, 30)

        store.kill()  # gone
        store.wait(10)
        assert seconds_until_ready_is(port, 503, NOT_READY_WITHIN_S) < NOT_READY_WITHIN_S
        assert "dependency not ready" in service.log_tail(200)
    finally:
        service.stop()

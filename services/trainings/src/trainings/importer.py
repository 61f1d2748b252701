"""The one import path, shared by the CLI (file, dry-run or not) and the HTTP upload.

The file is parsed and normalised in a worker thread (lxml is CPU-bound) and handed to the use case in
chunks through a small bounded queue, so the event loop stays responsive and memory stays flat.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cache
from pathlib import Path
from typing import IO, TypeVar

from tdu_shared.geo import commune_table, load_basins, region_of_departement
from tdu_shared.rome import rome_referential
from trainings.adapters.lheo import read_catalogue
from trainings.domain.basins import BasinIndex
from trainings.domain.model import ViolationLog
from trainings.domain.normalise import Reference
from trainings.domain.report import FormationResult, ImportReport, normalised
from trainings.handlers import import_catalogue
from trainings.ports import SessionSink

T = TypeVar("T")
_DONE = object()


@cache
def reference(basins_file: str | None = None) -> Reference:
    """The offline reference data (communes, basins, ROME, regions), loaded once per process."""
    basins, regions = load_basins(basins_file), region_of_departement()
    return Reference(commune_table(), basins, rome_referential(), regions, BasinIndex(basins, regions))


def source_of(path: str | Path) -> str:
    """Default catalogue source of a file: its name without extension, as a lower-case slug."""
    stem = Path(path).name.split(".")[0]
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "catalogue"


async def in_thread(
    produce: Callable[[], Iterator[T]], *, chunk: int = 200, depth: int = 4
) -> AsyncIterator[T]:
    """Run a blocking iterator in a thread; items arrive in order, at most ``depth`` chunks ahead."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(depth)
    stopped = threading.Event()

    def put(item: object) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def run() -> None:
        pending: list[T] = []
        try:
            for item in produce():
                if stopped.is_set():
                    return
                pending.append(item)
                if len(pending) >= chunk:
                    put(pending)
                    pending = []
            put(pending)
            put(_DONE)
        except BaseException as exc:
            put(pending)
            put(exc)

    worker = loop.run_in_executor(None, run)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            for value in item:  # type: ignore[attr-defined]
                yield value
    finally:
        stopped.set()
        while not worker.done():
            while not queue.empty():
                queue.get_nowait()
            await asyncio.sleep(0.01)
        await worker


async def run_import(
    stream: IO[bytes] | str,
    source: str,
    sink: SessionSink,
    *,
    ref: Reference | None = None,
    validate: bool = False,
    batch_size: int = 500,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read an LHEO catalogue (2.2 or 2.3) and sync it into ``sink`` as a snapshot of ``source``.

    ``validate`` also checks each formation against the LHEO 2.3 XSD; violations are reported, the
    file is still imported. ``on_progress`` receives the line reached after each formation.
    """
    ref = ref or reference()
    violations = ViolationLog() if validate else None

    def produce() -> Iterator[FormationResult]:
        return normalised(read_catalogue(stream, violations=violations), source, ref)

    async def formations() -> AsyncIterator[FormationResult]:
        async for formation in in_thread(produce):
            if on_progress is not None:
                on_progress(formation.line)
            yield formation

    report = await import_catalogue(formations(), source, sink, batch_size=batch_size)
    if violations is not None:
        report.validated = True
        report.violation_count, report.violations = violations.count, violations.first
    return report

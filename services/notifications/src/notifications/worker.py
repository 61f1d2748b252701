"""The delivery loop: sends what was just stored at once, and looks for due deliveries every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

from notifications.domain.model import Delivery
from notifications.handlers import Dispatcher

log = structlog.get_logger(__name__)


T = TypeVar("T")


class WakeLoop(Generic[T]):
    """A background loop (``_run``) given what was just stored (``offer``: sent without a search of the
    store) and woken when something else became due (``wake``); otherwise it searches every ``poll_s``."""

    name = "loop"

    def __init__(self, poll_s: float) -> None:
        self._poll_s = poll_s
        self._fresh: list[T] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def offer(self, items: Sequence[T]) -> None:
        self._fresh.extend(items)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError


class DeliveryLoop(WakeLoop[Delivery]):
    """E-mails and SMS: deliveries just stored, and due ones (a contact came, a retry, quiet hours over)."""

    name = "delivery-loop"

    def __init__(self, dispatcher: Dispatcher, poll_s: float, linger_s: float = 0.0) -> None:
        super().__init__(poll_s)
        self._dispatcher = dispatcher
        self._linger_s = linger_s

    async def _run(self) -> None:
        await self._quietly(self._dispatcher.report_unreported)
        last_search = 0.0
        while True:
            if self._fresh:
                size = self._dispatcher.batch_size
                if len(self._fresh) < size:  # one batch of many costs the store less than many small ones
                    await asyncio.sleep(self._linger_s)
                fresh, self._fresh = self._fresh[:size], self._fresh[size:]
                await self._quietly(functools.partial(self._dispatcher.run_once, fresh))
                continue
            if self._wake.is_set() or time.monotonic() - last_search >= self._poll_s:
                self._wake.clear()
                last_search = time.monotonic()
                if await self._quietly(self._dispatcher.run_once):
                    self._wake.set()  # there may be more
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
                if self._fresh:
                    self._wake.clear()

    async def _quietly(self, step: Callable[[], Awaitable[int]]) -> int:
        """One step; an error (store or broker away) is logged and the loop goes on after a pause."""
        try:
            return await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery step failed; retrying")
            await asyncio.sleep(self._poll_s)
            with contextlib.suppress(Exception):
                await self._dispatcher.report_unreported()
            return 0

"""The delivery loop: sends what was just stored at once, and looks for due deliveries every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from notifications.domain.model import Delivery
from notifications.handlers import Dispatcher

log = structlog.get_logger(__name__)


class DeliveryLoop:
    def __init__(self, dispatcher: Dispatcher, poll_s: float, linger_s: float = 0.0) -> None:
        self._dispatcher = dispatcher
        self._poll_s = poll_s
        self._linger_s = linger_s
        self._fresh: list[Delivery] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def offer(self, deliveries: Sequence[Delivery]) -> None:
        """Deliveries just stored: sent without a search of the store."""
        self._fresh.extend(deliveries)
        self._wake.set()

    def wake(self) -> None:
        """Something became due (a contact arrived): search the store now."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-loop")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

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

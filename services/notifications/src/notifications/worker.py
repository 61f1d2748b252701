"""The delivery loop: runs the dispatcher whenever new messages are stored, and every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from notifications.handlers import Dispatcher

log = structlog.get_logger(__name__)


class DeliveryLoop:
    def __init__(self, dispatcher: Dispatcher, poll_s: float, linger_s: float = 0.0) -> None:
        self._dispatcher = dispatcher
        self._poll_s = poll_s
        self._linger_s = linger_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
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
        while True:
            claimed = await self._quietly(self._dispatcher.run_once)
            if claimed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
                # a moment for more messages to come: one batch of many costs the store less than many small
                await asyncio.sleep(self._linger_s)
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

"""What every service's HTTP API has beside its own routes: health, readiness, metrics, AsyncAPI docs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.specification import Specification, get_asyncapi_html
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

ReadyCheck = Callable[[], Awaitable[bool]]

log = structlog.get_logger(__name__)


def ops_router(readiness: Readiness, specification: Callable[[], Specification] | None = None) -> APIRouter:
    """``/health`` (process alive), ``/ready`` (every dependency answers), ``/metrics``, ``/asyncapi``."""
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", summary="Every dependency answers in time (503 otherwise)")
    async def ready() -> JSONResponse:
        results = await readiness.probe()
        status = 200 if all(results.values()) else 503
        return JSONResponse({"ready": status == 200, "checks": results}, status_code=status)

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if specification is not None:

        @router.get("/asyncapi", response_class=HTMLResponse, summary="AsyncAPI documentation (HTML)")
        async def asyncapi_html() -> str:
            return get_asyncapi_html(specification(), try_it_out_path=None)

        @router.get("/asyncapi.json", summary="AsyncAPI document (JSON)")
        async def asyncapi_json() -> Any:
            return specification().to_jsonable()

    return router


READY_TIMEOUT_S = 2.0
"""How long a dependency may take to answer its probe: a hung store or broker shows as not ready this soon."""

READY_GRACE_S = 4.0
"""A dependency that answered before is reported not ready once it has not answered in time for this long:
one slow answer under a burst (the store finishing another client's write) does not take a service out
of rotation, a store that hangs or stops still shows within ``READY_TIMEOUT_S + READY_GRACE_S``."""

READY = Gauge("tdu_ready", "1 when the dependency answered its last readiness probe in time", ["check"])


class Readiness:
    """The service's dependency probes, run together under one deadline; a change of verdict is logged.

    Each probe must exercise the dependency the way the service uses it (the store: a write and a read
    back, since a hung store may still answer ``ping``), and is given :data:`READY_TIMEOUT_S` to answer.
    A dependency that has answered before counts as ready until it has failed for ``grace_s``
    (:data:`READY_GRACE_S`); one that never answered counts as not ready at once.
    """

    def __init__(
        self,
        checks: Mapping[str, ReadyCheck],
        *,
        timeout_s: float = READY_TIMEOUT_S,
        grace_s: float = READY_GRACE_S,
    ) -> None:
        self.checks = dict(checks)
        self.timeout_s = timeout_s
        self.grace_s = grace_s
        self._last: dict[str, bool] = {}
        self._answered_at: dict[str, float] = {}

    async def probe(self) -> dict[str, bool]:
        names = list(self.checks)
        answers = await asyncio.gather(*(self._answer(self.checks[n]) for n in names))
        now = asyncio.get_running_loop().time()
        results = {}
        for name, answered in zip(names, answers, strict=True):
            if answered:
                self._answered_at[name] = now
            last = self._answered_at.get(name)
            results[name] = answered or (last is not None and now - last < self.grace_s)
        for name, ok in results.items():
            READY.labels(check=name).set(1 if ok else 0)
            if self._last.get(name, True) != ok:
                if ok:
                    log.info("dependency answers again", check=name)
                else:
                    log.warning("dependency not ready", check=name, timeout_s=self.timeout_s)
        self._last = results
        return results

    async def watch(self, every_s: float = 5.0) -> None:
        """Probe on a schedule, so a dependency that stops answering is logged even when nobody asks."""
        while True:
            await self.probe()
            await asyncio.sleep(every_s)

    async def _answer(self, check: ReadyCheck) -> bool:
        try:
            return await asyncio.wait_for(check(), self.timeout_s)
        except Exception:
            return False

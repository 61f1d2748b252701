"""What every service's HTTP API has beside its own routes: health, readiness, metrics, AsyncAPI docs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.specification import Specification, get_asyncapi_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

ReadyCheck = Callable[[], Awaitable[bool]]


def ops_router(
    checks: Mapping[str, ReadyCheck], specification: Callable[[], Specification] | None = None
) -> APIRouter:
    """``/health`` (process alive), ``/ready`` (every dependency answers), ``/metrics``, ``/asyncapi``."""
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", summary="Every dependency answers (503 otherwise)")
    async def ready() -> JSONResponse:
        results = {name: await _safe(check) for name, check in checks.items()}
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


async def _safe(check: ReadyCheck, timeout_s: float = 3.0) -> bool:
    """A dependency that does not answer in time is not ready (a hung store must not hang /ready)."""
    try:
        return await asyncio.wait_for(check(), timeout_s)
    except Exception:
        return False

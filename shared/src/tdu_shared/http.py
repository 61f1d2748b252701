"""What every service's HTTP API has beside its own routes: health, readiness, metrics, AsyncAPI docs, and
the limits on what a caller may send (body size, short error bodies)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.specification import Specification, get_asyncapi_html
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tdu_shared.envelope import EventTooLarge
from tdu_shared.problems import error_response

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


# ---------------------------------------------------------------- limits on what a caller sends

MAX_PAGE = 10_000
"""Deepest page a list answers (422 beyond): page × size stays far from what the store can skip; deeper
reading goes through filters or, where offered, a cursor."""

EXCERPT_CHARS = 80
"""How much of a refused value an error body quotes back."""


def excerpt(value: Any) -> Any:
    """A short quote of a refused input: scalars as they are (text cut at :data:`EXCERPT_CHARS`)."""
    if isinstance(value, str):
        return value if len(value) <= EXCERPT_CHARS else value[:EXCERPT_CHARS] + "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    return f"({type(value).__name__} non reproduit)"


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with each field's error, quoting at most a short excerpt of the input (never the whole body)."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        shown: dict[str, Any] = {"type": error["type"], "loc": list(error["loc"]), "msg": error["msg"]}
        if "input" in error:
            shown["input"] = excerpt(error["input"])
        errors.append(shown)
    return JSONResponse({"detail": errors}, status_code=422)


class BodyTooLarge(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"corps de requête trop volumineux (au plus {max_bytes // 1024} Ko)")


class BodyLimit:
    """ASGI middleware: a request body beyond ``max_bytes`` gets 413 before it is parsed or kept.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body sent in
    chunks is counted as it arrives and refused as soon as it passes the limit. Paths in ``uploads``
    (file uploads that stream the body and cap it themselves) are left alone.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: Sequence[str] = ()) -> None:
        self.app, self.max_bytes, self.uploads = app, max_bytes, tuple(uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.uploads:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            refused = BodyTooLarge(self.max_bytes)
            await error_response(scope["path"], 413, refused.detail)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


async def event_too_large(_: Request, exc: Exception) -> JSONResponse:
    """422: what was sent would make an event the broker refuses; nothing was stored or published."""
    assert isinstance(exc, EventTooLarge)
    return JSONResponse({"detail": [{"loc": ["body"], "type": "too_large", "msg": exc.reason}]}, 422)


def limit_requests(app: FastAPI, max_bytes: int, uploads: Sequence[str] = ()) -> None:
    """Cap request bodies at ``max_bytes`` (413) and keep validation errors short (422, no echo)."""
    app.add_middleware(BodyLimit, max_bytes=max_bytes, uploads=uploads)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(EventTooLarge, event_too_large)


class RateLimit:
    """ASGI middleware: each client gets ``per_minute`` requests a minute (a token bucket holding a minute's
    worth), then 429 with ``Retry-After``. The client is the connection's address, or the first
    ``X-Forwarded-For`` hop when the service runs behind a proxy that sets it (``trust_forwarded``).
    Operations endpoints (health, readiness, metrics) are never limited. Counted per process: N replicas
    let a client through N times the rate.
    """

    EXEMPT = ("/health", "/ready", "/metrics")
    MAX_CLIENTS = 10_000

    def __init__(self, app: ASGIApp, per_minute: int, trust_forwarded: bool = False) -> None:
        self.app, self.capacity, self.trust_forwarded = app, float(per_minute), trust_forwarded
        self.per_second = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def client(self, scope: Scope) -> str:
        if self.trust_forwarded:
            forwarded = Headers(scope=scope).get("x-forwarded-for")
            if forwarded:
                return forwarded.split(",")[0].strip()
        peer = scope.get("client")
        return str(peer[0]) if peer else "?"

    def take(self, client: str, now: float) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if len(self._buckets) > self.MAX_CLIENTS:  # forget clients idle for a minute
            self._buckets = {c: b for c, b in self._buckets.items() if now - b[1] < 60}
        tokens, last = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        if tokens >= 1:
            self._buckets[client] = (tokens - 1, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1 - tokens) / self.per_second

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        wait = self.take(self.client(scope), asyncio.get_running_loop().time())
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        refused = error_response(
            scope["path"],
            429,
            f"trop de requêtes : réessayez dans {seconds} s",
            {"Retry-After": str(seconds)},
        )
        await refused(scope, receive, send)

"""Traces across services: one trace from an HTTP request, through the events it causes, to the e-mail.

OpenTelemetry, with W3C trace context (``traceparent``) carried where the work goes:

- an HTTP request continues the caller's trace (its ``traceparent`` header) or starts one; the answer
  carries ``traceparent`` and ``X-Trace-Id`` (:class:`TraceRequests`);
- an event published while a span is current carries it in a ``traceparent`` record header; an event
  stored in an outbox keeps the ``traceparent`` of the request that made it, so the relay publishes it
  in that trace (:func:`traceparent`);
- a consumed record continues the trace of its ``traceparent`` header (:func:`span_from`), and what it
  stores for later (a delivery) keeps it too: the e-mail is sent in the request's trace, with an
  ``X-Trace-Id`` header;
- every log line written inside a span carries ``trace_id``.

Spans are exported by OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and written as JSON lines to
``TRACE_FILE`` when that is set (the local platform writes ``.cache/logs/spans-<service>.jsonl``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACEPARENT = "traceparent"
TRACE_ID_HEADER = "X-Trace-Id"
_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()


def setup_tracing(service: str, *, otlp_endpoint: str | None = None, span_file: str | None = None) -> None:
    """Make this process's spans real (ids to propagate even with no exporter), exported as configured.

    A process sets its tracer provider once; a second service built in the same process (tests) adds
    its exporters to the first one's.
    """
    with _lock:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider(resource=Resource.create({"service.name": f"traitdunion-{service}"}))
            trace.set_tracer_provider(provider)
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        if span_file:
            provider.add_span_processor(BatchSpanProcessor(SpanFile(Path(span_file), service)))


def tracer() -> trace.Tracer:
    return trace.get_tracer("traitdunion")


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent`` value, or None outside any span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def trace_id_of(value: str | None) -> str | None:
    """The trace id (32 hex digits) of a ``traceparent`` value."""
    parts = (value or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def header_value(headers: Mapping[str, bytes | str]) -> str | None:
    """The ``traceparent`` of a Kafka record's headers, if any."""
    raw = headers.get(TRACEPARENT)
    if raw is None:
        return None
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw


@contextmanager
def attached(parent: str | None) -> Iterator[None]:
    """Inside the block, ``parent`` (a ``traceparent``) is the current trace context, without a span of
    its own: what is started there (a producer span, say) continues that trace. None: as it was."""
    if not parent:
        yield
        return
    token = otel_context.attach(_PROPAGATOR.extract({TRACEPARENT: parent}))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def span_from(
    name: str, parent: str | None, kind: SpanKind = SpanKind.CONSUMER, **attributes: Any
) -> Iterator[Span]:
    """A span continuing the trace of ``parent`` (a ``traceparent``; a new trace when None), current
    inside the block, with ``trace_id`` bound into every log line written there."""
    context = _PROPAGATOR.extract({TRACEPARENT: parent}) if parent else otel_context.Context()
    with tracer().start_as_current_span(name, context=context, kind=kind, attributes=attributes) as span:
        ids = span.get_span_context()
        bound = (
            structlog.contextvars.bind_contextvars(trace_id=format(ids.trace_id, "032x"))
            if ids.is_valid
            else {}
        )
        try:
            yield span
        finally:
            structlog.contextvars.reset_contextvars(**bound)


class TraceRequests:
    """ASGI middleware: each request in a server span, its trace id given back in the answer's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = Headers(scope=scope).get(TRACEPARENT)
        method, path = scope["method"], scope["path"]
        with span_from(
            f"HTTP {method}", parent, SpanKind.SERVER, **{"http.method": method, "url.path": path}
        ) as span:
            current = traceparent()

            async def answer(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.status_code", message["status"])
                    if current:
                        headers = MutableHeaders(scope=message)
                        headers.append(TRACEPARENT, current)
                        headers.append(TRACE_ID_HEADER, trace_id_of(current) or "")
                await send(message)

            await self.app(scope, receive, answer)


class SpanFile(SpanExporter):
    """Finished spans as JSON lines (trace, span, parent, name, service, start, end, attributes)."""

    def __init__(self, path: Path, service: str) -> None:
        self.path, self.service = path, service
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ids = span.get_span_context()
            if ids is None:
                continue
            lines.append(
                json.dumps(
                    {
                        "trace_id": format(ids.trace_id, "032x"),
                        "span_id": format(ids.span_id, "016x"),
                        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                        "name": span.name,
                        "service": self.service,
                        "kind": span.kind.name,
                        "start_ns": span.start_time,
                        "end_ns": span.end_time,
                        "attributes": dict(span.attributes or {}),
                    },
                    default=str,
                )
            )
        with self.path.open("a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

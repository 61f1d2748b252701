"""Trace context: continued from a caller, carried by events and outboxes, given back to HTTP callers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import structlog
from fastapi import FastAPI
from opentelemetry import trace

from tdu_shared.contracts.offers import OfferSubmitted
from tdu_shared.envelope import new_envelope
from tdu_shared.kafka import event_headers
from tdu_shared.tracing import TraceRequests, setup_tracing, span_from, trace_id_of, traceparent

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_span_continues_its_parent_trace_and_binds_it_into_the_logs(tmp_path: Path) -> None:
    setup_tracing("test", span_file=str(tmp_path / "spans.jsonl"))
    assert traceparent() is None  # outside any span
    with span_from("consume offers.submitted", CALLER):
        inside = traceparent()
        bound = structlog.contextvars.get_contextvars()
    assert trace_id_of(inside) == "4bf92f3577b34da6a3ce929d0e0e4736" and inside != CALLER  # a child span
    assert bound["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "trace_id" not in structlog.contextvars.get_contextvars()
    with span_from("new work", None):
        fresh = trace_id_of(traceparent())
    assert fresh and fresh != "4bf92f3577b34da6a3ce929d0e0e4736"
    provider = trace.get_tracer_provider()
    assert provider.force_flush()  # type: ignore[attr-defined]
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    assert {"consume offers.submitted", "new work"} <= {s["name"] for s in spans}
    consumed = next(s for s in spans if s["name"] == "consume offers.submitted")
    assert (
        consumed["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
        and consumed["parent_id"] == "00f067aa0ba902b7"
    )


def test_an_event_carries_the_trace_it_is_published_in() -> None:
    envelope = new_envelope(
        OfferSubmitted(source="partner", partner="p", record={"id": "1"}),
        producer="t",
        region="44",
        basin=None,
    )
    assert dict(event_headers(envelope, CALLER))["traceparent"] == CALLER.encode()
    assert "traceparent" not in dict(event_headers(envelope))


async def test_an_http_answer_gives_the_trace_of_its_request() -> None:
    setup_tracing("test")
    app = FastAPI()
    seen: list[str | None] = []

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        seen.append(traceparent())
        return {"ok": "yes"}

    app.add_middleware(TraceRequests)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        continued = await client.get("/ping", headers={"traceparent": CALLER})
        started = await client.get("/ping")
    assert continued.headers["X-Trace-Id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_of(seen[0]) == "4bf92f3577b34da6a3ce929d0e0e4736"  # the handler runs in that trace
    assert (
        started.headers["X-Trace-Id"] == trace_id_of(started.headers["traceparent"]) == trace_id_of(seen[1])
    )
    assert started.headers["X-Trace-Id"] != continued.headers["X-Trace-Id"]

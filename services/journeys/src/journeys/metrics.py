"""Prometheus gauges of the KPIs (current calendar year), per basin and for the region ('region')."""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge

STATES = Gauge("journeys_by_state", "Journeys applied this year, by current state", ["scope", "state"])
PROMISES = Gauge("journeys_promises_signed", "Hiring promises signed this year", ["scope"])
PROMISES_TARGET = Gauge(
    "journeys_promises_target", "Hiring promises target prorated to this year so far", ["scope"]
)
HIRES = Gauge("journeys_hires", "Hires recorded this year", ["scope"])
RETURN = Gauge("journeys_return_to_employment_ratio", "Return to employment this year", ["scope", "at"])


def publish_gauges(report: dict[str, Any]) -> None:
    scopes = {"region": report["region"], **report["basins"]}
    for scope, values in scopes.items():
        for state, count in values["states"].items():
            STATES.labels(scope, state).set(count)
        PROMISES.labels(scope).set(values["promises_signed"])
        PROMISES_TARGET.labels(scope).set(values["promises_target"])
        HIRES.labels(scope).set(values["hires"])
        for at, ratio in values["return_to_employment"].items():
            if ratio is not None:
                RETURN.labels(scope, at).set(ratio)

"""KPIs of a set of journeys over a period, computed from their histories (pure, no I/O).

Definitions (all "in the period" means the step's time is in [start, end)):
- ``journeys``: journeys whose application was submitted in the period (the cohort); ``states`` counts
  the cohort by current state; ``conversions`` are, within the cohort, the share of journeys that reached
  a funnel step among those that reached the previous one.
- ``promises_signed``: hiring promises signed in the period, against the regional target (250 a year)
  prorated to the period's length.
- ``hires``: hires recorded in the period.
- ``return_to_employment``: ``end_of_training`` = of the trainings completed in the period, the share
  whose journey reached "hired"; ``6m``/``12m`` = of the follow-ups recorded in the period, the share
  still employed.
- ``median_days``: median days between two consecutive funnel steps, for steps reached in the period.
- ``abandonments``: abandonments in the period by step (state it left) and reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from statistics import median
from typing import Any

from journeys.domain.model import Journey, Step
from tdu_shared.contracts.journeys import JourneyState

S = JourneyState
FUNNEL: tuple[JourneyState, ...] = (
    S.APPLIED,
    S.IMMERSION_SCHEDULED,
    S.IMMERSION_DONE,
    S.COMMITTED,
    S.TRAINING_STARTED,
    S.TRAINING_COMPLETED,
    S.HIRED,
)
PROMISES_TARGET_PER_YEAR = 250
RETURN_TO_EMPLOYMENT_TARGET = 0.9


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86_400


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _steps(journeys: Iterable[Journey], period: Period, action: str) -> list[tuple[Journey, Step]]:
    return [(j, s) for j in journeys for s in j.history if s.action == action and period.contains(s.at)]


def _conversions(cohort: Sequence[Journey]) -> dict[str, float | None]:
    result = {}
    for before, after in pairwise(FUNNEL):
        reached = [j for j in cohort if j.reached_at(before)]
        result[f"{before.value}->{after.value}"] = _ratio(
            sum(1 for j in reached if j.reached_at(after)), len(reached)
        )
    return result


def _median_days(journeys: Sequence[Journey], period: Period) -> dict[str, float | None]:
    result = {}
    for before, after in pairwise(FUNNEL):
        days = []
        for j in journeys:
            start, end = j.reached_at(before), j.reached_at(after)
            if start is not None and end is not None and period.contains(end):
                days.append((end - start).total_seconds() / 86_400)
        result[f"{before.value}->{after.value}"] = round(median(days), 2) if days else None
    return result


def _follow_up_rate(journeys: Sequence[Journey], period: Period, months: int) -> float | None:
    recorded = [s for _, s in _steps(journeys, period, "RecordFollowUp") if s.details.get("months") == months]
    return _ratio(sum(1 for s in recorded if s.details.get("employed")), len(recorded))


def _abandonments(journeys: Sequence[Journey], period: Period) -> dict[str, dict[str, int]]:
    by_step: dict[str, Counter[str]] = defaultdict(Counter)
    for _, step in _steps(journeys, period, "AbandonJourney"):
        by_step[step.from_state.value if step.from_state else "?"][str(step.details.get("reason", ""))] += 1
    return {state: dict(reasons) for state, reasons in sorted(by_step.items())}


def scope_kpis(journeys: Sequence[Journey], period: Period) -> dict[str, Any]:
    """Every KPI of one scope (a basin, or the whole region)."""
    cohort = [j for j in journeys if period.contains(j.created_at)]
    completed = _steps(journeys, period, "CompleteTraining")
    promises = len(_steps(journeys, period, "SignHiringPromise"))
    target = round(PROMISES_TARGET_PER_YEAR * period.days / 365, 2)
    returns = {
        "end_of_training": _ratio(sum(1 for j, _ in completed if j.reached_at(S.HIRED)), len(completed)),
        "6m": _follow_up_rate(journeys, period, 6),
        "12m": _follow_up_rate(journeys, period, 12),
    }
    return {
        "journeys": len(cohort),
        "states": {state.value: n for state, n in sorted(Counter(j.state for j in cohort).items())},
        "conversions": _conversions(cohort),
        "promises_signed": promises,
        "promises_target": target,
        "promises_target_reached": promises >= target,
        "hires": len(_steps(journeys, period, "RecordHire")),
        "return_to_employment": returns,
        "return_to_employment_target": RETURN_TO_EMPLOYMENT_TARGET,
        "return_to_employment_target_met": {
            k: (v is not None and v > RETURN_TO_EMPLOYMENT_TARGET) for k, v in returns.items()
        },
        "median_days": _median_days(journeys, period),
        "abandonments": _abandonments(journeys, period),
    }


def kpis(journeys: Sequence[Journey], period: Period, region: str) -> dict[str, Any]:
    """KPIs of the region and of each basin found among ``journeys``."""
    by_basin: dict[str, list[Journey]] = defaultdict(list)
    for journey in journeys:
        by_basin[journey.basin or "unknown"].append(journey)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "region": {"code": region, **scope_kpis(journeys, period)},
        "basins": {basin: scope_kpis(items, period) for basin, items in sorted(by_basin.items())},
    }

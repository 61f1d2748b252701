"""What a journey contributes to the read models (pure, no I/O): the lists it appears in, its KPI counters.

Lists: a journey appears in a few *scopes* (the region, its basin, its basin and state, its state, its
seeker, employer and training provider), each kept as a list per day of creation, newest first. A list
request reads the scope that matches its most selective filter.

KPIs: every KPI of ``domain.kpis`` is a ratio or median of counts that can be summed over days, so a
journey contributes a handful of counters keyed ``"<day>|<path>"``; the KPIs of a period are computed
from the sums of the counters of its days (``report``), and equal the recomputation over the journeys
(``domain.kpis.kpis``) for any period of whole days. Medians of days between steps come from a
histogram of exact durations (microseconds), so they are exact too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import quote, unquote

from journeys.domain.kpis import (
    FUNNEL,
    PROMISES_TARGET_PER_YEAR,
    RETURN_TO_EMPLOYMENT_TARGET,
    Period,
)
from journeys.domain.model import Journey
from tdu_shared.contracts.journeys import JourneyState

PAIRS: tuple[tuple[JourneyState, JourneyState], ...] = tuple(pairwise(FUNNEL))
UNKNOWN_BASIN = "unknown"
"""KPI scope of journeys without a basin (as ``domain.kpis.kpis`` names it)."""


def day_of(moment: datetime) -> str:
    """The UTC calendar day of a moment, ``YYYY-MM-DD`` (sorts as it reads)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def month_of(day: str) -> str:
    return day[:7]


def key_segment(text: str) -> str:
    """Any text as one field name segment (no ``.``, no leading ``$``, never empty); see ``segment_text``."""
    return "r" + quote(text, safe="").replace(".", "%2E")


def segment_text(segment: str) -> str:
    return unquote(segment[1:])


# ---------------------------------------------------------------- lists


@dataclass(frozen=True)
class ListScope:
    """The list a query reads, and the filters it must still apply to what it reads there."""

    scope: str
    rest: Mapping[str, str]


def list_scopes(journey: Journey) -> set[str]:
    """Every list this journey belongs to now."""
    state = journey.state.value
    scopes = {"all", f"s:{state}"}
    if journey.basin:
        scopes |= {f"b:{journey.basin}", f"b:{journey.basin}|s:{state}"}
    for role, person in (
        ("seeker", journey.seeker_id),
        ("employer", journey.employer_id),
        ("provider", journey.provider_id),
    ):
        if person:
            scopes.add(f"{role}:{person}")
    return scopes


def scope_for(
    basin: str | None = None,
    employer_id: str | None = None,
    seeker_id: str | None = None,
    provider_id: str | None = None,
    state: str | None = None,
) -> ListScope:
    """The list to read for these filters: a person's own list first (short), else basin and/or state."""
    wanted = {
        k: v
        for k, v in {
            "basin": basin,
            "employer_id": employer_id,
            "seeker_id": seeker_id,
            "provider_id": provider_id,
            "state": state,
        }.items()
        if v is not None
    }
    for field, role in (("seeker_id", "seeker"), ("employer_id", "employer"), ("provider_id", "provider")):
        if field in wanted:
            person = wanted.pop(field)
            return ListScope(f"{role}:{person}", wanted)
    if basin is not None and state is not None:
        return ListScope(f"b:{basin}|s:{state}", {})
    if basin is not None:
        return ListScope(f"b:{basin}", {})
    if state is not None:
        return ListScope(f"s:{state}", {})
    return ListScope("all", {})


def matches(journey: Journey, rest: Mapping[str, str]) -> bool:
    return all(
        (journey.state.value if field == "state" else getattr(journey, field)) == value
        for field, value in rest.items()
    )


# ---------------------------------------------------------------- KPI counters


def contribution(journey: Journey) -> Counter[str]:
    """The KPI counters this journey adds, ``"<day>|<path>" -> count`` (see ``report`` for their use)."""
    found: Counter[str] = Counter()
    cohort = day_of(journey.created_at)
    found[f"{cohort}|n"] += 1
    found[f"{cohort}|st.{journey.state.value}"] += 1
    reached = {state: journey.reached_at(state) for state in FUNNEL}
    for n, (before, after) in enumerate(PAIRS):
        start, end = reached[before], reached[after]
        if start is not None:
            found[f"{cohort}|r.p{n}"] += 1
            if end is not None:
                found[f"{cohort}|c.p{n}"] += 1
        if start is not None and end is not None:
            found[f"{day_of(end)}|md.p{n}.u{(end - start) // timedelta(microseconds=1)}"] += 1
    hired = reached[JourneyState.HIRED] is not None
    for step in journey.history:
        day = day_of(step.at)
        if step.action == "SignHiringPromise":
            found[f"{day}|pr"] += 1
        elif step.action == "RecordHire":
            found[f"{day}|hi"] += 1
        elif step.action == "CompleteTraining":
            found[f"{day}|ct"] += 1
            if hired:
                found[f"{day}|cth"] += 1
        elif step.action == "RecordFollowUp" and step.details.get("months") in (6, 12):
            months = step.details["months"]
            found[f"{day}|f{months}"] += 1
            if step.details.get("employed"):
                found[f"{day}|f{months}e"] += 1
        elif step.action == "AbandonJourney":
            left = step.from_state.value if step.from_state else "?"
            reason = str(step.details.get("reason", ""))
            found[f"{day}|ab.{key_segment(left)}.{key_segment(reason)}"] += 1
    return found


def kpi_scope(journey: Journey) -> str:
    return journey.basin or UNKNOWN_BASIN


def period_days(period: Period) -> tuple[str, str]:
    """First day and day after the last of a period of whole days (``[first, end)``, as ``YYYY-MM-DD``)."""
    for moment in (period.start, period.end):
        if moment.astimezone(UTC).timetz().replace(tzinfo=None) != time(0):
            raise ValueError(f"KPI periods are whole UTC days: {moment.isoformat()}")
    return day_of(period.start), day_of(period.end)


def months_between(first: str, end: str) -> list[str]:
    """Months (``YYYY-MM``) holding the days ``[first, end)``."""
    found, day = [], date.fromisoformat(first[:7] + "-01")
    last = date.fromisoformat(end) - timedelta(days=1)
    while day <= last:
        found.append(day.isoformat()[:7])
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return found


def in_period(counters: Mapping[str, int], period: Period) -> Counter[str]:
    """Counters ``"<day>|<path>"`` of the period's days, summed per path."""
    first, end = period_days(period)
    summed: Counter[str] = Counter()
    for key, count in counters.items():
        day, _, path = key.partition("|")
        if first <= day < end and count:
            summed[path] += count
    return summed


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(histogram: Mapping[int, int]) -> float | None:
    """Same arithmetic as ``statistics.median`` over the durations in days."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = [total // 2] if total % 2 else [total // 2 - 1, total // 2]
    values, seen = [], 0
    for micros in sorted(histogram):
        count = histogram[micros]
        while wanted and wanted[0] < seen + count:
            values.append(timedelta(microseconds=micros).total_seconds() / 86_400)
            wanted.pop(0)
        seen += count
    middle = values[0] if len(values) == 1 else (values[0] + values[1]) / 2
    return round(middle, 2)


def scope_report(paths: Mapping[str, int], period: Period) -> dict[str, Any]:
    """Every KPI of one scope from its counters summed over the period (``in_period``)."""
    states = {path[3:]: n for path, n in paths.items() if path.startswith("st.") and n}
    medians: dict[int, dict[int, int]] = defaultdict(dict)
    abandons: dict[str, Counter[str]] = defaultdict(Counter)
    for path, n in paths.items():
        if path.startswith("md.") and n:
            pair, micros = path[3:].split(".")
            medians[int(pair[1:])][int(micros[1:])] = n
        elif path.startswith("ab.") and n:
            left, reason = path[3:].split(".")
            abandons[segment_text(left)][segment_text(reason)] += n
    labels = [f"{before.value}->{after.value}" for before, after in PAIRS]
    promises = paths.get("pr", 0)
    target = round(PROMISES_TARGET_PER_YEAR * period.days / 365, 2)
    returns = {
        "end_of_training": _ratio(paths.get("cth", 0), paths.get("ct", 0)),
        "6m": _ratio(paths.get("f6e", 0), paths.get("f6", 0)),
        "12m": _ratio(paths.get("f12e", 0), paths.get("f12", 0)),
    }
    return {
        "journeys": paths.get("n", 0),
        "states": {state: states[state] for state in sorted(states)},
        "conversions": {
            label: _ratio(paths.get(f"c.p{n}", 0), paths.get(f"r.p{n}", 0)) for n, label in enumerate(labels)
        },
        "promises_signed": promises,
        "promises_target": target,
        "promises_target_reached": promises >= target,
        "hires": paths.get("hi", 0),
        "return_to_employment": returns,
        "return_to_employment_target": RETURN_TO_EMPLOYMENT_TARGET,
        "return_to_employment_target_met": {
            k: (v is not None and v > RETURN_TO_EMPLOYMENT_TARGET) for k, v in returns.items()
        },
        "median_days": {label: _median(medians.get(n, {})) for n, label in enumerate(labels)},
        "abandonments": {left: dict(reasons) for left, reasons in sorted(abandons.items())},
    }


def report(per_basin: Mapping[str, Mapping[str, int]], period: Period, region: str) -> dict[str, Any]:
    """The KPIs of ``domain.kpis.kpis`` from the counters (``"<day>|<path>"``) of each basin with journeys."""
    return report_summed({b: in_period(c, period) for b, c in per_basin.items()}, period, region)


def report_summed(summed: Mapping[str, Mapping[str, int]], period: Period, region: str) -> dict[str, Any]:
    """The same from each basin's counters already summed over the period's days (``path -> n``)."""
    whole: Counter[str] = Counter()
    for paths in summed.values():
        whole.update(paths)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "region": {"code": region, **scope_report(whole, period)},
        "basins": {basin: scope_report(paths, period) for basin, paths in sorted(summed.items())},
    }


def total(contributions: Iterable[Mapping[str, int]]) -> Counter[str]:
    summed: Counter[str] = Counter()
    for one in contributions:
        summed.update(one)
    return summed

"""The basin's KPIs as charts drawn on the server (SVG in the page: they print and need no JavaScript),
each with the numbers in a table beside it, and as CSV rows."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from web.journeys import PATH, STATES

BLUE, GREEN, RED, GREY = "#000091", "#18753c", "#ce0500", "#666666"
RETURN_LABELS = {"end_of_training": "À la fin de la formation", "6m": "6 mois après", "12m": "12 mois après"}


def step_pair(label: str) -> str:
    """'applied->immersion_scheduled' -> 'Candidature envoyée → Immersion prévue'."""
    before, _, after = label.partition("->")
    return f"{STATES.get(before, before)} → {STATES.get(after, after)}"


@dataclass(frozen=True)
class Chart:
    title: str
    svg: str
    rows: list[tuple[str, str]]
    """(label, value) of each bar, shown as a table."""


def bars(
    title: str, items: list[tuple[str, float, str]], *, target: float | None = None, percent: bool = False
) -> Chart:
    """Horizontal bars; ``target`` draws a dashed line (same unit as the values)."""
    width, label_w, row_h = 860, 420, 28
    top = max([v for _, v, _ in items] + [target or 0, 1e-9])
    height = row_h * len(items) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value, shown) in enumerate(items):
        y = 8 + i * row_h
        w = (width - label_w - 80) * value / top
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" font-size="13" fill="#161616">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 10}" fill="{BLUE}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}" font-size="13" fill="#161616">'
            f"{escape(shown)}</text>"
        )
    if target is not None:
        x = label_w + (width - label_w - 80) * target / top
        label = f"objectif {target:.0%}" if percent else f"objectif {round(target)}"
        parts.append(
            f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 14}" stroke="{RED}" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{x:.1f}" y="{height - 2}" text-anchor="middle" font-size="12" fill="{RED}">'
            f"{label}</text>"
        )
    parts.append("</svg>")
    return Chart(title, "".join(parts), [(label, shown) for label, _, shown in items])


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}".replace("%", " %")


def dashboard(kpis: dict[str, Any]) -> list[Chart]:
    states: dict[str, int] = kpis.get("states", {})
    reached = []
    for i, state in enumerate(PATH):  # journeys that reached each step (are at it or beyond)
        count = sum(n for s, n in states.items() if s in PATH[i:])
        reached.append((STATES[state], float(count), str(count)))
    charts = [bars("Parcours par étape atteinte", reached)]
    promised, target = kpis.get("promises_signed", 0), kpis.get("promises_target", 0)
    charts.append(
        bars(
            "Promesses d'embauche signées et objectif",
            [
                (
                    "Promesses signées",
                    float(promised),
                    f"{promised} sur {round(target)}" if target else str(promised),
                )
            ],
            target=float(target) if target else None,
        )
    )
    returns = kpis.get("return_to_employment", {})
    goal = kpis.get("return_to_employment_target")
    charts.append(
        bars(
            "Retour à l'emploi",
            [(RETURN_LABELS.get(k, k), float(v or 0), _pct(v)) for k, v in returns.items()],
            target=goal,
            percent=True,
        )
    )
    medians = kpis.get("median_days", {})
    charts.append(
        bars(
            "Délai médian entre étapes (jours)",
            [(step_pair(k), float(v or 0), "—" if v is None else f"{v:g} j") for k, v in medians.items()],
        )
    )
    return charts


def rows(kpis: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every KPI as (indicator, detail, value), for the CSV download."""
    out: list[tuple[str, str, str]] = [("parcours", "", str(kpis.get("journeys", 0)))]
    out += [("parcours par étape", STATES.get(s, s), str(n)) for s, n in kpis.get("states", {}).items()]
    out += [("conversion", k, _ratio(v)) for k, v in kpis.get("conversions", {}).items()]
    out.append(("promesses signées", "", str(kpis.get("promises_signed", 0))))
    out.append(("objectif de promesses", "", str(kpis.get("promises_target", ""))))
    out.append(("embauches", "", str(kpis.get("hires", 0))))
    out += [
        ("retour à l'emploi", RETURN_LABELS.get(k, k), _ratio(v))
        for k, v in kpis.get("return_to_employment", {}).items()
    ]
    out.append(("objectif de retour à l'emploi", "", _ratio(kpis.get("return_to_employment_target"))))
    out += [
        ("délai médian (jours)", step_pair(k), "" if v is None else f"{v:g}")
        for k, v in kpis.get("median_days", {}).items()
    ]
    for step, reasons in kpis.get("abandonments", {}).items():
        out += [
            ("abandons", f"{STATES.get(step, step)} : {reason or 'sans raison'}", str(n))
            for reason, n in reasons.items()
        ]
    return out


def _ratio(value: Any) -> str:
    return "" if value is None else f"{float(value):.4f}"

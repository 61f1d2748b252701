"""Which contracts lead to a hire the region funds training for: CDI, or CDD of 6 months or more."""

from __future__ import annotations

import re

from offers.domain.model import Contract

MIN_CDD_MONTHS = 6
_DURATION = re.compile(r"(\d+)\s*(mois|jour|semaine|an)", re.IGNORECASE)
_DAYS_PER_MONTH = 30
_TYPE_REASONS = {"MIS": "interim", "SAI": "seasonal"}


def duration_months(label: str | None) -> int | None:
    """'Contrat à durée déterminée - 6 Mois' -> 6; '15 Jour(s)' -> 0; None when no duration is written."""
    if not label:
        return None
    found = _DURATION.search(label)
    if not found:
        return None
    amount, unit = int(found.group(1)), found.group(2).lower()
    if unit == "mois":
        return amount
    if unit == "an":
        return amount * 12
    if unit == "semaine":
        return amount * 7 // _DAYS_PER_MONTH
    return amount // _DAYS_PER_MONTH


def work_study_reason(nature: str | None) -> str | None:
    """Apprenticeship and professionalisation contracts (natureContrat) are work-study, not a hire."""
    text = (nature or "").lower()
    if "apprentissage" in text:
        return "apprenticeship"
    if "professionnalisation" in text:
        return "professionalisation"
    return None


def classify_contract(contract_type: str | None, label: str | None, nature: str | None) -> Contract:
    months = duration_months(label)
    kind = (contract_type or "").strip().upper()
    reason = work_study_reason(nature)
    if reason is None:
        reason = _type_reason(kind, months)
    return Contract(eligible=reason is None, reason=reason, months=months)


def _type_reason(kind: str, months: int | None) -> str | None:
    if kind == "CDI":
        return None
    if kind == "CDD":
        if months is None:
            return "cdd_duration_unknown"
        return None if months >= MIN_CDD_MONTHS else "cdd_under_6_months"
    if kind in _TYPE_REASONS:
        return _TYPE_REASONS[kind]
    return f"contract_type_{kind.lower()}" if kind else "contract_type_missing"

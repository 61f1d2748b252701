"""The eligibility rules, as small pure functions.

An offer is eligible when its contract qualifies, it is located, it has a ROME fiche, and at least one
region-funded session of that fiche, located within the basin's radius of the workplace, starts within
the window (today to today + 12 months by default).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from datetime import date

from matching.domain.model import Eligibility, Link, Offer, Session, Window

UNLOCATED = "unlocated"
UNKNOWN_ROME_FICHE = "unknown_rome_fiche"


def contract_not_eligible(reason: str | None) -> str:
    return f"contract_not_eligible: {reason}" if reason else "contract_not_eligible"


def no_session_within(radius_km: float) -> str:
    return f"no_funded_session_within_{radius_km:g}_km"


FicheOf = Callable[[str], str | None]
"""The ROME referential's roll-up: a code -> its parent fiche (a fiche is its own parent), None if unknown."""


def roll_up(code: str | None, fiche_of: FicheOf) -> str | None:
    """The fiche a ROME code belongs to (M1854 -> M1801); None when absent or unknown."""
    if not code:
        return None
    return fiche_of(code.strip().upper())


def session_fiches(codes: Iterable[str], fiches: Iterable[str], fiche_of: FicheOf) -> tuple[str, ...]:
    """Every fiche a session leads to: the fiches given plus the roll-up of each code, deduplicated."""
    found = {f for f in (roll_up(c, fiche_of) for c in [*fiches, *codes]) if f}
    return tuple(sorted(found))


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window_from(today: date, months: int = 12) -> Window:
    return Window(today, add_months(today, months))


def is_candidate(session: Session) -> bool:
    """A session can ever link offers: region-funded, located and leading to at least one fiche."""
    return session.region_funded and session.located and bool(session.rome_fiches)


def offer_exclusions(offer: Offer) -> tuple[str, ...]:
    """Why an offer can never be eligible, whatever the catalogue holds."""
    reasons = []
    if not offer.contract_eligible:
        reasons.append(contract_not_eligible(offer.ineligibility_reason))
    if not offer.located:
        reasons.append(UNLOCATED)
    if not offer.rome_fiche:
        reasons.append(UNKNOWN_ROME_FICHE)
    return tuple(reasons)


MAX_LINKS = 20
"""Sessions linked to one offer at most (the nearest): enough for a seeker, keeps events small."""


def links_within(
    offer: Offer,
    nearby: Iterable[tuple[Session, float]],
    radius_km: float,
    window: Window,
    limit: int = MAX_LINKS,
) -> tuple[Link, ...]:
    """Links to the sessions within the radius that start in the window, nearest first, at most ``limit``.

    ``nearby`` holds candidate sessions (see :func:`is_candidate`) of the offer's fiche with their distance
    from the workplace: the matcher's per-fiche index only ever holds those.
    """
    links = [
        Link(session, round(distance, 3))
        for session, distance in nearby
        if distance <= radius_km and window.contains(session.start_date)
    ]
    links.sort(key=lambda link: (link.distance_km, link.session.session_id))
    return tuple(links[:limit])


def verdict(offer: Offer, links: tuple[Link, ...], radius_km: float) -> Eligibility:
    exclusions = offer_exclusions(offer)
    if exclusions:
        return Eligibility(offer, False, exclusions, (), radius_km)
    if not links:
        return Eligibility(offer, False, (no_session_within(radius_km),), (), radius_km)
    return Eligibility(offer, True, (), links, radius_km)

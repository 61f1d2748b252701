"""The matcher's state: the funded catalogue in full and the offers of the basins this instance owns.

Offers and sessions are indexed per ROME fiche on the sphere, so an offer event looks up only the
sessions of its fiche around its workplace, and a session event finds only the offers of its fiches
around its place: never a scan of all offers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import NDArray

from matching.domain.geometry import chord_of_km, distances_km, km_of_chords, unit_vector, unit_vectors
from matching.domain.model import Eligibility, Link, Offer, Session, Window
from matching.domain.rules import MAX_LINKS, is_candidate, links_within, offer_exclusions, verdict
from matching.domain.spatial import PointSet, SessionPoints

RadiusOf = Callable[[str | None], float]


class Matcher:
    def __init__(self, radius_of: RadiusOf, max_radius_km: float, max_links: int = MAX_LINKS) -> None:
        self.radius_of = radius_of
        self.max_radius_km = max_radius_km
        self.max_links = max_links
        self.offers: dict[str, Offer] = {}
        self.sessions: dict[str, Session] = {}
        self._offers_by_fiche: dict[str, PointSet] = defaultdict(PointSet)
        self._sessions_by_fiche: dict[str, SessionPoints] = defaultdict(SessionPoints)

    # ------------------------------------------------------------ offers

    def put_offer(self, offer: Offer) -> bool:
        """Hold the offer; False (and nothing changes) when an equal or newer revision is already held."""
        held = self.offers.get(offer.offer_id)
        if held is not None and held.revision >= offer.revision and held != offer:
            return False
        self.remove_offer(offer.offer_id)
        self.offers[offer.offer_id] = offer
        if offer.rome_fiche and offer.lat is not None and offer.lon is not None:
            self._offers_by_fiche[offer.rome_fiche].put(offer.offer_id, unit_vector(offer.lat, offer.lon))
        return True

    def remove_offer(self, offer_id: str) -> Offer | None:
        held = self.offers.pop(offer_id, None)
        if held is not None and held.rome_fiche and held.rome_fiche in self._offers_by_fiche:
            self._offers_by_fiche[held.rome_fiche].remove(offer_id)
        return held

    def drop_offers(self, keep: Callable[[Offer], bool]) -> list[str]:
        """Forget the offers ``keep`` refuses (partitions revoked from this instance)."""
        gone = [o.offer_id for o in self.offers.values() if not keep(o)]
        for offer_id in gone:
            self.remove_offer(offer_id)
        return gone

    # ------------------------------------------------------------ sessions

    def put_session(self, session: Session) -> set[str]:
        """Hold the session; returns the offers whose links may have changed (near the old or new place)."""
        held = self.sessions.get(session.session_id)
        if held is not None and held.revision > session.revision:
            return set()
        affected = self.remove_session(session.session_id)
        self.sessions[session.session_id] = session
        if is_candidate(session) and session.lat is not None and session.lon is not None:
            xyz = unit_vector(session.lat, session.lon)
            for fiche in session.rome_fiches:
                self._sessions_by_fiche[fiche].put(session.session_id, xyz, session)
        return affected | self.offers_reached_by(session)

    def remove_session(self, session_id: str) -> set[str]:
        held = self.sessions.pop(session_id, None)
        if held is None:
            return set()
        for fiche in held.rome_fiches:
            if fiche in self._sessions_by_fiche:
                self._sessions_by_fiche[fiche].remove(session_id)
        return self.offers_reached_by(held)

    def offers_reached_by(self, session: Session) -> set[str]:
        """Offers of the session's fiches within the largest radius of any basin around its place."""
        if not is_candidate(session) or session.lat is None or session.lon is None:
            return set()
        xyz = unit_vector(session.lat, session.lon)
        chord = chord_of_km(self.max_radius_km)
        reached: set[str] = set()
        for fiche in session.rome_fiches:
            points = self._offers_by_fiche.get(fiche)
            if points is not None:
                reached.update(points.ids[i] for i in points.within(xyz, chord))
        return reached

    # ------------------------------------------------------------ eligibility

    def evaluate(self, offer_id: str, window: Window) -> Eligibility | None:
        """The verdict on one held offer (None when the offer is not held)."""
        offer = self.offers.get(offer_id)
        if offer is None:
            return None
        radius = self.radius_of(offer.basin)
        if offer_exclusions(offer) or offer.lat is None or offer.lon is None:
            return verdict(offer, (), radius)
        links = links_within(offer, self._nearby(offer, radius), radius, window, self.max_links)
        return verdict(offer, links, radius)

    def evaluate_many(self, offer_ids: Iterable[str], window: Window) -> list[Eligibility]:
        """Verdicts on many offers: one batched KD-tree query per fiche (the full-eligibility path)."""
        by_fiche: dict[str, list[Offer]] = defaultdict(list)
        results: list[Eligibility] = []
        for offer_id in offer_ids:
            offer = self.offers.get(offer_id)
            if offer is None:
                continue
            if offer_exclusions(offer) or offer.rome_fiche is None:
                results.append(verdict(offer, (), self.radius_of(offer.basin)))
            else:
                by_fiche[offer.rome_fiche].append(offer)
        for fiche, offers in by_fiche.items():
            results.extend(self._evaluate_fiche(fiche, offers, window))
        return results

    def _evaluate_fiche(self, fiche: str, offers: list[Offer], window: Window) -> list[Eligibility]:
        """The nearest sessions of the fiche for every offer at once (k-nearest queries, window as a mask);
        an offer whose nearest candidates were mostly outside the window is asked again with a ball query."""
        radii = [self.radius_of(o.basin) for o in offers]
        points = self._sessions_by_fiche.get(fiche)
        if points is None or len(points) == 0:
            return [verdict(o, (), r) for o, r in zip(offers, radii, strict=True)]
        xyz = unit_vectors(np.array([o.lat for o in offers]), np.array([o.lon for o in offers]))
        chords = np.array([chord_of_km(r) for r in radii])
        k = min(len(points), 3 * self.max_links)
        found, slots = points.nearest_many(xyz, k, chords)
        in_reach = np.isfinite(found)
        safe = np.where(in_reach, slots, 0)
        start = points.start[safe]
        km = km_of_chords(np.where(in_reach, found, 0.0))
        keep = in_reach & (km <= np.array(radii)[:, None])
        keep &= (start >= window.first.toordinal()) & (start <= window.last.toordinal())
        exhausted = ~in_reach[:, -1] | (keep.sum(axis=1) >= self.max_links)
        # rows come nearest first: unless two kept candidates are less than a metre apart (they may round
        # to one distance, and links_within orders those by session id) the links are the first kept
        close = (km[:, 1:] - km[:, :-1] < 0.001) & keep[:, 1:] & keep[:, :-1]
        tied: NDArray[np.bool_] = np.any(close, axis=1)
        row_of, column = np.nonzero(keep)  # row by row, nearest first: only the kept candidates
        kept_slots, kept_km = safe[row_of, column].tolist(), km[row_of, column].tolist()
        ends = np.cumsum(keep.sum(axis=1)).tolist()
        values, results, begin = points.values, [], 0
        rows = zip(offers, radii, exhausted.tolist(), tied.tolist(), ends, strict=True)
        for offer, radius, complete, has_ties, end in rows:
            if not complete:  # more candidates than k in reach: the exact, slower path
                links = links_within(offer, self._nearby(offer, radius), radius, window, self.max_links)
            elif has_ties:
                nearby = [
                    (values[s], d) for s, d in zip(kept_slots[begin:end], kept_km[begin:end], strict=True)
                ]
                links = links_within(offer, nearby, radius, window, self.max_links)
            else:
                last = min(end, begin + self.max_links)
                links = tuple(
                    Link(values[s], round(d, 3))
                    for s, d in zip(kept_slots[begin:last], kept_km[begin:last], strict=True)
                )
            results.append(verdict(offer, links, radius))
            begin = end
        return results

    def _nearby(self, offer: Offer, radius_km: float) -> list[tuple[Session, float]]:
        points = self._sessions_by_fiche.get(offer.rome_fiche or "")
        if points is None or offer.lat is None or offer.lon is None:
            return []
        origin = unit_vector(offer.lat, offer.lon)
        slots = points.within(origin, chord_of_km(radius_km))
        km = distances_km(origin, points.xyz[slots]).tolist()
        return [(points.values[s], d) for s, d in zip(slots.tolist(), km, strict=True)]

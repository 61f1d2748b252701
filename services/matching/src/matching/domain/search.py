"""The seeker's search: eligible offers near a point, with their funded sessions.

The index holds one slot per eligible offer in numpy arrays (position, ROME code and fiche, contract)
plus the offer summary as opaque bytes and its linked sessions as packed indices into a shared session
table: a few hundred bytes per offer, no Python object per offer beyond two small ``bytes``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from matching.domain.geometry import FloatArray, chord_of_km, km_of_chords, unit_vector
from matching.domain.spatial import IntArray, PointSet

MAX_RADIUS_KM = 100.0
NO_DATE = np.iinfo(np.int32).max
SELECTIVE_SHARE = 0.05
"""Below this share of offers kept by its offer filters, a query scans its radius instead of growing k."""


@dataclass(frozen=True, slots=True)
class SessionCard:
    """What a seeker sees of a linked session."""

    session_id: str
    title: str
    lat: float
    lon: float
    start_date: date | None = None
    end_date: date | None = None
    provider_name: str | None = None
    provider_contact_id: str | None = None
    commune_name: str | None = None
    entry_level: str | None = None
    funded_places: int | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """An eligible offer as the search index takes it in; ``summary`` is the offer summary as JSON bytes."""

    offer_id: str
    lat: float
    lon: float
    summary: bytes
    sessions: tuple[SessionCard, ...]
    rome_code: str | None = None
    rome_fiche: str | None = None
    contract_type: str | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    lat: float
    lon: float
    radius_km: float = 30.0
    rome_code: str | None = None
    rome_fiche: str | None = None
    contract_type: str | None = None
    entry_level: str | None = None
    start_from: date | None = None
    start_to: date | None = None
    sort: Literal["distance", "date"] = "distance"
    offset: int = 0
    limit: int = 20
    max_sessions: int = 5

    @property
    def filters_sessions(self) -> bool:
        return self.entry_level is not None or self.start_from is not None or self.start_to is not None


@dataclass(frozen=True, slots=True)
class Hit:
    summary: bytes
    """The offer summary as the index holds it (JSON): a response embeds it as is, without a decode."""
    distance_km: float
    sessions: tuple[tuple[SessionCard, float], ...]
    session_count: int

    @property
    def offer(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.summary)
        return decoded


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: tuple[Hit, ...]
    offset: int
    limit: int
    has_more: bool


class _Vocabulary:
    """Strings as small integers (0 = none), so filters are numpy comparisons."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def code(self, text: str | None) -> int:
        if text is None:
            return 0
        return self._codes.setdefault(text, len(self._codes) + 1)

    def known(self, text: str) -> int:
        """The code of ``text``, or -1 (matches nothing) when never seen."""
        return self._codes.get(text, -1)


class _SessionTable:
    """Every session ever linked, once: cards, positions, start days and entry levels by index."""

    def __init__(self, vocabulary: _Vocabulary) -> None:
        self._vocabulary = vocabulary
        self.cards: list[SessionCard] = []
        self._index: dict[str, int] = {}
        self.xyz: FloatArray = np.empty((64, 3))
        self.start: NDArray[np.int32] = np.zeros(64, dtype=np.int32)
        self.level: NDArray[np.int32] = np.zeros(64, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.cards)

    def put(self, card: SessionCard) -> int:
        index = self._index.get(card.session_id)
        if index is None:
            index = self._index[card.session_id] = len(self.cards)
            self.cards.append(card)
            if index == len(self.xyz):
                self._grow()
        elif self.cards[index] == card:
            return index
        self.cards[index] = card
        self.xyz[index] = unit_vector(card.lat, card.lon)
        self.start[index] = card.start_date.toordinal() if card.start_date else NO_DATE
        self.level[index] = self._vocabulary.code(card.entry_level)
        return index

    def _grow(self) -> None:
        size = len(self.xyz) * 2
        self.xyz = np.resize(self.xyz, (size, 3))
        self.start = np.resize(self.start, size)
        self.level = np.resize(self.level, size)


class _OfferPoints(PointSet):
    """Eligible offers on the sphere with their filter fields in arrays aligned on the slots."""

    def __init__(self) -> None:
        super().__init__()
        self.rome: NDArray[np.int32] = np.zeros(16, dtype=np.int32)
        self.fiche: NDArray[np.int32] = np.zeros(16, dtype=np.int32)
        self.contract: NDArray[np.int32] = np.zeros(16, dtype=np.int32)
        self.rank: NDArray[np.int64] = np.zeros(16, dtype=np.int64)
        """Orders offers at equal distance (or date) by a hash of their id: the same order in every replica
        and after a rebuild, so a seeker paging through one search never sees an offer twice or misses one,
        whichever replica answers each page (slots depend on the order offers came in)."""
        self.summaries: list[bytes] = []
        self.links: list[bytes] = []
        self.counts: Counter[int] = Counter()  # live offers per code, all columns (codes are distinct)

    def put_codes(self, slot: int, offer_id: str, rome: int, fiche: int, contract: int) -> None:
        self.rome[slot], self.fiche[slot], self.contract[slot] = rome, fiche, contract
        self.rank[slot] = int.from_bytes(
            hashlib.blake2b(offer_id.encode(), digest_size=8).digest(), signed=True
        )
        self.counts.update((rome, fiche, contract))

    def remove(self, key: str) -> int | None:
        slot = super().remove(key)
        if slot is not None:
            self.counts.subtract((int(self.rome[slot]), int(self.fiche[slot]), int(self.contract[slot])))
        return slot

    def _on_grow(self, size: int) -> None:
        self.rome, self.fiche, self.contract = (
            np.resize(a, size) for a in (self.rome, self.fiche, self.contract)
        )
        self.rank = np.resize(self.rank, size)

    def _on_compact(self, live: IntArray) -> None:
        size = max(16, len(live) * 5 // 4)
        for name in ("rome", "fiche", "contract", "rank"):
            column = np.zeros(size, dtype=getattr(self, name).dtype)
            column[: len(live)] = getattr(self, name)[live]
            setattr(self, name, column)
        self.summaries = [self.summaries[i] for i in live]
        self.links = [self.links[i] for i in live]


class SearchIndex:
    """Eligible offers by place, kept current from ``matching.eligibility``; ``search`` serves seekers."""

    def __init__(self) -> None:
        self._vocabulary = _Vocabulary()
        self._sessions = _SessionTable(self._vocabulary)
        self._points = _OfferPoints()

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, offer_id: str) -> bool:
        return offer_id in self._points

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def put(self, listing: Listing) -> None:
        points, vocabulary = self._points, self._vocabulary
        links = np.array([self._sessions.put(card) for card in listing.sessions], dtype=np.int32)
        slot = points.put(listing.offer_id, unit_vector(listing.lat, listing.lon))
        points.put_codes(
            slot,
            listing.offer_id,
            vocabulary.code(listing.rome_code),
            vocabulary.code(listing.rome_fiche),
            vocabulary.code(listing.contract_type),
        )
        points.summaries.append(listing.summary)
        points.links.append(links.tobytes())

    def remove(self, offer_id: str) -> None:
        self._points.remove(offer_id)

    def compact(self) -> None:
        self._points.compact()

    def memory_bytes(self) -> int:
        """Approximate bytes held: arrays, per-offer bytes and ids, the KD-tree, the session table."""
        p, t = self._points, self._sessions
        arrays = sum(a.nbytes for a in (p.xyz, p.rome, p.fiche, p.contract, p.rank, t.xyz, t.start, t.level))
        per_offer = sum(sys.getsizeof(x) for x in (*p.ids, *p.summaries, *p.links))
        containers = sum(sys.getsizeof(c) for c in (p.ids, p.values, p.summaries, p.links, p.slot_table()))
        cards = sum(
            sys.getsizeof(c) + sum(sys.getsizeof(v) for v in (getattr(c, f) for f in c.__slots__))
            for c in t.cards
        )
        return arrays + per_offer + containers + p.tree_bytes() + cards + sys.getsizeof(t.cards)

    def search(self, query: SearchQuery) -> SearchPage:
        origin = unit_vector(query.lat, query.lon)
        chord = chord_of_km(query.radius_km)
        wanted = query.offset + query.limit + 1
        if query.sort == "distance":
            found = self._nearest_first(origin, chord, query, wanted)
        else:
            found = self._soonest_first(origin, chord, query)
        page = found[query.offset : query.offset + query.limit]
        hits = self._hits(origin, page, query.max_sessions)
        return SearchPage(hits, query.offset, query.limit, has_more=len(found) > query.offset + query.limit)

    def one(
        self, offer_id: str, place: tuple[float, float] | None = None, max_sessions: int = 5
    ) -> Hit | None:
        """One eligible offer with its linked sessions, distances from ``place`` (lat, lon), or from the
        workplace when no place is given; None if the offer is not listed."""
        slot = self._points.slot_of(offer_id)
        if slot is None:
            return None
        origin = unit_vector(*place) if place else self._points.xyz[slot]
        chord = float(np.linalg.norm(self._points.xyz[slot] - origin))
        sessions = np.frombuffer(self._points.links[slot], dtype=np.int32).astype(np.intp)
        return self._hits(origin, [(slot, chord, sessions)], max_sessions)[0]

    # ------------------------------------------------------------ internals

    def _nearest_first(
        self, origin: FloatArray, chord: float, query: SearchQuery, wanted: int
    ) -> list[tuple[int, float, IntArray]]:
        if self._offer_filter_share(query) < SELECTIVE_SHARE:
            # a few nearest of a rare kind: take the radius, keep that kind, sort what is left
            slots, chords = self._within_passing(origin, chord, query)
            order = np.lexsort((self._points.rank[slots], chords))  # see _OfferPoints.rank
            return self._matching(slots[order], chords[order], query, stop_at=wanted)
        k = wanted + 8
        while True:
            chords, slots = self._points.nearest(origin, k, chord)
            exhausted = len(slots) < k or k >= len(self._points.ids)
            if not exhausted:  # offers as far as the k-th may lie past k: keep the distances seen whole
                whole = chords < chords[-1]
                chords, slots = chords[whole], slots[whole]
            order = np.lexsort((self._points.rank[slots], chords))
            chords, slots = chords[order], slots[order]
            keep = self._offer_filter(slots, query)
            found = self._matching(slots[keep], chords[keep], query, stop_at=wanted)
            if len(found) >= wanted or exhausted:
                return found
            k *= 4

    def _offer_filter_share(self, query: SearchQuery) -> float:
        """The share of indexed offers the query's offer filters keep at most (1.0 without filters)."""
        share, points = 1.0, self._points
        for text in (query.rome_code, query.rome_fiche, query.contract_type):
            if text is not None:
                share = min(share, points.counts[self._vocabulary.known(text)] / max(1, len(points)))
        return share

    def _soonest_first(
        self, origin: FloatArray, chord: float, query: SearchQuery
    ) -> list[tuple[int, float, IntArray]]:
        found = self._matching(*self._within_passing(origin, chord, query), query, stop_at=None)
        start, rank = self._sessions.start, self._points.rank
        found.sort(key=lambda f: (int(start[f[2]].min()) if len(f[2]) else NO_DATE, f[1], int(rank[f[0]])))
        return found

    def _within_passing(
        self, origin: FloatArray, chord: float, query: SearchQuery
    ) -> tuple[IntArray, FloatArray]:
        """The offers within ``chord`` passing the query's offer filters, with their chords (any order)."""
        slots = self._points.within(origin, chord)
        slots = slots[self._offer_filter(slots, query)]
        return slots, np.linalg.norm(self._points.xyz[slots] - origin, axis=1)

    def _matching(
        self, slots: IntArray, chords: FloatArray, query: SearchQuery, stop_at: int | None
    ) -> list[tuple[int, float, IntArray]]:
        """Of offers that pass the offer filters, in the order given, those with a session passing the
        session filters, each with those sessions; at most ``stop_at`` offers."""
        links = self._points.links
        found: list[tuple[int, float, IntArray]] = []
        for slot, chord in zip(slots, chords, strict=True):
            sessions = self._sessions_matching(np.frombuffer(links[slot], dtype=np.int32), query)
            if len(sessions):
                found.append((int(slot), float(chord), sessions))
                if stop_at is not None and len(found) >= stop_at:
                    break
        return found

    def _offer_filter(self, slots: IntArray, query: SearchQuery) -> NDArray[np.bool_]:
        """Which of ``slots`` are live offers passing the query's offer filters."""
        points, vocabulary = self._points, self._vocabulary
        keep = points.alive(slots)
        if query.rome_code is not None:
            keep &= points.rome[slots] == vocabulary.known(query.rome_code)
        if query.rome_fiche is not None:
            keep &= points.fiche[slots] == vocabulary.known(query.rome_fiche)
        if query.contract_type is not None:
            keep &= points.contract[slots] == vocabulary.known(query.contract_type)
        return keep

    def _sessions_matching(self, sessions: NDArray[np.int32], query: SearchQuery) -> IntArray:
        if not query.filters_sessions or len(sessions) == 0:
            return sessions.astype(np.intp)
        keep = np.ones(len(sessions), dtype=bool)
        start = self._sessions.start[sessions]
        if query.start_from is not None:
            keep &= start >= query.start_from.toordinal()
        if query.start_to is not None:
            keep &= start <= query.start_to.toordinal()
        if query.entry_level is not None:
            keep &= self._sessions.level[sessions] == self._vocabulary.known(query.entry_level)
        return sessions[keep].astype(np.intp)

    def _hits(
        self, origin: FloatArray, page: list[tuple[int, float, IntArray]], max_sessions: int
    ) -> tuple[Hit, ...]:
        """The page's hits; every distance from the seeker computed in one vectorised pass."""
        if not page:
            return ()
        flat = np.concatenate([sessions for _, _, sessions in page])
        km = km_of_chords(np.linalg.norm(self._sessions.xyz[flat] - origin, axis=1)).round(3).tolist()
        offer_km = km_of_chords(np.array([chord for _, chord, _ in page])).round(3).tolist()
        cards, summaries, indices = self._sessions.cards, self._points.summaries, flat.tolist()
        first_day = self._sessions.start
        hits, start = [], 0
        for (slot, _, sessions), distance in zip(page, offer_km, strict=True):
            end = start + len(sessions)
            nearest = sorted(
                zip(km[start:end], indices[start:end], strict=True),
                key=lambda p: (p[0], int(first_day[p[1]]), cards[p[1]].session_id),
            )[:max_sessions]  # equal distances: the soonest, then by id, whatever order the index got them
            linked = tuple((cards[i], d) for d, i in nearest)
            hits.append(Hit(summaries[slot], distance, linked, len(sessions)))
            start = end
        return tuple(hits)

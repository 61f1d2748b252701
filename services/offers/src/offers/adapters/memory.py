"""An in-memory offer store with the same behaviour as the MongoDB one (unit tests, dry runs)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from offers.domain.contacts import new_person_id
from offers.domain.refresh import Refresh, scope_filter
from offers.ports import Doc, Effects, OfferQuery


class InMemoryOfferStore:
    def __init__(self) -> None:
        self.offers: dict[str, Doc] = {}
        self.contacts: dict[str, Doc] = {}
        self.employers: dict[str, str] = {}
        self.blacklist: set[str] = set()
        self.refreshes: dict[str, tuple[Refresh, bool]] = {}
        self.refresh_records: dict[str, str] = {}
        self.saves = 0

    async def load_offers(self, ids: Sequence[str]) -> dict[str, Doc]:
        return {i: copy.deepcopy(self.offers[i]) for i in ids if i in self.offers}

    async def load_known_offers(self, ids: Sequence[str]) -> dict[str, Doc]:
        return await self.load_offers(ids)

    async def load_contacts(self, person_ids: Sequence[str]) -> dict[str, Doc]:
        return {i: copy.deepcopy(self.contacts[i]) for i in person_ids if i in self.contacts}

    async def load_known_contacts(self, person_ids: Sequence[str]) -> dict[str, Doc]:
        return await self.load_contacts(person_ids)

    async def blacklisted(self, offer_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        return {i for i in [*offer_ids, *person_ids] if i in self.blacklist}

    async def insert_new_offers(self, docs: list[Doc]) -> set[str]:
        known = {d["_id"] for d in docs if d["_id"] in self.offers}
        self.offers.update({d["_id"]: copy.deepcopy(d) for d in docs if d["_id"] not in known})
        if len(known) < len(docs):
            self.saves += 1
        return known

    async def employer_ids(self, keys: Sequence[str]) -> dict[str, str]:
        for key in keys:
            self.employers.setdefault(key, new_person_id())
        return {key: self.employers[key] for key in keys}

    async def erase_contact(self, person_id: str) -> bool:
        self.employers = {k: v for k, v in self.employers.items() if v != person_id}
        return self.contacts.pop(person_id, None) is not None

    def forget_contact(self, person_id: str) -> None:
        return None

    async def insert_new_contacts(self, docs: list[Doc]) -> set[str]:
        known = {d["_id"] for d in docs if d["_id"] in self.contacts}
        self.contacts.update({d["_id"]: copy.deepcopy(d) for d in docs if d["_id"] not in known})
        return known

    async def save(self, effects: Effects) -> None:
        self.saves += 1
        for doc in effects.changed_offers:
            self.offers[doc["_id"]] = copy.deepcopy(doc)
        for offer_id, refresh_id in effects.refresh_touches.items():
            if offer_id in self.offers:
                self.offers[offer_id]["last_refresh"] = refresh_id
        for doc in [*effects.new_contacts, *effects.changed_contacts]:
            self.contacts[doc["_id"]] = copy.deepcopy(doc)
        for refresh_id, marker in effects.refresh_markers:
            self.refresh_records[f"{refresh_id}:{marker}"] = refresh_id

    async def save_refresh(self, refresh: Refresh) -> None:
        closed = self.refreshes.get(refresh.refresh_id, (refresh, False))[1]
        self.refreshes[refresh.refresh_id] = (refresh, closed)

    async def open_refresh(self, refresh_id: str) -> Refresh | None:
        found = self.refreshes.get(refresh_id)
        return found[0] if found and not found[1] else None

    async def refresh_seen(self, refresh_id: str) -> int:
        return sum(1 for r in self.refresh_records.values() if r == refresh_id)

    async def missing_from_refresh(self, refresh: Refresh) -> list[Doc]:
        scope = scope_filter(refresh)
        return [
            copy.deepcopy(d)
            for d in self.offers.values()
            if d["status"] == "published"
            and d.get("last_refresh") != refresh.refresh_id
            and all(d.get(k) == v for k, v in scope.items())
        ]

    async def close_refresh(self, refresh_id: str) -> None:
        refresh, _ = self.refreshes[refresh_id]
        self.refreshes[refresh_id] = (refresh, True)

    async def add_to_blacklist(self, offer_id: str | None, person_id: str | None, added_at: datetime) -> None:
        self.blacklist.update(v for v in (offer_id, person_id) if v)

    async def published_offers_of(self, offer_id: str | None, person_id: str | None) -> list[Doc]:
        return [
            copy.deepcopy(d)
            for d in self.offers.values()
            if d["status"] == "published"
            and (
                (offer_id and d["_id"] == offer_id)
                or (person_id and d.get("employer_contact_id") == person_id)
            )
        ]

    async def find_offers(self, query: OfferQuery) -> tuple[list[Doc], int]:
        def keep(d: Doc) -> bool:
            return (
                (not query.status or d["status"] == query.status)
                and (not query.basin or d.get("basin") == query.basin)
                and (not query.rome or query.rome in (d.get("rome_fiche"), d.get("rome_code")))
            )

        found = sorted((d for d in self.offers.values() if keep(d)), key=_newest_first)
        start = (query.page - 1) * query.size
        return [copy.deepcopy(d) for d in found[start : start + query.size]], len(found)

    async def get_offer(self, offer_id: str) -> Doc | None:
        return copy.deepcopy(self.offers.get(offer_id))


def _newest_first(d: Doc) -> tuple[float, Any]:
    return (-d["updated_at"].timestamp(), d["_id"])

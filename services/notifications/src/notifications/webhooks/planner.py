"""Journey events in: one delivery per (event, matching subscription), stored, queued in order per journey."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from notifications.adapters.mongo_webhooks import EVERY_BASIN, MongoWebhookStore
from notifications.webhooks.model import (
    Planned,
    Subscription,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookStatus,
    body_of,
    delivery_id,
    event_key,
    pair_id,
)
from tdu_shared.access.keys import KeyRing
from tdu_shared.clock import Clock
from tdu_shared.envelope import Envelope

CAPABILITY = "webhooks:write"


class PartnerKeys:
    """Whether a partner still holds a key that lets it receive a basin's events: valid (neither revoked nor
    expired), of the region, with ``webhooks:write``, covering the basin. A subscription outlives the key
    that made it (keys are rotated), not the partner's last such key."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def may_receive(self, partner: str, region: str, basin: str | None, now: datetime) -> bool:
        for known in self.ring.known():
            issued = known.issued
            if issued is None or known.revoked is not None:
                continue
            if issued.partner != partner or issued.region != region:
                continue
            if issued.expires_at is not None and issued.expires_at <= now:
                continue
            if not any(c == CAPABILITY or c.startswith(f"{CAPABILITY}:") for c in issued.capabilities):
                continue
            if issued.basins and (basin is None or basin not in issued.basins):
                continue
            return True
        return False


class WebhookPlanner:
    def __init__(self, store: MongoWebhookStore, keys: PartnerKeys, clock: Clock) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock

    async def plan(self, events: Sequence[Envelope[Any]]) -> Planned:
        """Store the deliveries these events (in topic order) call for; a replayed event adds nothing and
        puts back in its queue a delivery a crash left out. The queues whose first delivery is one of these
        are made due now."""
        now = self.clock.now()
        routes = await self.store.routes({e.basin for e in events if e.basin} | {EVERY_BASIN})
        candidates: list[tuple[Envelope[Any], str]] = []
        for event in events:
            for basin in dict.fromkeys((event.basin, EVERY_BASIN)):
                for sub_id, types in routes.get(basin or "", {}).items():
                    if not types or event.type in types:
                        candidates.append((event, sub_id))
        if not candidates:
            return Planned()
        subs = await self.store.get_many({s for _, s in candidates})
        wanted: dict[str, tuple[Envelope[Any], Subscription]] = {}
        for event, sub_id in candidates:
            sub = subs.get(sub_id)
            if (
                sub is not None
                and sub.status is WebhookStatus.ACTIVE
                and sub.wants(event.type, event.basin)
                and self.keys.may_receive(sub.partner, sub.region, event.basin, now)
            ):
                wanted.setdefault(event_key(str(event.event_id), sub.id), (event, sub))
        if not wanted:
            return Planned()

        ids = await self.store.known_keys(wanted)
        new = [k for k in wanted if k not in ids]
        fresh: dict[str, str] = {}
        for sub_id, count in Counter(wanted[k][1].id for k in new).items():
            last = await self.store.allocate(sub_id, count)
            if last is None:  # deleted meanwhile
                continue
            numbers = iter(range(last - count + 1, last + 1))
            fresh.update((k, delivery_id(sub_id, next(numbers))) for k in new if wanted[k][1].id == sub_id)
        ids.update(fresh)
        ids.update(await self.store.add_keys(fresh))  # another instance planned one meanwhile: its id wins

        stored = await self.store.deliveries(ids.values())
        added = []
        for key, d_id in ids.items():
            if d_id not in stored:
                event, sub = wanted[key]
                added.append(
                    WebhookDelivery(
                        id=d_id,
                        subscription_id=sub.id,
                        seq=int(d_id.rsplit("-", 1)[1]),
                        journey_id=event.payload.journey_id,
                        event_id=str(event.event_id),
                        event_type=event.type,
                        basin=event.basin,
                        body=body_of(d_id, event),
                        created_at=now,
                    )
                )
        await self.store.add_deliveries(added)

        queued: dict[str, list[str]] = {}
        for key, (event, sub) in wanted.items():
            queued_id = ids.get(key)
            known = stored.get(queued_id) if queued_id else None
            if queued_id is None or (known is not None and known.status is WebhookDeliveryStatus.DELIVERED):
                continue
            queued.setdefault(pair_id(sub.id, event.payload.journey_id), []).append(queued_id)
        queues = await self.store.enqueue(queued)
        heads = {pair: now for pair, ids_now in queues.items() if ids_now and ids_now[0] in queued[pair]}
        entries = await self.store.schedule(heads)
        return Planned([(entry, pair) for pair, entry in entries.items()], len(added))

"""The webhook dispatcher: its own loop, apart from e-mails and SMS, so a slow receiver delays neither.

It claims (subscription, journey) queues whose head is due (a lease per queue, as the e-mail dispatcher
claims deliveries), posts their deliveries one after the other (a delivery is never attempted while an
earlier one of its queue is not delivered), marks each delivered right after its 2xx, and on a failure
plans the next attempt with exponential backoff. A delivery still failing ``give_up_s`` after its first
failure flags the subscription failing: its queues are set aside until the partner resumes it, and the
operators of the delivery's basin get an e-mail through the service's own delivery pipeline.

Each queue is worked on by a task of its own: a receiver that takes ``timeout_s`` to answer holds its
queues' tasks (at most ``per_subscription`` of them), never the others'.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from prometheus_client import Counter as Metric

from notifications.adapters.mongo import HINT_GRACE
from notifications.adapters.mongo_webhooks import MongoWebhookStore
from notifications.domain.model import (
    Audience,
    Channel,
    Contact,
    Delivery,
    JourneyFacts,
    Status,
    delivery_key,
)
from notifications.domain.model import operator_id as operator_of
from notifications.ports import DeliveryStore
from notifications.webhooks.model import (
    Retry,
    Subscription,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookStatus,
    encode_body,
    may_attempt,
    next_attempt,
    subscription_of_pair,
)
from notifications.webhooks.planner import PartnerKeys
from notifications.webhooks.signing import signature_header
from notifications.webhooks.urls import Resolver, Target, UrlRefused, check_callback_url
from notifications.worker import WakeLoop
from tdu_shared.clock import Clock

log = structlog.get_logger(__name__)

ATTEMPTS = Metric("tdu_webhook_attempts", "Webhook delivery attempts, by outcome", ["outcome"])
ALERT_TEMPLATE = "webhook_en_echec"
ALERT_EVENT = "WebhookSubscriptionFailing"
MARGIN_S = 5.0
"""A queue's task starts no request that could outlive its lease by less than this."""


@dataclass(frozen=True)
class Answer:
    ok: bool
    result: str
    """What happened, for the delivery log: ``HTTP 204``, ``HTTP 500``, a timeout, a refused address."""


class WebhookSender(Protocol):
    async def post(self, target: Target, body: bytes, headers: Mapping[str, str]) -> Answer: ...


class DeliveryOffer(Protocol):
    def offer(self, deliveries: Sequence[Delivery]) -> None: ...


class OperatorAlerts:
    """Tells a basin's operators that a subscription was flagged failing: an e-mail planned like every other
    one (stored under a delivery key, so a repeat of the flagging sends nothing more)."""

    def __init__(
        self, deliveries: DeliveryStore, loop: DeliveryOffer, operators: Mapping[str, Contact]
    ) -> None:
        self.deliveries = deliveries
        self.loop = loop
        self.operators = operators

    async def subscription_failing(
        self, sub: Subscription, delivery: WebhookDelivery, result: str, now: datetime
    ) -> bool:
        """True when an e-mail was planned now."""
        if delivery.basin is None or operator_of(delivery.basin) not in self.operators:
            log.warning("webhook failing, no operator to tell", subscription=sub.id, basin=delivery.basin)
            return False
        recipient = operator_of(delivery.basin)
        flagging = uuid.uuid5(uuid.NAMESPACE_URL, f"tdu-webhook-failing|{sub.id}|{sub.flags + 1}")
        facts = JourneyFacts(
            event_id=str(flagging),
            event_type=ALERT_EVENT,
            occurred_at=now,
            region=sub.region,
            basin=delivery.basin,
            journey_id=delivery.journey_id,
            seeker_id="",
            employer_id=None,
            provider_id=None,
            reminder_kind=None,
            fields={
                "subscription_id": sub.id,
                "partner": sub.partner,
                "callback_url": sub.callback_url,
                "first_failure": (delivery.window_start or now).isoformat(),
                "last_result": result,
                "delivery_id": delivery.id,
            },
        )
        key = delivery_key(str(flagging), recipient, Channel.EMAIL, ALERT_TEMPLATE)
        alert = Delivery(
            key,
            facts,
            recipient,
            Audience.BASIN_OPERATOR,
            Channel.EMAIL,
            ALERT_TEMPLATE,
            Status.PENDING,
            0,
            now,
            now,
        )
        if await self.deliveries.add([alert]):
            self.loop.offer([alert])
            return True
        return False


@dataclass
class WebhookDispatcher:
    store: MongoWebhookStore
    sender: WebhookSender
    resolver: Resolver
    keys: PartnerKeys
    alerts: OperatorAlerts
    clock: Clock
    retry: Retry
    allow_loopback: bool = False
    timeout_s: float = 10.0
    lease: timedelta = timedelta(seconds=60)
    batch_size: int = 64
    concurrency: int = 16
    per_subscription: int = 4

    def __post_init__(self) -> None:
        self._working: dict[str, asyncio.Task[None]] = {}
        self._per_sub: Counter[str] = Counter()
        self.finished = asyncio.Event()
        """Set when a queue's task ends (room for another)."""

    @property
    def busy(self) -> int:
        return len(self._working)

    async def run_once(self, fresh: Sequence[tuple[str, str]] = ()) -> int:
        """Claim due queues (``fresh``: (entry, queue) just made due, else those the store finds due) and
        start a task for each. How many were started."""
        room = self.concurrency - len(self._working)
        if room <= 0:
            return 0
        now = self.clock.now()
        if fresh:
            entries: list[tuple[str, str, datetime | None]] = [(e, p, now) for e, p in fresh]
        else:
            entries = await self.store.due(now, 2 * self.batch_size)
        if not entries:
            return 0
        queues = await self.store.queues({p for _, p, _ in entries})
        chosen: dict[str, str] = {}
        stale = []
        per_sub = Counter(self._per_sub)
        for entry, pair, written_at in entries:
            queue = queues.get(pair)
            if queue is None or queue.get("due_id") != entry:
                if written_at is None or written_at < now - HINT_GRACE:
                    stale.append(entry)
                continue
            sub_id = subscription_of_pair(pair)
            if pair in chosen or pair in self._working or per_sub[sub_id] >= self.per_subscription:
                continue
            per_sub[sub_id] += 1
            chosen[pair] = entry
            if len(chosen) >= min(room, self.batch_size):
                break
        await self.store.drop_entries(stale)
        if not chosen:
            return 0
        leased = await self.store.lease(list(chosen), now, now + self.lease)
        if not leased:
            return 0
        current = await self.store.queues(leased)
        subs = await self.store.get_many({subscription_of_pair(p) for p in leased})
        for pair, marker in leased.items():
            sub_id = subscription_of_pair(pair)
            self._per_sub[sub_id] += 1
            self._working[pair] = asyncio.create_task(
                self._run_queue(pair, chosen[pair], marker, current.get(pair), subs.get(sub_id), now),
                name=f"webhook {pair}",
            )
        return len(leased)

    async def stop(self) -> None:
        """Tasks under way are cancelled; their leases run out and another instance (or the next start)
        takes their queues over."""
        tasks = list(self._working.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_queue(
        self,
        pair: str,
        entry: str,
        marker: str | None,
        queue: Mapping[str, Any] | None,
        sub: Subscription | None,
        started: datetime,
    ) -> None:
        try:
            await self._work(pair, entry, queue, sub, started)
            await self.store.drop_entries([entry])
            await self.store.release({pair: marker})
        except asyncio.CancelledError:
            raise
        except Exception:  # the store went away: the lease runs out and the queue is taken up again
            log.exception("webhook queue failed; taken up again once its lease runs out", queue=pair)
        finally:
            self._working.pop(pair, None)
            sub_id = subscription_of_pair(pair)
            self._per_sub[sub_id] -= 1
            if self._per_sub[sub_id] <= 0:
                del self._per_sub[sub_id]
            self.finished.set()

    async def _work(
        self,
        pair: str,
        entry: str,
        queue: Mapping[str, Any] | None,
        sub: Subscription | None,
        started: datetime,
    ) -> None:
        if queue is None or queue.get("due_id") != entry:
            return  # moved meanwhile (made due again, or rescheduled): its own entry brings it back
        if sub is None:  # the subscription was deleted: nothing more to send
            await self.store.drop_queues([pair])
            return
        deadline = started + self.lease - timedelta(seconds=self.timeout_s + MARGIN_S)
        ids = list(queue.get("ids") or [])
        attempted = False
        while ids:
            if sub.status is WebhookStatus.FAILING:
                await self._park(sub, pair)
                return
            if attempted and self.clock.now() >= deadline:  # another turn, under a fresh lease
                await self.store.schedule({pair: self.clock.now()})
                return
            delivery = await self.store.delivery(ids[0])
            if delivery is None or delivery.status is WebhookDeliveryStatus.DELIVERED:
                ids = await self.store.dequeue(pair, ids[0])  # delivered before a crash, or gone
                continue
            assert may_attempt(ids, delivery.id)
            answer = await self._attempt(sub, delivery)
            attempted, now = True, self.clock.now()
            ATTEMPTS.labels(outcome="delivered" if answer.ok else "failed").inc()
            if answer.ok:
                await self.store.record(
                    delivery.id,
                    {
                        "status": WebhookDeliveryStatus.DELIVERED.value,
                        "delivered_at": now,
                        "attempts": delivery.attempts + 1,
                        "last_attempt_at": now,
                        "last_result": answer.result,
                        "next_attempt_at": None,
                    },
                )
                ids = await self.store.dequeue(pair, delivery.id)
                continue
            await self._failed(sub, pair, delivery, answer, now)
            return

    async def _attempt(self, sub: Subscription, delivery: WebhookDelivery) -> Answer:
        now = self.clock.now()
        if not self.keys.may_receive(sub.partner, sub.region, delivery.basin, now):
            return Answer(False, "le partenaire n'a plus de clé valide (webhooks:write) pour ce bassin")
        try:
            target = await check_callback_url(
                sub.callback_url, allow_loopback=self.allow_loopback, resolver=self.resolver
            )
        except UrlRefused as exc:
            return Answer(False, f"URL refusée : {exc.reason}")
        body = encode_body(delivery.body)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "TraitdUnion-Webhooks/1",
            "X-TDU-Delivery": delivery.id,
            "X-TDU-Event-Type": delivery.event_type,
            "X-TDU-Timestamp": str(timestamp),
            "X-TDU-Signature": signature_header(sub.signing_secrets(now), timestamp, body),
        }
        return await self.sender.post(target, body, headers)

    async def _failed(
        self, sub: Subscription, pair: str, delivery: WebhookDelivery, answer: Answer, now: datetime
    ) -> None:
        resumed_since = sub.resumed_at is not None and (
            delivery.window_start is None or sub.resumed_at > delivery.window_start
        )
        same_run = delivery.window_start is not None and not resumed_since
        window_start = delivery.window_start if same_run and delivery.window_start else now
        failures = (delivery.window_attempts if same_run else 0) + 1
        when = next_attempt(window_start, now, failures, self.retry)
        await self.store.record(
            delivery.id,
            {
                "attempts": delivery.attempts + 1,
                "window_start": window_start,
                "window_attempts": failures,
                "last_attempt_at": now,
                "last_result": answer.result,
                "next_attempt_at": when,
            },
        )
        if when is not None:
            await self.store.schedule({pair: when})
            return
        log.warning(
            "webhook subscription failing", subscription=sub.id, delivery=delivery.id, result=answer.result
        )
        await self.alerts.subscription_failing(
            sub, replace(delivery, window_start=window_start), answer.result, now
        )
        await self.store.flag(sub.id, now, answer.result)
        await self._park(sub, pair)

    async def _park(self, sub: Subscription, pair: str) -> None:
        """Set aside until resumed. A resume that read the parked queues before this one was added is seen
        here: the subscription is active again, and the queue is made due at once."""
        await self.store.park(sub.id, pair)
        again = await self.store.get(sub.id)
        if again is not None and again.status is WebhookStatus.ACTIVE:
            await self.store.schedule({pair: self.clock.now()})


class WebhookLoop(WakeLoop[tuple[str, str]]):
    """Runs the dispatcher: queues just made due are claimed without a search; otherwise the store is
    searched every ``poll_s`` and whenever a queue's task ends. Waits for the partner keys first."""

    name = "webhook-loop"

    def __init__(self, dispatcher: WebhookDispatcher, poll_s: float, keys_loaded: asyncio.Event) -> None:
        super().__init__(poll_s)
        self._dispatcher = dispatcher
        self._keys_loaded = keys_loaded

    async def stop(self) -> None:
        await super().stop()
        await self._dispatcher.stop()

    async def _run(self) -> None:
        await self._keys_loaded.wait()
        last_search = 0.0
        while True:
            finished = self._dispatcher.finished
            if finished.is_set():
                finished.clear()
                self._wake.set()
            if self._fresh:
                fresh, self._fresh = self._fresh, []
                await self._quietly(fresh)
                continue
            if self._wake.is_set() or time.monotonic() - last_search >= self._poll_s:
                self._wake.clear()
                last_search = time.monotonic()
                if await self._quietly(()):
                    self._wake.set()
                continue
            waits = [asyncio.create_task(self._wake.wait()), asyncio.create_task(finished.wait())]
            try:
                await asyncio.wait(waits, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()

    async def _quietly(self, fresh: Sequence[tuple[str, str]]) -> int:
        try:
            return await self._dispatcher.run_once(fresh)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook step failed; retrying")
            await asyncio.sleep(self._poll_s)
            return 0

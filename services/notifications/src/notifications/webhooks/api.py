"""The partner API of webhooks, under ``/v1/webhooks`` (partner keys with ``webhooks:write``).

A key sees and changes its own partner's subscriptions only (another's answer 404, as unknown ones do).
Errors are RFC 9457 problem details (``tdu_shared.problems``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifications.adapters.mongo_webhooks import MongoWebhookStore, TooManySubscriptions
from notifications.webhooks.model import (
    Subscription,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookStatus,
    new_subscription_id,
    pair_id,
)
from notifications.webhooks.model import delivery_id as numbered_delivery
from notifications.webhooks.signing import new_secret
from notifications.webhooks.urls import Resolver, UrlRefused, check_callback_url
from tdu_shared.access import Principal
from tdu_shared.access.policy import Caller
from tdu_shared.clock import Clock
from tdu_shared.problems import Problem, field_error, problem_responses
from tdu_shared.topics import JOURNEYS_EVENTS

EVENT_TYPES: tuple[str, ...] = JOURNEYS_EVENTS.event_types
SUB = "wh_3f9c2a7b1d4e5f60"
WHEN = "2026-03-10T09:30:00Z"

SubscriptionId = Annotated[str, Path(max_length=40, description="The subscription's id (`wh_…`).")]
DeliveryId = Annotated[str, Path(max_length=60, description="The delivery's id (`X-TDU-Delivery`).")]


REQUEST_EXAMPLE: dict[str, Any] = {
    "callback_url": "https://partenaire.example.org/tdu/webhooks",
    "event_types": ["ApplicationSubmitted", "HiringPromiseSigned", "SeekerHired"],
    "basins": ["4410"],
}


class WebhookSubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [REQUEST_EXAMPLE]})

    callback_url: str = Field(
        max_length=2000,
        description="Where events are posted: https, a public address (checked now and at each delivery).",
    )
    event_types: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list,
        max_length=len(EVENT_TYPES),
        description=f"Journey event types to receive; empty: all of them ({', '.join(EVENT_TYPES)}).",
    )
    basins: list[Annotated[str, Field(pattern=r"^[0-9A-Za-z]{1,10}$")]] = Field(
        default_factory=list,
        max_length=100,
        description="Employment basins whose events to receive, among the key's; empty: all of the key's.",
    )

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(
                f"types d'événement inconnus : {', '.join(unknown)} (connus : {', '.join(EVENT_TYPES)})"
            )
        return list(dict.fromkeys(value))


SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": SUB,
    "callback_url": "https://partenaire.example.org/tdu/webhooks",
    "event_types": ["ApplicationSubmitted", "HiringPromiseSigned", "SeekerHired"],
    "basins": ["4410"],
    "status": "active",
    "created_at": WHEN,
    "failing_since": None,
    "last_result": None,
    "previous_secret_valid_until": None,
}


ROTATED_EXAMPLE: dict[str, Any] = {
    "id": SUB,
    "secret": "whsec_Vq3…",
    "previous_secret_valid_until": "2026-03-11T09:30:00Z",
}
DELETED_EXAMPLE: dict[str, Any] = {"id": SUB, "deleted_at": WHEN}


class WebhookSubscription(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SUBSCRIPTION_EXAMPLE]})

    id: str
    callback_url: str
    event_types: list[str] = Field(description="Event types sent; empty: all.")
    basins: list[str] | None = Field(
        description="Basins whose events are sent; null: every basin of the region."
    )
    status: WebhookStatus = Field(
        description="active, or failing: deliveries kept failing past the give-up time; nothing is sent "
        "(nor planned) until `POST …/resume`."
    )
    created_at: datetime
    failing_since: datetime | None = None
    last_result: str | None = Field(None, description="Last failure that flagged it failing.")
    previous_secret_valid_until: datetime | None = Field(
        None, description="After a rotation: until when deliveries are also signed with the previous secret."
    )


class WebhookSubscriptionCreated(WebhookSubscription):
    model_config = ConfigDict(json_schema_extra={"examples": [{**SUBSCRIPTION_EXAMPLE, "secret": "whsec_…"}]})

    secret: str = Field(description="The signing secret, shown this once (X-TDU-Signature).")


class WebhookSubscriptionList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"subscriptions": [SUBSCRIPTION_EXAMPLE]}]})

    subscriptions: list[WebhookSubscription]


class WebhookSecretRotated(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ROTATED_EXAMPLE]})

    id: str
    secret: str = Field(description="The new signing secret, shown this once.")
    previous_secret_valid_until: datetime | None = Field(
        None, description="Deliveries carry a second signature, with the previous secret, until then."
    )


class WebhookDeleted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DELETED_EXAMPLE]})

    id: str
    deleted_at: datetime = Field(description="From then on nothing is planned nor sent for it.")


DELIVERY_EXAMPLE: dict[str, Any] = {
    "delivery_id": f"{SUB}-42",
    "event_id": "0f8e4c1a-6a57-4f3e-9a0b-8d2c5e7f1a23",
    "event_type": "ApplicationSubmitted",
    "journey_id": "J-7c1e",
    "basin": "4410",
    "status": "delivered",
    "attempts": 2,
    "created_at": WHEN,
    "last_attempt_at": "2026-03-10T09:30:12Z",
    "last_result": "HTTP 204",
    "next_attempt_at": None,
    "delivered_at": "2026-03-10T09:30:12Z",
    "replay_of": None,
}


class WebhookDeliveryView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DELIVERY_EXAMPLE]})

    delivery_id: str = Field(description="Sent as X-TDU-Delivery (the same on every attempt).")
    event_id: str
    event_type: str
    journey_id: str
    basin: str | None = None
    status: WebhookDeliveryStatus = Field(description="pending (not yet answered 2xx), delivered.")
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None = None
    last_result: str | None = Field(
        None, description="`HTTP 204`, `HTTP 500`, a timeout, a refused address …"
    )
    next_attempt_at: datetime | None = Field(None, description="When it is attempted next (pending ones).")
    delivered_at: datetime | None = None
    replay_of: str | None = Field(None, description="The delivery this one replays.")


REPLAYED = {
    "delivery_id": f"{SUB}-57",
    "status": "pending",
    "attempts": 0,
    "created_at": "2026-03-12T14:00:00Z",
    "last_attempt_at": None,
    "last_result": None,
    "delivered_at": None,
    "replay_of": f"{SUB}-42",
}


class WebhookDeliveryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"deliveries": [DELIVERY_EXAMPLE], "next_cursor": "42"}]}
    )

    deliveries: list[WebhookDeliveryView] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next (older) page; null: no more."
    )


def subscription_view(s: Subscription) -> WebhookSubscription:
    return WebhookSubscription(**_fields(s))


def _fields(s: Subscription) -> dict[str, Any]:
    return {
        "id": s.id,
        "callback_url": s.callback_url,
        "event_types": list(s.event_types),
        "basins": list(s.basins) if s.basins is not None else None,
        "status": s.status,
        "created_at": s.created_at,
        "failing_since": s.failing_since,
        "last_result": s.last_result if s.status is WebhookStatus.FAILING else None,
        "previous_secret_valid_until": s.previous_until if s.previous_secret else None,
    }


def delivery_view(d: WebhookDelivery) -> WebhookDeliveryView:
    return WebhookDeliveryView(
        delivery_id=d.id,
        event_id=d.event_id,
        event_type=d.event_type,
        journey_id=d.journey_id,
        basin=d.basin,
        status=d.status,
        attempts=d.attempts,
        created_at=d.created_at,
        last_attempt_at=d.last_attempt_at,
        last_result=d.last_result,
        next_attempt_at=d.next_attempt_at,
        delivered_at=d.delivered_at,
        replay_of=d.replay_of,
    )


@dataclass
class WebhookDesk:
    """What the partner API needs."""

    store: MongoWebhookStore
    resolver: Resolver
    clock: Clock
    region_basins: frozenset[str]
    offer: Callable[[Sequence[tuple[str, str]]], None]
    """Hands queues made due to the dispatcher (a replay, a resume)."""
    allow_loopback: bool = False
    secret_grace: timedelta = timedelta(hours=24)
    max_per_partner: int = 20

    async def own(self, caller: Principal, sub_id: str) -> Subscription:
        sub = await self.store.get(sub_id)
        if sub is None or sub.partner != caller.subject or sub.region != caller.region:
            raise Problem(404, f"abonnement {sub_id} inconnu")
        return sub

    def basins_for(self, caller: Principal, asked: Sequence[str]) -> tuple[str, ...] | None:
        wanted = tuple(sorted(set(asked)))
        if caller.basins is None:
            unknown = [b for b in wanted if b not in self.region_basins]
            if unknown:
                raise Problem(
                    422,
                    f"bassins inconnus dans la région {caller.region} : {', '.join(unknown)}",
                    errors=[field_error("basins", f"bassins inconnus : {', '.join(unknown)}")],
                )
            return wanted or None
        outside = [b for b in wanted if b not in caller.basins]
        if outside:
            raise Problem(403, f"hors du périmètre de votre clé : bassin(s) {', '.join(outside)}")
        return wanted or tuple(sorted(caller.basins))

    async def schedule_now(self, pairs: Sequence[str]) -> None:
        if pairs:
            now = self.clock.now()
            entries = await self.store.schedule(dict.fromkeys(pairs, now))
            self.offer([(entry, pair) for pair, entry in entries.items()])


NOT_YOURS = "abonnement wh_3f9c2a7b1d4e5f60 inconnu"
CREATED_EXAMPLE = {**SUBSCRIPTION_EXAMPLE, "secret": "whsec_Vq3…"}


def answers(
    status: int, example: Any, problems: Sequence[int], **kwargs: Any
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=``: the success answer's example, and the problems it may answer."""
    return {
        status: {"content": {"application/json": {"example": example}}},
        **problem_responses(*problems, **kwargs),
    }


def webhooks_router(desk: WebhookDesk) -> APIRouter:
    api = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

    @api.post(
        "",
        status_code=201,
        summary="Subscribe to journey events (the signing secret is shown once)",
        openapi_extra={"requestBody": {"content": {"application/json": {"example": REQUEST_EXAMPLE}}}},
        responses=answers(
            201,
            CREATED_EXAMPLE,
            (401, 403, 409, 422),
            examples={
                403: "hors du périmètre de votre clé : bassin(s) 4412",
                409: "au plus 20 abonnements par partenaire",
                422: "callback_url : adresse refusée : 169.254.169.254 est une adresse lien-local",
            },
            field_errors=[
                field_error(
                    "callback_url",
                    "adresse refusée : 169.254.169.254 est une adresse lien-local (dont les métadonnées du "
                    "nuage, 169.254.169.254)",
                    "callback_url_refused",
                )
            ],
        ),
    )
    async def create(caller: Caller, body: WebhookSubscriptionIn) -> WebhookSubscriptionCreated:
        basins = desk.basins_for(caller, body.basins)
        try:
            await check_callback_url(
                body.callback_url, allow_loopback=desk.allow_loopback, resolver=desk.resolver
            )
        except UrlRefused as exc:
            raise Problem(
                422,
                f"callback_url : {exc.reason}",
                errors=[field_error("callback_url", exc.reason, "callback_url_refused")],
            ) from None
        sub = Subscription(
            id=new_subscription_id(),
            partner=caller.subject,
            region=caller.region,
            callback_url=body.callback_url.strip(),
            event_types=tuple(body.event_types),
            basins=basins,
            secret=new_secret(),
            created_at=desk.clock.now(),
            created_by_key=caller.key_id,
        )
        try:
            await desk.store.create(sub, desk.max_per_partner)
        except TooManySubscriptions as exc:
            raise Problem(409, str(exc)) from None
        return WebhookSubscriptionCreated(**_fields(sub), secret=sub.secret)

    @api.get(
        "",
        summary="The partner's subscriptions",
        responses=answers(200, {"subscriptions": [SUBSCRIPTION_EXAMPLE]}, (401, 403)),
    )
    async def list_subscriptions(caller: Caller) -> WebhookSubscriptionList:
        subs = await desk.store.of_partner(caller.region, caller.subject)
        return WebhookSubscriptionList(subscriptions=[subscription_view(s) for s in subs])

    @api.get(
        "/{subscription_id}",
        summary="One subscription",
        responses=answers(200, SUBSCRIPTION_EXAMPLE, (401, 403, 404), examples={404: NOT_YOURS}),
    )
    async def get_subscription(caller: Caller, subscription_id: SubscriptionId) -> WebhookSubscription:
        return subscription_view(await desk.own(caller, subscription_id))

    @api.delete(
        "/{subscription_id}",
        summary="Unsubscribe: nothing more is sent, pending deliveries included",
        responses=answers(200, DELETED_EXAMPLE, (401, 403, 404), examples={404: NOT_YOURS}),
    )
    async def delete_subscription(caller: Caller, subscription_id: SubscriptionId) -> WebhookDeleted:
        sub = await desk.own(caller, subscription_id)
        await desk.store.delete(sub)
        return WebhookDeleted(id=sub.id, deleted_at=desk.clock.now())

    @api.post(
        "/{subscription_id}/secret",
        summary="Rotate the signing secret (the new one shown once; the old one signs too for a while)",
        responses=answers(200, ROTATED_EXAMPLE, (401, 403, 404), examples={404: NOT_YOURS}),
    )
    async def rotate_secret(caller: Caller, subscription_id: SubscriptionId) -> WebhookSecretRotated:
        sub = await desk.own(caller, subscription_id)
        secret, until = new_secret(), desk.clock.now() + desk.secret_grace
        await desk.store.rotate_secret(sub.id, secret, sub.secret, until)
        return WebhookSecretRotated(
            id=sub.id, secret=secret, previous_secret_valid_until=until if desk.secret_grace else None
        )

    @api.get(
        "/{subscription_id}/deliveries",
        summary="The subscription's delivery log, newest first (cursor pagination)",
        responses=answers(
            200,
            {"deliveries": [DELIVERY_EXAMPLE], "next_cursor": "42"},
            (401, 403, 404, 422),
            examples={404: NOT_YOURS},
            field_errors=[
                field_error(
                    "cursor",
                    "String should match pattern '^[0-9]{1,12}$'",
                    "string_pattern_mismatch",
                    "query",
                )
            ],
        ),
    )
    async def list_deliveries(
        caller: Caller,
        subscription_id: SubscriptionId,
        cursor: Annotated[
            str | None,
            Query(max_length=12, pattern=r"^[0-9]{1,12}$", description="`next_cursor` of the previous page."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=200, description="Deliveries per page.")] = 50,
    ) -> WebhookDeliveryPage:
        sub = await desk.own(caller, subscription_id)
        items, next_cursor = await desk.store.page(sub.id, int(cursor) if cursor else None, limit)
        return WebhookDeliveryPage(
            deliveries=[delivery_view(d) for d in items],
            next_cursor=str(next_cursor) if next_cursor is not None else None,
        )

    @api.post(
        "/{subscription_id}/deliveries/{delivery_id}/replay",
        status_code=202,
        summary="Send a delivery again, as a new delivery (new X-TDU-Delivery) behind its journey's others",
        responses=answers(
            202,
            {**DELIVERY_EXAMPLE, **REPLAYED},
            (401, 403, 404, 409),
            examples={404: NOT_YOURS, 409: "livraison encore en attente : rien à rejouer"},
        ),
    )
    async def replay(
        caller: Caller, subscription_id: SubscriptionId, delivery_id: DeliveryId
    ) -> WebhookDeliveryView:
        sub = await desk.own(caller, subscription_id)
        original = await desk.store.delivery(delivery_id)
        if original is None or original.subscription_id != sub.id:
            raise Problem(404, f"livraison {delivery_id} inconnue pour l'abonnement {sub.id}")
        if original.status is not WebhookDeliveryStatus.DELIVERED:
            raise Problem(
                409, f"livraison {delivery_id} encore en attente : elle sera envoyée, rien à rejouer"
            )
        seq = await desk.store.allocate(sub.id, 1)
        if seq is None:
            raise Problem(404, f"abonnement {sub.id} inconnu")
        new_id = numbered_delivery(sub.id, seq)
        now = desk.clock.now()
        again = WebhookDelivery(
            id=new_id,
            subscription_id=sub.id,
            seq=seq,
            journey_id=original.journey_id,
            event_id=original.event_id,
            event_type=original.event_type,
            basin=original.basin,
            body={**original.body, "delivery_id": new_id},
            created_at=now,
            replay_of=original.id,
        )
        await desk.store.add_deliveries([again])
        pair = pair_id(sub.id, again.journey_id)
        queue = (await desk.store.enqueue({pair: [new_id]}))[pair]
        if queue and queue[0] == new_id:
            await desk.schedule_now([pair])
        return delivery_view(again)

    @api.post(
        "/{subscription_id}/resume",
        summary="Start a failing subscription again (its pending deliveries first, in order)",
        responses=answers(
            200,
            SUBSCRIPTION_EXAMPLE,
            (401, 403, 404, 409),
            examples={404: NOT_YOURS, 409: "l'abonnement n'est pas en échec"},
        ),
    )
    async def resume(caller: Caller, subscription_id: SubscriptionId) -> WebhookSubscription:
        sub = await desk.own(caller, subscription_id)
        if sub.status is not WebhookStatus.FAILING:
            raise Problem(409, f"l'abonnement {sub.id} n'est pas en échec : rien à relancer")
        now = desk.clock.now()
        await desk.schedule_now(await desk.store.resume(sub.id, now))
        return subscription_view(
            replace(sub, status=WebhookStatus.ACTIVE, resumed_at=now, failing_since=None)
        )

    return api

"""Composition root: settings -> stores, senders, dispatcher, consumers, HTTP app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI

from notifications import api, consumers
from notifications.access import POLICY
from notifications.adapters.mongo import INDEXES, MongoContactStore, MongoDeliveryStore, MongoSignInStore
from notifications.adapters.mongo_webhooks import MongoWebhookStore
from notifications.adapters.operators import load_agents, load_operators
from notifications.adapters.rendering import JinjaRenderer
from notifications.adapters.sms_http import HttpSmsSender
from notifications.adapters.smtp import SmtpSender
from notifications.adapters.webhook_http import HttpWebhookSender
from notifications.domain.model import Contact
from notifications.domain.policy import Rules
from notifications.handlers import Dispatcher, Links, Retry
from notifications.oidc import OperatorSignIn
from notifications.settings import Settings
from notifications.signin import SignInDesk
from notifications.webhooks.api import WebhookDesk, webhooks_router
from notifications.webhooks.dispatcher import OperatorAlerts, WebhookDispatcher, WebhookLoop
from notifications.webhooks.model import Retry as WebhookRetry
from notifications.webhooks.planner import PartnerKeys, WebhookPlanner
from notifications.webhooks.urls import system_resolver
from notifications.worker import DeliveryLoop
from tdu_shared.clock import SystemClock
from tdu_shared.contracts.notifications import DeliveryRecorded
from tdu_shared.envelope import Envelope
from tdu_shared.mongo import ensure_indexes
from tdu_shared.outbox import KafkaItems
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import NOTIFICATIONS_DELIVERIES

DESCRIPTION = "E-mails and SMS to seekers, employers, training providers and operators, never twice."


def rules_of(settings: Settings) -> Rules:
    return Rules(
        timezone=ZoneInfo(settings.timezone),
        quiet_start=time.fromisoformat(settings.quiet_start),
        quiet_end=time.fromisoformat(settings.quiet_end),
        daily_cap=settings.daily_cap,
        contact_wait=timedelta(seconds=settings.contact_wait_s),
        contact_retry=timedelta(seconds=settings.contact_retry_s),
    )


async def create_indexes(runtime: ServiceRuntime) -> None:
    """One index per call: FerretDB 1.24 panics when createIndexes names several that already exist."""
    for spec in INDEXES:
        await ensure_indexes(runtime.db, [spec])


@dataclass
class Service:
    runtime: ServiceRuntime
    dispatcher: Dispatcher
    loop: DeliveryLoop
    app: FastAPI
    webhooks: WebhookLoop | None = None


def operator_sign_in(
    settings: Settings, runtime: ServiceRuntime, clock: SystemClock
) -> OperatorSignIn | None:
    """Operators' OpenID Connect sign-in, when a provider is configured."""
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    return OperatorSignIn(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        redirect_uri=settings.oidc_redirect_uri
        or f"{settings.base_url().rstrip('/')}/sign-in/operator/callback",
        agents=load_agents(settings.operators_file),
        states=MongoSignInStore(runtime.db),
        clock=clock,
        token_secret=settings.access_token_secret.get_secret_value(),
        region=settings.region,
        scopes=settings.oidc_scopes,
        session_ttl=timedelta(hours=settings.session_hours),
    )


def build_service(settings: Settings) -> Service:
    runtime = ServiceRuntime("notifications", settings, description=DESCRIPTION)
    deliveries = MongoDeliveryStore(runtime.db)
    contacts = MongoContactStore(runtime.db)
    sms = HttpSmsSender(
        settings.sms_api_base_url,
        settings.sms_api_key.get_secret_value(),
        settings.sms_sender,
        timeout_s=settings.sms_timeout_s,
    )
    email = SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        use_tls=settings.smtp_use_tls,
        start_tls=settings.smtp_starttls,
        timeout_s=settings.smtp_timeout_s,
        pool_size=settings.dispatch_concurrency,
    )
    mail_domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "traitdunion.eu"
    clock = SystemClock()
    operators = load_operators(settings.operators_file)
    dispatcher = Dispatcher(
        deliveries=deliveries,
        contacts=contacts,
        operators=operators,
        email=email,
        sms=sms,
        renderer=JinjaRenderer(),
        publisher=KafkaItems(runtime.publisher, (NOTIFICATIONS_DELIVERIES,)),
        clock=clock,
        rules=rules_of(settings),
        links=Links(
            settings.frontend_base_url,
            settings.base_url(),
            settings.link_secret.get_secret_value(),
            mail_domain,
        ),
        retry=Retry(settings.max_attempts, settings.retry_base_s, settings.retry_max_s),
        lease=timedelta(seconds=settings.delivery_lease_s),
        batch_size=settings.dispatch_batch,
        concurrency=settings.dispatch_concurrency,
    )
    loop = DeliveryLoop(dispatcher, settings.dispatch_poll_s, settings.dispatch_linger_s)
    wiring = consumers.Wiring(deliveries, contacts, clock, loop, settings.consume_linger_ms)
    consumers.register(runtime, wiring)
    runtime.broker.publisher(
        runtime.topic(NOTIFICATIONS_DELIVERIES),
        schema=Envelope[DeliveryRecorded],
        description="What became of every message: sent, failed, skipped or deferred, with the reason.",
    )
    runtime.on_started.append(lambda: create_indexes(runtime))
    runtime.on_started.append(loop.start)
    runtime.on_stopping.append(loop.stop)
    runtime.on_stopping.append(sms.close)
    runtime.on_stopping.append(email.close)
    webhooks, webhook_routes = build_webhooks(settings, runtime, deliveries, loop, operators, clock)
    inbound_key = settings.inbound_sms_key.get_secret_value() if settings.inbound_sms_key else None
    desk = SignInDesk(
        contacts=contacts,
        links=MongoSignInStore(runtime.db),
        email=email,
        renderer=JinjaRenderer(),
        clock=clock,
        frontend_base_url=settings.frontend_base_url,
        mail_domain=mail_domain,
        token_secret=settings.access_token_secret.get_secret_value(),
        region=settings.region,
        link_ttl=timedelta(minutes=settings.sign_in_link_minutes),
        session_ttl=timedelta(hours=settings.session_hours),
    )
    routers = [
        api.router(contacts, deliveries, settings.link_secret.get_secret_value(), inbound_key),
        api.sign_in_router(desk),
        api.operator_sign_in_router(operator_sign_in(settings, runtime, clock)),
        webhook_routes,
    ]
    return Service(runtime, dispatcher, loop, runtime.http_app(routers, policy=POLICY), webhooks)


def build_webhooks(
    settings: Settings,
    runtime: ServiceRuntime,
    deliveries: MongoDeliveryStore,
    loop: DeliveryLoop,
    operators: dict[str, Contact],
    clock: SystemClock,
) -> tuple[WebhookLoop, APIRouter]:
    """Webhooks: their own consumer group and loop; operators' alerts go through the e-mail pipeline."""
    store = MongoWebhookStore(runtime.db)
    keys = PartnerKeys(runtime.keys)
    sender = HttpWebhookSender(settings.webhooks_timeout_s)
    dispatcher = WebhookDispatcher(
        store=store,
        sender=sender,
        resolver=system_resolver,
        keys=keys,
        alerts=OperatorAlerts(deliveries, loop, operators),
        clock=clock,
        retry=WebhookRetry(
            settings.webhooks_retry_base_s, settings.webhooks_retry_max_s, settings.webhooks_give_up_s
        ),
        allow_loopback=settings.webhooks_allow_loopback,
        timeout_s=settings.webhooks_timeout_s,
        lease=timedelta(seconds=settings.webhooks_lease_s),
        batch_size=settings.webhooks_batch,
        concurrency=settings.webhooks_concurrency,
        per_subscription=settings.webhooks_per_subscription,
    )
    webhooks = WebhookLoop(dispatcher, settings.webhooks_poll_s, runtime.keys.loaded)
    consumers.register_webhooks(runtime, WebhookPlanner(store, keys, clock), webhooks)
    desk = WebhookDesk(
        store=store,
        resolver=system_resolver,
        clock=clock,
        region_basins=frozenset(runtime.region.codes()),
        offer=webhooks.offer,
        allow_loopback=settings.webhooks_allow_loopback,
        secret_grace=timedelta(seconds=settings.webhooks_secret_grace_s),
        max_per_partner=settings.webhooks_max_per_partner,
    )
    runtime.on_started.append(webhooks.start)
    runtime.on_stopping.append(webhooks.stop)
    runtime.on_stopping.append(sender.close)
    return webhooks, webhooks_router(desk)


def build(settings: Settings | None = None) -> FastAPI:
    return build_service(settings or Settings()).app

"""Settings of the notifications service (environment variable = field name in upper case)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from tdu_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    production_secrets: ClassVar[tuple[str, ...]] = ("inbound_sms_key",)

    mongodb_database: str = Field("notifications", description="Database owned by this service.")
    http_port: int = Field(8005, description="Port the HTTP API listens on.")

    smtp_host: str = Field("127.0.0.1", description="SMTP relay host (Brevo, Mailpit, a regional relay).")
    smtp_port: int = Field(1025, description="SMTP relay port.")
    smtp_username: str | None = Field(None, description="SMTP login, when the relay wants one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_use_tls: bool = Field(False, description="Implicit TLS (port 465).")
    smtp_starttls: bool | None = Field(
        None, description="STARTTLS: true, false, or null to use it when offered."
    )
    smtp_timeout_s: float = Field(10.0, gt=0, description="Timeout of one SMTP conversation, seconds.")
    mail_from: str = Field(
        "Trait d'Union <notifications@traitdunion.eu>", description="From: of every e-mail."
    )

    sms_api_base_url: str = Field("http://127.0.0.1:8025", description="Base URL of the SMS provider API.")
    sms_api_key: SecretStr = Field(
        SecretStr("dev-key"), description="API key of the SMS provider (header api-key)."
    )
    sms_sender: str = Field(
        "TraitUnion", max_length=11, description="Sender name of SMS (11 characters max)."
    )
    sms_timeout_s: float = Field(10.0, gt=0, description="Timeout of one SMS API call, seconds.")
    inbound_sms_key: SecretStr | None = Field(
        None, description="Key the SMS provider's inbound webhook must send (required in production)."
    )

    frontend_base_url: str = Field(
        "http://127.0.0.1:8000", description="The web pages (sign-in, journey and unsubscribe pages)."
    )
    link_secret: SecretStr = Field(
        SecretStr("change-me"), description="Secret signing unsubscribe links (HMAC-SHA256)."
    )
    sign_in_link_minutes: int = Field(
        15, ge=1, le=1440, description="How long an e-mailed sign-in link can be used (once)."
    )
    session_hours: float = Field(8, gt=0, le=24, description="How long a session from a sign-in link lasts.")
    oidc_issuer: str | None = Field(
        None,
        description="OpenID Connect provider of operators' sign-in (ProConnect, e.g. "
        "https://auth.agentconnect.gouv.fr/api/v2); none: operators cannot sign in here.",
    )
    oidc_client_id: str | None = Field(None, description="This platform's client id at the provider.")
    oidc_client_secret: SecretStr | None = Field(None, description="Its client secret.")
    oidc_redirect_uri: str | None = Field(
        None,
        description="Where the provider sends operators back: the web pages' /connexion/operateur/retour "
        "(they finish the sign-in through this service); none: this service's /sign-in/operator/callback.",
    )
    oidc_scopes: str = Field("openid email given_name usual_name", description="Scopes asked for.")
    operators_file: str | None = Field(None, description="YAML file of basin operators; a demo file ships.")

    timezone: str = Field("Europe/Paris", description="Time zone of quiet hours and of the daily cap.")
    quiet_start: str = Field("21:00", description="No SMS from this local time ...")
    quiet_end: str = Field("08:00", description="... until this one: deferred, not dropped.")
    daily_cap: int = Field(
        10, ge=1, description="Messages one person (operators excepted) gets per day at most."
    )
    contact_wait_s: float = Field(86_400, gt=0, description="How long a message waits for a missing contact.")
    contact_retry_s: float = Field(
        300, gt=0, description="Retry period of a message waiting for its contact."
    )

    max_attempts: int = Field(5, ge=1, description="Provider calls before a transient failure becomes final.")
    retry_base_s: float = Field(2.0, gt=0, description="First retry delay; doubles at each attempt.")
    retry_max_s: float = Field(600.0, gt=0, description="Longest retry delay.")
    delivery_lease_s: float = Field(
        120.0,
        gt=0,
        description="A claimed delivery not finished after this long is taken back (crash recovery); "
        "keep it above the longest batch (SMTP_TIMEOUT_S x DISPATCH_BATCH / DISPATCH_CONCURRENCY).",
    )
    consume_linger_ms: int = Field(
        100,
        ge=0,
        description="How long the broker may hold a fetch of journey events for more to arrive: a trickle "
        "of events is stored in fewer, larger writes (ms; 0 hands each event over at once).",
    )
    dispatch_batch: int = Field(256, ge=1, description="Deliveries claimed and sent together.")
    dispatch_concurrency: int = Field(32, ge=1, description="Provider calls under way at once.")
    dispatch_linger_s: float = Field(
        0.2, ge=0, description="Wait after new messages arrive, to send them in fewer, larger batches."
    )
    dispatch_poll_s: float = Field(
        1.0, gt=0, description="How often due deliveries are looked for when idle."
    )

    webhooks_allow_loopback: bool = Field(
        False,
        description="Development and tests only (refused when ENVIRONMENT=production): webhook callback URLs "
        "may be http:// and point at loopback addresses (127.0.0.1, ::1, localhost).",
    )
    webhooks_timeout_s: float = Field(
        10.0,
        gt=0,
        le=60,
        description="A webhook delivery not answered within this long is a failure, seconds.",
    )
    webhooks_retry_base_s: float = Field(
        10.0, gt=0, description="First retry delay of a failed webhook delivery; doubles at each attempt."
    )
    webhooks_retry_max_s: float = Field(
        3600.0, gt=0, description="Longest retry delay of a webhook delivery."
    )
    webhooks_give_up_s: float = Field(
        86_400.0,
        gt=0,
        description="A webhook delivery still failing this long after its first failure flags its "
        "subscription `failing` (no delivery attempted or planned until the partner resumes it) and e-mails "
        "the basin's operators.",
    )
    webhooks_lease_s: float = Field(
        60.0,
        gt=0,
        description="A claimed (subscription, journey) queue not released after this long is taken back "
        "(crash recovery); at least WEBHOOKS_TIMEOUT_S + 5 (checked at start).",
    )
    webhooks_poll_s: float = Field(1.0, gt=0, description="How often due webhook deliveries are looked for.")
    webhooks_batch: int = Field(64, ge=1, description="(subscription, journey) queues claimed together.")
    webhooks_concurrency: int = Field(
        16, ge=1, description="Webhook requests under way at once (one per (subscription, journey) queue)."
    )
    webhooks_per_subscription: int = Field(
        4,
        ge=1,
        description="Requests under way at once to one subscription, per instance: a slow receiver holds at "
        "most this many of WEBHOOKS_CONCURRENCY.",
    )
    webhooks_secret_grace_s: float = Field(
        86_400.0,
        ge=0,
        description="After a secret rotation, deliveries are signed with the old secret too for this long "
        "(a second sha256= in X-TDU-Signature); 0: the old secret stops at once.",
    )
    webhooks_max_per_partner: int = Field(
        20, ge=1, le=500, description="Webhook subscriptions one partner may hold at once."
    )

    @model_validator(mode="after")
    def _no_loopback_webhooks_in_production(self) -> Settings:
        if self.environment == "production" and self.webhooks_allow_loopback:
            raise ValueError(
                "ENVIRONMENT=production : WEBHOOKS_ALLOW_LOOPBACK est réservé au développement et aux tests"
            )
        return self

    @model_validator(mode="after")
    def _webhook_lease_outlasts_a_request(self) -> Settings:
        if self.webhooks_lease_s < self.webhooks_timeout_s + 5:
            raise ValueError("WEBHOOKS_LEASE_S doit dépasser WEBHOOKS_TIMEOUT_S d'au moins 5 s")
        return self

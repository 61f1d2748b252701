"""Settings of the journeys service (environment variable = field name in upper case)."""

from __future__ import annotations

from pydantic import Field

from tdu_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    mongodb_database: str = Field("journeys", description="Database owned by the journeys service.")
    http_port: int = Field(8004, description="Port the HTTP API listens on.")
    relay_interval_s: float = Field(
        1.0, gt=0, description="The outbox relay looks for unpublished events at least this often (seconds)."
    )
    relay_lease_s: float = Field(
        10.0, gt=0, description="A relay owns a journey's pending events this long before another may retry."
    )
    timer_interval_s: float = Field(30.0, gt=0, description="How often due timers are looked for (seconds).")
    timer_lease_s: float = Field(
        60.0, gt=0, description="A claimed timer is retried after this long if unfinished."
    )
    kpi_refresh_s: float = Field(
        60.0, gt=0, description="How often the Prometheus KPI gauges are recomputed."
    )
    retention_months: int = Field(
        24,
        ge=1,
        le=120,
        description="A seeker's personal data is erased this many months after their last journey ended "
        "(declined, abandoned or hired); `journeys retention` applies it (a daily job).",
    )
    kpi_cache_s: float = Field(
        30.0,
        ge=0,
        description="KPI counters read from the store are reused this long (seconds) unless this instance "
        "changed them: another instance's writes show in the KPIs within that time.",
    )
    max_page_size: int = Field(200, ge=1, description="Largest page of journeys a list request may ask for.")
    journeys_test_crash_after_write: bool = Field(
        False,
        description="FAULT INJECTION, tests only: the process exits right after a journey write, before the "
        "relay publishes, to prove the outbox resumes after a crash. Never set in production.",
    )

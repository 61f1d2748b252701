"""Secrets are configuration: in production the service refuses to start with an empty or default one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifications.settings import Settings

SET = {
    "link_secret": "7c1e-long-random",
    "sms_api_key": "provider-key",
    "inbound_sms_key": "webhook-key",
    "access_token_secret": "5d0f9a2b-session-signing-secret-of-the-region",
}


def test_development_runs_on_the_demo_defaults() -> None:
    settings = Settings(environment="development")
    assert settings.link_secret.get_secret_value() == "change-me" and settings.inbound_sms_key is None


def test_production_refuses_default_and_missing_secrets_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(environment="production")
    message = str(refused.value)
    for name in ("LINK_SECRET", "SMS_API_KEY", "INBOUND_SMS_KEY", "ACCESS_TOKEN_SECRET"):
        assert name in message
    with pytest.raises(ValidationError, match="LINK_SECRET"):
        Settings(environment="production", **{**SET, "link_secret": "change-me"})
    with pytest.raises(ValidationError, match="INBOUND_SMS_KEY"):
        Settings(environment="production", **{**SET, "inbound_sms_key": ""})


def test_production_starts_with_every_secret_set_and_never_shows_them() -> None:
    settings = Settings(environment="production", **SET)
    assert settings.sms_api_key.get_secret_value() == "provider-key"
    shown = repr(settings) + settings.model_dump_json()
    assert not [value for value in SET.values() if value in shown]

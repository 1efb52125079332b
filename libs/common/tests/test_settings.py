"""Settings read UPLIFT_<SERVICE>_* before UPLIFT_* and refuse development secrets in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from uplift.common.settings import DEV_JWT_SECRET, load_settings


def test_service_prefix_wins_over_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_NATS_URL", "nats://shared:4222")
    monkeypatch.setenv("UPLIFT_DATABASE_URL", "postgresql+asyncpg://shared/db")
    monkeypatch.setenv("UPLIFT_MEDICAL_DATABASE_URL", "postgresql+asyncpg://medical_role@db/uplift")
    medical = load_settings("medical")
    registry = load_settings("registry")
    assert medical.database_url == "postgresql+asyncpg://medical_role@db/uplift"
    assert registry.database_url == "postgresql+asyncpg://shared/db"
    assert medical.nats_url == registry.nats_url == "nats://shared:4222"
    assert medical.service_name == "medical"
    assert medical.asyncpg_dsn == "postgresql://medical_role@db/uplift"


def test_production_refuses_the_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_ENV", "production")
    with pytest.raises(ValidationError) as refused:
        load_settings("registry")
    assert "jwt_secret" in str(refused.value) and "pii_key" in str(refused.value)
    monkeypatch.setenv("UPLIFT_JWT_SECRET", "a-real-secret-that-is-long-enough-0123456789")
    monkeypatch.setenv("UPLIFT_PII_KEY", "cmVhbC1rZXktMzItYnl0ZXMtbG9uZy0wMTIzNDU2Nzg=")
    monkeypatch.setenv("UPLIFT_LOOKUP_KEY", "cmVhbC1sb29rdXAta2V5LTMyLWJ5dGVzLWxvbmctMDE=")
    settings = load_settings("registry")
    assert settings.env == "production" and settings.jwt_secret != DEV_JWT_SECRET


def test_development_defaults_point_at_the_embedded_servers() -> None:
    settings = load_settings("metrics")
    assert settings.database_url.endswith(":55432/uplift")
    assert settings.nats_url == "nats://127.0.0.1:54222"
    assert settings.outbox_retention_days is None  # keep published outbox rows by default

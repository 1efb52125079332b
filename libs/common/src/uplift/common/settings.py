"""Settings for a service, read from the environment.

Each field is read from `UPLIFT_<SERVICE>_<FIELD>` first and `UPLIFT_<FIELD>` second, so an operator can set a
shared value (the NATS URL, the JWT issuer) once and override it per service (the database role).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

DEV_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:55432/uplift"
DEV_NATS_URL = "nats://127.0.0.1:54222"
DEV_JWT_SECRET = "uplift-dev-secret-change-me-0123456789abcdef"
DEV_ISSUER = "uplift-dev"
DEV_AUDIENCE = "uplift"
# base64 of 32 fixed bytes: development only; production refuses them.
DEV_PII_KEY = "dXBsaWZ0LWRldi1waWkta2V5LTMyLWJ5dGVzLWxvbmc="
DEV_LOOKUP_KEY = "dXBsaWZ0LWRldi1sb29rdXAta2V5LTMyLWJ5dGVzLWw="


class ServiceSettings(BaseSettings):
    """What every service needs; a service subclasses it for its own fields."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="UPLIFT_")

    service_name: str = ""
    env: Literal["development", "test", "production"] = "development"
    database_url: str = DEV_DATABASE_URL
    db_pool_size: int = 10
    db_max_overflow: int = 10
    nats_url: str = DEV_NATS_URL
    nats_stream_replicas: int = 1
    nats_duplicate_window_seconds: float = 120.0

    jwt_secret: str | None = DEV_JWT_SECRET
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str = DEV_ISSUER
    jwt_audience: str = DEV_AUDIENCE
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256", "RS256", "ES256"])

    pii_key: str = DEV_PII_KEY
    pii_key_id: str = "dev1"
    pii_old_keys: str = ""
    lookup_key: str = DEV_LOOKUP_KEY

    timezone: str = "Asia/Shanghai"
    relay_enabled: bool = True
    relay_batch_size: int = 500
    relay_poll_interval_seconds: float = 1.0
    outbox_retention_days: int | None = None  # None: keep published rows for ever (the default)
    consumers_enabled: bool = True
    consumer_batch_size: int = 256
    consumer_max_deliver: int = 5
    consumer_backoff_seconds: list[float] = Field(default_factory=lambda: [0.5, 2.0, 5.0, 15.0, 30.0])
    consumer_ack_wait_seconds: float = 30.0
    scheduler_enabled: bool = True
    scheduler_interval_seconds: float = 60.0
    idempotency_ttl_hours: int = 24
    # How long a claimed Idempotency-Key whose request never answered blocks retries ("in progress").
    idempotency_claim_expiry_seconds: float = 60.0
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> ServiceSettings:
        if self.env == "production":
            weak = []
            if self.jwt_secret == DEV_JWT_SECRET:
                weak.append("jwt_secret")
            if self.pii_key == DEV_PII_KEY:
                weak.append("pii_key")
            if self.lookup_key == DEV_LOOKUP_KEY:
                weak.append("lookup_key")
            if weak:
                raise ValueError(
                    "UPLIFT_ENV=production refuses the development secrets: set " + ", ".join(weak)
                )
            if not (self.jwt_secret or self.jwt_public_key or self.jwks_url):
                raise ValueError(
                    "production needs UPLIFT_JWT_SECRET, UPLIFT_JWT_PUBLIC_KEY or UPLIFT_JWKS_URL"
                )
        return self

    @property
    def asyncpg_dsn(self) -> str:
        """The database URL without SQLAlchemy's driver suffix, for raw asyncpg connections."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        service = str(settings_cls.model_fields["service_name"].default or "").upper()
        sources: list[PydanticBaseSettingsSource] = [init_settings]
        if service:
            sources.append(EnvSettingsSource(settings_cls, env_prefix=f"UPLIFT_{service}_"))
        sources += [env_settings, dotenv_settings, file_secret_settings]
        return tuple(sources)


@cache
def settings_class(service: str) -> type[ServiceSettings]:
    """A settings class for `service` reading `UPLIFT_<SERVICE>_*` before `UPLIFT_*`."""
    return type(
        f"{service.capitalize()}Settings",
        (ServiceSettings,),
        {"__annotations__": {"service_name": str}, "service_name": service},
    )


def load_settings(service: str, **overrides: Any) -> ServiceSettings:
    return settings_class(service)(**overrides)

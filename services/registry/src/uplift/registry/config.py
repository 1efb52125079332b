"""Settings of the registry service (`UPLIFT_REGISTRY_*`, falling back to `UPLIFT_*`)."""

from __future__ import annotations

from uplift.common.settings import ServiceSettings, settings_class


class RegistrySettings(settings_class("registry")):  # type: ignore[misc]
    """Everything the registry service reads from its environment."""


def get_settings() -> ServiceSettings:
    return RegistrySettings()

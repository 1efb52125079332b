"""Settings of the medical service (`UPLIFT_MEDICAL_*`, falling back to `UPLIFT_*`)."""

from __future__ import annotations

from uplift.common.settings import ServiceSettings, settings_class


class MedicalSettings(settings_class("medical")):  # type: ignore[misc]
    """Everything the medical service reads from its environment."""


def get_settings() -> ServiceSettings:
    return MedicalSettings()

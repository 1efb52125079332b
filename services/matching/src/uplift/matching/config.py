"""Settings of the matching service (`UPLIFT_MATCHING_*`, falling back to `UPLIFT_*`)."""

from __future__ import annotations

from uplift.common.settings import ServiceSettings, settings_class


class MatchingSettings(settings_class("matching")):  # type: ignore[misc]
    """Everything the matching service reads from its environment."""


def get_settings() -> ServiceSettings:
    return MatchingSettings()

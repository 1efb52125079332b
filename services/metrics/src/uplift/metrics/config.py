"""Settings of the metrics service (`UPLIFT_METRICS_*`, falling back to `UPLIFT_*`)."""

from __future__ import annotations

from uplift.common.settings import ServiceSettings, settings_class


class MetricsSettings(settings_class("metrics")):  # type: ignore[misc]
    """Everything the metrics service reads from its environment."""


def get_settings() -> ServiceSettings:
    return MetricsSettings()

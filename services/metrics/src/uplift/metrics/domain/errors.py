"""Errors of the metrics domain: requests the indicator definitions cannot answer.

The domain stays free of FastAPI, so it raises these plain `ValueError`s; the API maps every
`MetricsRequestError` to 422 problem details naming `field` (and `UnknownIndicator` to 404).
"""

from __future__ import annotations


class MetricsRequestError(ValueError):
    """A parameter of an indicator or assessment request that cannot be answered."""

    field: str = "request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class PeriodError(MetricsRequestError):
    """A `period` (or series bound) that does not parse or makes no sense."""

    field = "period"


class ScopeError(MetricsRequestError):
    """A `scope` that is not an org code or `department:{code}`."""

    field = "scope"


class CohortNotApplicable(MetricsRequestError):
    """`cohort` given for an indicator that is not household-based (section 10: 422)."""

    field = "cohort"


class IndicatorNotApplicable(MetricsRequestError):
    """An indicator asked for a scope or period it is not defined for."""


class UnknownIndicator(MetricsRequestError):
    """No indicator of that name (the API answers 404)."""

    field = "name"

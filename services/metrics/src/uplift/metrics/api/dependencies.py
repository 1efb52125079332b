"""Request dependencies of the metrics API: the evaluator (read session + the app's result cache) and the
translation of domain errors into problem details."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from uplift.common.errors import FieldError, NotFound, Unprocessable
from uplift.common.runtime import ReadSessionDep
from uplift.metrics.domain.errors import MetricsRequestError, UnknownIndicator
from uplift.metrics.domain.periods import Period, parse_period
from uplift.metrics.domain.scopes import Scope, parse_scope
from uplift.metrics.evaluation import Evaluator, ResultCache


def result_cache(request: Request) -> ResultCache:
    cache: ResultCache | None = getattr(request.app.state, "metrics_cache", None)
    if cache is None:
        cache = ResultCache()
        request.app.state.metrics_cache = cache
    return cache


async def evaluator(request: Request, session: ReadSessionDep) -> Evaluator:
    return Evaluator(session, result_cache(request))


EvaluatorDep = Annotated[Evaluator, Depends(evaluator)]


@contextmanager
def domain_errors() -> Iterator[None]:
    """A request the definitions cannot answer is 422 naming the field; an unknown indicator is 404."""
    try:
        yield
    except UnknownIndicator as exc:
        raise NotFound(exc.message) from exc
    except MetricsRequestError as exc:
        raise Unprocessable(exc.message, errors=[FieldError(exc.field, exc.message)]) from exc


def scope_and_period(scope: str, period: str) -> tuple[Scope, Period]:
    with domain_errors():
        return parse_scope(scope), parse_period(period)

"""Stored parameter versions: what is in force on a date, and storing a new version (`registry.parameters.set`).

Every rule asks for the version in force on the date it concerns (`parameters_in_force(session, on)`); the
table is small, so the whole history is read each time rather than cached in one process of several.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import ParametersSet, RetirementAge
from uplift.common.errors import Conflict, FieldError, Unprocessable
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.domain.parameters import ParameterHistory, Parameters, ParameterVersion
from uplift.registry.models.households import ParameterVersionRow
from uplift.registry.service import audit

versions_table = cast(sa.Table, ParameterVersionRow.__table__)


async def parameter_history(session: AsyncSession) -> ParameterHistory:
    """Every stored version, answering `in_force(on)`."""
    rows = (await session.execute(sa.select(versions_table.c.effective_from, versions_table.c["values"]))).all()
    return ParameterHistory(ParameterVersion(effective_from=row[0], values=row[1]) for row in rows)


async def parameters_in_force(session: AsyncSession, on: dt.date) -> Parameters:
    """The parameters in force on `on` (the built-in defaults before the first version)."""
    return (await parameter_history(session)).in_force(on)


def _validation_errors(error: ValidationError) -> list[FieldError]:
    fields = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ()) if part != "values"]
        fields.append(FieldError(".".join(location) or "values", str(item.get("msg", "invalid"))))
    return fields


def parameters_set_event(params: Parameters) -> ParametersSet:
    """The `registry.parameters.set` payload of the parameters in force from a version's date."""
    assert params.effective_from is not None
    return ParametersSet(
        effective_from=params.effective_from,
        dibao_line=params.dibao_line,
        transition_months=params.transition_months,
        monitoring_years=params.monitoring_years,
        visit_interval_days=params.visit_interval_days,
        retirement_age=RetirementAge(male=params.retirement_age.male, female=params.retirement_age.female),
    )


async def store_version(uow: UnitOfWork, *, effective_from: dt.date, values: dict[str, Any], actor: str) -> Parameters:
    """Store a partial version from `effective_from`; publish the parameters in force from it (and, since a
    back-dated version changes what later versions lay over, from every later version too)."""
    try:
        version = ParameterVersion(effective_from=effective_from, values=values)
    except ValidationError as error:
        raise Unprocessable("The parameters are invalid; see errors.", errors=_validation_errors(error)) from None
    session = uow.session
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(0x5041_5241_4D53)))  # one writer at a time
    existing = await session.scalar(
        sa.select(versions_table.c.effective_from).where(versions_table.c.effective_from == effective_from)
    )
    if existing is not None:
        raise Conflict(f"a parameter version effective from {effective_from} exists already")
    await session.execute(
        sa.insert(versions_table).values(effective_from=effective_from, values=version.values, actor=actor)
    )
    history = await parameter_history(session)
    affected = [day for day in history.change_dates if day >= effective_from]
    for day in affected:
        try:
            payload = parameters_set_event(history.in_force(day))
        except ValidationError as error:
            raise Unprocessable(
                "These parameters cannot be published; see errors.", errors=_validation_errors(error)
            ) from None
        uow.emit(payload.event_type, subject=payload.aggregate_id, data=payload)
    await audit.record(
        session,
        actor=actor,
        action="parameters.set",
        subject_type="parameters",
        subject_id=effective_from.isoformat(),
        detail={"values": version.values},
    )
    return history.in_force(effective_from)

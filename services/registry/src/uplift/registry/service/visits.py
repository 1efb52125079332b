"""Visits (入户走访): record a helper's visit to a household and list visits.

Findings are free text that may hold personal details: stored encrypted with the deployment's field cipher
(associated data = the column name), never put in events. Recording a visit resolves the household's
`visit_overdue` alert, whose cause it removes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from uplift.common.contracts import VisitRecorded
from uplift.common.db import new_id
from uplift.common.pii import FieldCipher
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.domain.alerts import AlertKind
from uplift.registry.domain.policy_catalogue import POLICY_AREAS
from uplift.registry.models.support import Visit
from uplift.registry.service.alerts import resolve_open
from uplift.registry.service.helpers import HelperRecord

FINDINGS_COLUMN = "visits.findings"
# Needs are named after the toolbox's policy areas, so a need points at the policies that answer it.
NEED_CODES: tuple[str, ...] = (*(area.code for area in POLICY_AREAS), "income", "other")


async def record_visit(
    uow: UnitOfWork,
    *,
    household_id: uuid.UUID,
    helper: HelperRecord,
    visited_on: dt.date,
    findings: str | None,
    needs: Sequence[str],
    satisfaction: int | None,
    recorded_by: str,
    cipher: FieldCipher,
    today: dt.date,
    interval_days: int,
) -> Visit:
    """Store the visit, emit `registry.visit.recorded`; a visit recent enough (within the visit interval of
    `today`) resolves the household's open `visit_overdue` alert."""
    visit = Visit(
        id=new_id(),
        household_id=household_id,
        helper_kind=helper.kind,
        helper_id=helper.id,
        department_code=helper.department_code,
        visited_on=visited_on,
        findings_encrypted=cipher.encrypt(findings, associated_data=FINDINGS_COLUMN) if findings else None,
        needs=sorted(set(needs)),
        satisfaction=satisfaction,
        recorded_by=recorded_by,
    )
    uow.session.add(visit)
    await uow.session.flush()
    payload = VisitRecorded(
        visit_id=visit.id,
        household_id=household_id,
        helper=helper.contract,
        visited_on=visited_on,
        satisfaction=satisfaction,
        needs=visit.needs,
    )
    uow.emit(VisitRecorded.event_type, subject=visit.id, data=payload)
    if (today - visited_on).days <= interval_days:
        await resolve_open(uow, household_id, AlertKind.VISIT_OVERDUE, on=today, by="visit_recorded")
    return visit


def read_findings(visit: Visit, cipher: FieldCipher) -> str | None:
    if visit.findings_encrypted is None:
        return None
    return cipher.decrypt(visit.findings_encrypted, associated_data=FINDINGS_COLUMN)

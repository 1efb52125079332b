"""Projectors against the real database: events of one aggregate in any order, twice, or in one batch give
the same rows (the handlers are idempotent on their own, besides the consumer's inbox)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common import contracts as c
from uplift.common.testkit import RunningService
from uplift.metrics import models as m
from uplift.metrics.projections import apply_events
from uplift.metrics.sample_events import Org, Publisher, cadre, hired, new_household, retained, reversed_claim, settled

pytestmark = pytest.mark.integration


def _story() -> tuple[list[c.EventPayload], dict[str, Any]]:
    org = Org.fresh()
    household = new_household(org)
    placement = hired(household, dt.date(2026, 1, 5))
    claim = settled(household, dt.date(2026, 2, 1), cap_met=True, supplementary="12.00")
    alert_id = uuid.uuid4()
    alert = {"alert_id": alert_id, "household_id": household.household_id, "kind": "income_drop"}
    measure = c.MeasurePlanned(
        seq=1,
        measure_id=uuid.uuid4(),
        household_id=household.household_id,
        policy_code="EMP-01",
        helper=cadre(org.department),
        due_on=dt.date(2026, 3, 1),
    )
    events: list[c.EventPayload] = [
        household.enrolled(),
        household.exited(dt.date(2026, 3, 1)),
        household.exit_undone(dt.date(2026, 3, 4)),
        placement,
        retained(placement, 3, dt.date(2026, 4, 5)),
        claim,
        reversed_claim(claim, dt.date(2026, 2, 9)),
        c.AlertRaised(seq=1, **alert, severity="low", on=dt.date(2026, 2, 2)),
        c.AlertResolved(seq=2, **alert, severity="high", on=dt.date(2026, 2, 20)),
        measure,
        c.MeasureCompleted(**{**measure.model_dump(), "seq": 2, "completed_on": dt.date(2026, 2, 27)}),
    ]
    ids = {
        "household": household.household_id,
        "placement": placement.placement_id,
        "claim": claim.claim_id,
        "alert": alert_id,
        "measure": measure.measure_id,
    }
    return events, ids


async def _rows(session: AsyncSession, ids: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    def where(table: sa.Table, column: str, key: str) -> sa.Select[Any]:
        return sa.select(table).where(table.c[column] == ids[key]).order_by(*table.primary_key.columns)

    queries = {
        "households": where(m.households, "household_id", "household"),
        "status": where(m.household_status_events, "household_id", "household"),
        "status_spans": where(m.status_spans, "household_id", "household"),
        "placements": where(m.placements, "placement_id", "placement"),
        "claims": where(m.claims, "claim_id", "claim"),
        "alerts": where(m.alerts, "alert_id", "alert"),
        "measures": where(m.measures, "measure_id", "measure"),
    }
    return {name: [tuple(r) for r in (await session.execute(q)).all()] for name, q in queries.items()}


async def test_events_in_any_order_twice_or_in_one_batch_give_the_same_rows(metrics: RunningService) -> None:
    events, ids = _story()
    envelopes = [Publisher.envelope(e) for e in events]
    sessions = metrics.runtime.sessions

    async def project(batches: list[list[Any]]) -> dict[str, list[tuple[Any, ...]]]:
        async with sessions() as session:
            for batch in batches:
                await apply_events(session, batch)
            rows = await _rows(session, ids)
            await session.rollback()  # leave nothing behind for the other tests
        return rows

    one_by_one = await project([[e] for e in envelopes])
    assert await project([envelopes]) == one_by_one
    assert await project([[e] for e in reversed(envelopes)]) == one_by_one
    assert await project([envelopes + envelopes]) == one_by_one

    status = [(row[2], row[3]) for row in one_by_one["status"]]
    assert status == [("exited", dt.date(2026, 3, 1)), ("exit_undone", dt.date(2026, 3, 4))]
    # The undone exit is gone from the spans: enrolled throughout.
    assert [(row[1], row[2], row[3]) for row in one_by_one["status_spans"]] == [
        (dt.date(2026, 1, 10), None, "enrolled")
    ]
    placement = one_by_one["placements"][0]
    assert placement[7] == dt.date(2026, 1, 5) and placement[8] == dt.date(2026, 4, 5)  # started, retained 3m
    claim = one_by_one["claims"][0]
    assert claim[10] == Decimal("12.00") and claim[14:16] == (True, dt.date(2026, 2, 9))  # supplementary, reversed
    alert = one_by_one["alerts"][0]
    assert alert[4:] == ("high", "resolved", dt.date(2026, 2, 2), dt.date(2026, 2, 20))
    assert one_by_one["measures"][0][-1] == dt.date(2026, 2, 27)

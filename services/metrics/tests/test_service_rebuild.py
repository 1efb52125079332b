"""Rebuild: replaying the streams gives exactly the projections the live consumers built."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from nats.js import JetStreamContext

from uplift.common import contracts as c
from uplift.common.testkit import RunningService, auth, eventually
from uplift.metrics import models as m
from uplift.metrics.sample_events import (
    Org,
    Publisher,
    cadre,
    consumers_caught_up,
    hired,
    new_household,
    retained,
    reversed_claim,
    settled,
    visit,
    wait_for_indicator,
)

pytestmark = pytest.mark.integration


async def _projection_contents(metrics: RunningService) -> dict[str, list[tuple[Any, ...]]]:
    contents = {}
    async with metrics.runtime.sessions() as session:
        for table in m.PROJECTION_TABLES:
            ordered = sa.select(table).order_by(*table.primary_key.columns)
            contents[table.name] = [tuple(row) for row in (await session.execute(ordered)).all()]
    return contents


async def test_a_rebuild_gives_the_projections_the_consumers_built(
    metrics: RunningService, publisher: Publisher, jetstream: JetStreamContext
) -> None:
    org = Org.fresh(communities=2)
    helper = cadre(org.department)
    households = [new_household(org, community=n % 2) for n in range(20)]
    placement = hired(households[0], dt.date(2026, 1, 20))
    claim = settled(households[1], dt.date(2026, 2, 3), cap_met=True, supplementary="50.00")
    events: list[c.EventPayload] = [h.enrolled() for h in households]
    events += [h.paired(helper, dt.date(2026, 1, 12)) for h in households[:10]]
    events += [h.exited(dt.date(2026, 3, 1)) for h in households[10:15]]
    events += [
        households[10].exit_undone(dt.date(2026, 3, 5)),
        households[11].relapsed_on(dt.date(2026, 6, 1)),
        households[2].released(dt.date(2026, 2, 1)),
        households[3].transition(dt.date(2026, 2, 10)),
        visit(households[0], helper, dt.date(2026, 2, 2), 5),
        placement,
        retained(placement, 3, dt.date(2026, 4, 20)),
        claim,
        reversed_claim(claim, dt.date(2026, 2, 10)),
        c.AlertRaised(
            seq=1,
            alert_id=households[4].household_id,
            household_id=households[4].household_id,
            kind="income_drop",
            severity="high",
            on=dt.date(2026, 2, 1),
        ),
    ]
    moved = households[5].moved(org.communities[1])
    await publisher.publish([*events, moved])
    # Projected twice (a producer's retry after the duplicate window): changes nothing.
    await publisher.publish([moved.model_copy()])
    await wait_for_indicator(metrics.client, "exit_rate", org.street, "2026", denominator=20)
    await eventually(lambda: consumers_caught_up(jetstream), what="the consumers caught up")
    before = await _projection_contents(metrics)
    assert sum(1 for row in before["households"] if row[0] in {h.household_id for h in households}) == 20

    response = await metrics.client.post("/metrics/v1/admin/rebuild", headers=auth("district_admin"))

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["applied"] >= len(events) + 1
    assert report["rows"]["households"] == len(before["households"])
    after = await _projection_contents(metrics)
    for table in m.PROJECTION_TABLES:
        assert after[table.name] == before[table.name], f"{table.name} differs after the rebuild"
    # And the indicators read from the rebuilt projections: 4 exited (one exit undone), 1 of them relapsed.
    exits = (
        await metrics.client.get(
            "/metrics/v1/indicators/exit_rate",
            params={"scope": org.street, "period": "2026-03"},
            headers=auth("analyst"),
        )
    ).json()
    assert (exits["numerator"], exits["denominator"]) == (4, 20)


async def test_only_a_district_admin_may_rebuild(metrics: RunningService) -> None:
    response = await metrics.client.post("/metrics/v1/admin/rebuild", headers=auth("analyst"))
    assert response.status_code == 403

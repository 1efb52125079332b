"""The insured-person projection from the REGISTRY stream, and the category-on-the-discharge-date rule."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from uplift.common.contracts import (
    EventPayload,
    HouseholdEnrolled,
    HouseholdExited,
    HouseholdUpdated,
    PersonAdded,
    PersonUpdated,
)
from uplift.common.nats_link import ensure_stream
from uplift.common.testkit import RunningService, eventually
from uplift.medical.models import HouseholdStatusChange, InsuredPerson, Membership, table_of

pytestmark = pytest.mark.integration


async def publish(medical: RunningService, kit: Any, *payloads: EventPayload) -> None:
    assert await medical.runtime.nats.wait_connected(10)
    js = medical.runtime.nats.js
    await ensure_stream(js, "REGISTRY")
    for payload in payloads:
        envelope = kit.envelope_of(payload)
        await js.publish(
            envelope.nats_subject,
            envelope.to_json_bytes(),
            stream="REGISTRY",
            headers={"Nats-Msg-Id": str(envelope.id)},
        )


async def count(medical: RunningService, statement: sa.Select[Any]) -> int:
    async with medical.runtime.sessions() as session:
        return int((await session.execute(statement)).scalar_one())


async def simulate(medical: RunningService, kit: Any, person: uuid.UUID, discharged_on: str) -> dict[str, Any]:
    body = {
        "person_id": str(person),
        "hospital_code": "H-projection",
        "settlement_no": "S-projection",
        "hospital_level": 2,
        "admitted_on": discharged_on,
        "discharged_on": discharged_on,
        "total": "30000.00",
        "in_policy": "26000.00",
    }
    response = await medical.client.post("/medical/v1/claims:simulate", json=body, headers=kit.OPERATOR)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_registry_events_project_persons_and_the_category_on_the_discharge_date(
    medical: RunningService, kit: Any
) -> None:
    dibao_household, tekun_household, person = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    enrolled = kit.household_snapshot(dibao_household, seq=1, category="dibao", enrolled_on=dt.date(2025, 1, 10))
    exited_on = dt.date(2026, 2, 1)
    exited = kit.household_snapshot(
        dibao_household,
        seq=2,
        category="dibao",
        status="exited",
        exit={"reason": "income_above_line", "exited_on": exited_on, "monitoring_until": None},
    )
    other = kit.household_snapshot(
        tekun_household, seq=1, category="tekun", community_code="420102001002", enrolled_on=dt.date(2024, 6, 1)
    )
    # The person arrives before the household: parked, then applied when the household is known.
    await publish(
        medical,
        kit,
        PersonAdded(person=kit.person_snapshot(person, dibao_household, seq=1, member_since=dt.date(2026, 1, 5))),
        HouseholdEnrolled(household=enrolled),
        HouseholdExited(household=exited, reason="income_above_line", exited_on=exited_on),
        HouseholdEnrolled(household=other),
        # A stale snapshot delivered late changes nothing.
        HouseholdUpdated(household=kit.household_snapshot(dibao_household, seq=1, monthly_income=Decimal("1.00"))),
    )
    persons = table_of(InsuredPerson)
    statuses = table_of(HouseholdStatusChange)

    async def projected() -> bool:
        known = sa.select(sa.func.count()).where(persons.c.person_id == person)
        history = sa.select(sa.func.count()).where(statuses.c.household_id == dibao_household)
        return await count(medical, known) == 1 and await count(medical, history) == 2

    await eventually(projected, what="the person and the household history projected")

    before_exit = await simulate(medical, kit, person, "2026-01-20")
    assert (before_exit["category"], before_exit["household_id"]) == ("dibao", str(dibao_household))
    assert before_exit["community_code"] == kit.COMMUNITY
    after_exit = await simulate(medical, kit, person, "2026-03-10")
    assert (after_exit["category"], after_exit["household_id"]) == (None, str(dibao_household))
    assert [line["amount"] for line in after_exit["lines"]][2:] == ["0.00", "0.00", "0.00"]
    before_membership = await simulate(medical, kit, person, "2026-01-02")
    assert (before_membership["category"], before_membership["household_id"]) == (None, None)

    # The person moves to a tekun household on 2026-02-15: later discharges follow the new household.
    moved = kit.person_snapshot(person, tekun_household, seq=2, member_since=dt.date(2026, 2, 15))
    await publish(medical, kit, PersonUpdated(person=moved))
    memberships = table_of(Membership)

    async def moved_in() -> bool:
        return await count(medical, sa.select(sa.func.count()).where(memberships.c.person_id == person)) == 2

    await eventually(moved_in, what="the move projected")
    after_move = await simulate(medical, kit, person, "2026-03-10")
    assert (after_move["category"], after_move["household_id"]) == ("tekun", str(tekun_household))
    assert after_move["community_code"] == "420102001002"
    still_before_move = await simulate(medical, kit, person, "2026-01-20")
    assert still_before_move["category"] == "dibao"

    async with medical.runtime.sessions() as session:
        current = (await session.execute(sa.select(persons).where(persons.c.person_id == person))).one()
    assert (current.household_id, current.seq) == (tekun_household, 2)

"""The lifecycle's daily jobs (transition end, exit rewards, monitoring end) and what the API shows of them."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from stdnum.cn import ric

from uplift.common import contracts
from uplift.common.envelope import Envelope
from uplift.common.testkit import RunningService, auth, run_service, service_settings
from uplift.registry.consumers import on_placement_hired
from uplift.registry.main import create_app
from uplift.registry.service.lifecycle import end_due_transitions, end_monitoring, grant_exit_rewards

pytestmark = pytest.mark.integration

ADMIN = auth("district_admin")
DISTRICT = "420102"


@pytest.fixture(scope="module")
async def registry(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    settings = service_settings("registry", migrated_database_url, nats_url, consumers_enabled=False)
    async with run_service(app=create_app(settings)) as running:
        yield running


async def enrol(registry: RunningService) -> dict[str, Any]:
    street = f"{DISTRICT}{random.randrange(100, 999)}"
    for code, kind, parent in (
        (DISTRICT, "district", None),
        (street, "street", DISTRICT),
        (street + "001", "community", street),
    ):
        await registry.client.post(
            "/registry/v1/org-units",
            json={"code": code, "name": code, "kind": kind, "parent_code": parent},
            headers=ADMIN,
        )
    body = f"42{random.randrange(0, 9999):04d}19850312{random.randrange(0, 999):03d}"
    response = await registry.client.post(
        "/registry/v1/households",
        json={
            "community_code": street + "001",
            "address": "汉正街8号",
            "category": "low_income",
            "monthly_income": "500.00",
            "cohort": "2026-1",
            "enrolled_on": "2026-01-10",
            "members": [
                {
                    "name": "赵五",
                    "id_number": body + ric.calc_check_digit(body + "0"),
                    "relation": "head",
                    "work_ability": "full",
                    "employment_status": "unemployed",
                }
            ],
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_transition_ends_in_an_employment_exit_and_anniversaries_grant_rewards(registry: RunningService) -> None:
    created = await enrol(registry)
    runtime = registry.runtime
    person_id = uuid.UUID(created["person_ids"][0])
    hire = contracts.PlacementHired(
        seq=1,
        placement_id=uuid.uuid4(),
        person_id=person_id,
        household_id=uuid.UUID(created["id"]),
        posting_id=uuid.uuid4(),
        monthly_wage=Decimal("2500.00"),
        public_welfare=True,
        remote=False,
        started_on=dt.date(2030, 3, 2),
    )
    envelope = Envelope(
        type=hire.event_type, source="uplift/test", subject=hire.aggregate_id, data=hire.model_dump(mode="json")
    )
    async with runtime.unit_of_work() as uow:
        await on_placement_hired(uow, envelope)
        await uow.commit()
    url = f"/registry/v1/households/{created['id']}"
    assert (await registry.client.get(url, headers=ADMIN)).json()["transition"] == {
        "starts_on": "2030-03-02",
        "ends_on": "2030-09-02",
    }

    async with runtime.unit_of_work() as uow:
        await end_due_transitions(uow, dt.date(2030, 9, 1))
        await uow.commit()
    assert (await registry.client.get(url, headers=ADMIN)).json()["status"] == "transition"

    async with runtime.unit_of_work() as uow:
        result = await end_due_transitions(uow, dt.date(2030, 9, 3))
        await uow.commit()
    assert result["exited"] >= 1
    body = (await registry.client.get(url, headers=ADMIN)).json()
    assert body["status"] == "exited"
    # Exited on ends_on, not on the day the job ran.
    assert body["exit"] == {
        "reason": "employment",
        "exited_on": "2030-09-02",
        "monitoring_until": "2033-09-02",
        "employed_person_ids": [str(person_id)],
    }

    async with runtime.unit_of_work() as uow:
        await grant_exit_rewards(uow, dt.date(2031, 9, 1))
        await uow.commit()
    assert (await registry.client.get(f"{url}/rewards", headers=ADMIN)).json()["items"] == []
    for _ in range(2):  # the second run grants nothing more
        async with runtime.unit_of_work() as uow:
            await grant_exit_rewards(uow, dt.date(2032, 9, 5))
            await uow.commit()
    rewards = (await registry.client.get(f"{url}/rewards", headers=ADMIN)).json()["items"]
    assert [(r["year_index"], r["amount"], r["granted_on"]) for r in rewards] == [
        (1, "1000.00", "2031-09-02"),
        (2, "1000.00", "2032-09-02"),
    ]

    async with runtime.unit_of_work() as uow:
        await end_monitoring(uow, dt.date(2033, 9, 3))
        await uow.commit()
    history = (await registry.client.get(f"{url}/history", headers=ADMIN)).json()
    assert [row["action"] for row in history["items"]] == ["enrol", "start_transition", "exit", "end_monitoring"]
    late_relapse = await registry.client.post(
        f"{url}:relapse", json={"cause": "illness", "relapsed_on": "2033-10-01"}, headers=ADMIN
    )
    assert late_relapse.status_code == 409

"""Helpers and pairing through the API, against the real database: cadres, branches, contracts, manual and
automatic pairing, releases, quotas, scope — and the pairing contract the household half calls."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from uplift.common.contracts import PairingAssigned, parse_payload
from uplift.common.testkit import RunningService, auth, run_service, service_settings
from uplift.registry.main import create_app
from uplift.registry.service.alerts import raise_alert
from uplift.registry.service.pairings import active_helper, release_pairings

pytestmark = pytest.mark.integration

API = "/registry/v1"
ADMIN = auth("district_admin")


class World:
    """Org units of a district of its own (so other tests' rows never get in the way) and helpers to add
    households straight into the household half's tables."""

    def __init__(self, svc: RunningService) -> None:
        self.svc = svc
        self.district = f"4{secrets.randbelow(10**5):05d}"
        self.streets = [f"{self.district}{number:03d}" for number in (1, 2, 3)]
        self.communities = {street: f"{street}001" for street in self.streets}
        tag = secrets.token_hex(3).upper()
        self.department = f"D{tag}"
        self.other_department = f"E{tag}"

    async def setup(self) -> None:
        rows: list[dict[str, Any]] = [{"code": self.district, "name": "区", "kind": "district", "parent": None}]
        for street in self.streets:
            rows.append({"code": street, "name": "街道", "kind": "street", "parent": self.district})
            rows.append({"code": self.communities[street], "name": "社区", "kind": "community", "parent": street})
        rows.append({"code": self.department, "name": "部门", "kind": "department", "parent": None})
        rows.append({"code": self.other_department, "name": "部门2", "kind": "department", "parent": None})
        async with self.svc.runtime.sessions() as session:
            for row in rows:
                linked = [self.streets[1]] if row["code"] == self.department else []
                await session.execute(
                    sa.text(
                        "INSERT INTO registry.org_units (code, name, kind, parent_code, linked_streets)"
                        " VALUES (:code, :name, :kind, :parent, :linked) ON CONFLICT DO NOTHING"
                    ),
                    {**row, "linked": linked},
                )
            await session.commit()

    async def household(self, street_index: int = 0, status: str = "enrolled", **extra: Any) -> uuid.UUID:
        street = self.streets[street_index]
        household_id = uuid.uuid4()
        values = {
            "id": household_id,
            "street": street,
            "community": self.communities[street],
            "status": status,
            "monitoring_until": extra.get("monitoring_until"),
        }
        async with self.svc.runtime.sessions() as session:
            await session.execute(
                sa.text(
                    "INSERT INTO registry.households (id, street_code, community_code, status, category, cohort,"
                    " enrolled_on, monthly_income, size, monitoring_until)"
                    " VALUES (:id, :street, :community, :status, 'dibao', '2026-1', '2026-03-01', 300, 1,"
                    " :monitoring_until)"
                ),
                values,
            )
            await session.commit()
        return household_id


@pytest.fixture
async def svc(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    app = create_app(service_settings("registry", migrated_database_url, nats_url))
    async with run_service(app=app) as running:
        yield running


@pytest.fixture
async def world(svc: RunningService) -> World:
    world = World(svc)
    await world.setup()
    return world


async def _cadre(svc: RunningService, world: World, rank: str = "section", street: int = 0) -> str:
    response = await svc.client.post(
        f"{API}/cadres",
        json={
            "name": "李干部",
            "rank": rank,
            "department_code": world.department,
            "home_street_code": world.streets[street],
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    cadre_id: str = response.json()["id"]
    return cadre_id


async def _outbox(svc: RunningService, event_type: str, subject: uuid.UUID | str) -> list[dict[str, Any]]:
    async with svc.runtime.sessions() as session:
        rows = await session.execute(
            sa.text(
                "SELECT envelope FROM registry.outbox WHERE event_type = :type AND subject = :subject ORDER BY position"
            ),
            {"type": event_type, "subject": str(subject)},
        )
        return [row[0]["data"] for row in rows]


async def test_cadre_registration_checks_org_codes_and_enums(svc: RunningService, world: World) -> None:
    bad_department = await svc.client.post(
        f"{API}/cadres",
        json={"name": "王", "rank": "section", "department_code": "NOPE42", "home_street_code": world.streets[0]},
        headers=ADMIN,
    )
    assert bad_department.status_code == 422
    assert bad_department.headers["content-type"].startswith("application/problem+json")
    assert [error["field"] for error in bad_department.json()["errors"]] == ["department_code"]

    bad_rank = await svc.client.post(
        f"{API}/cadres",
        json={
            "name": "王",
            "rank": "general",
            "department_code": world.department,
            "home_street_code": world.streets[0],
        },
        headers=ADMIN,
    )
    assert bad_rank.status_code == 422
    assert bad_rank.json()["errors"][0]["field"] == "rank"

    street_as_department = await svc.client.post(
        f"{API}/cadres",
        json={
            "name": "王",
            "rank": "staff",
            "department_code": world.department,
            "home_street_code": world.district + "999",
        },
        headers=ADMIN,
    )
    assert street_as_department.status_code == 422
    assert street_as_department.json()["errors"][0]["field"] == "home_street_code"

    forbidden = await svc.client.post(
        f"{API}/cadres",
        json={"name": "王", "rank": "staff", "department_code": world.department, "home_street_code": world.streets[0]},
        headers=auth("street_operator", world.streets[0]),
    )
    assert forbidden.status_code == 403


async def test_department_admin_lists_only_its_own_cadres(svc: RunningService, world: World) -> None:
    cadre_id = await _cadre(svc, world)
    own = await svc.client.get(
        f"{API}/cadres", params={"limit": 500}, headers=auth("department_admin", world.department)
    )
    other = await svc.client.get(
        f"{API}/cadres", params={"limit": 500}, headers=auth("department_admin", world.other_department)
    )
    assert cadre_id in [item["id"] for item in own.json()["items"]]
    assert {item["department_code"] for item in own.json()["items"]} == {world.department}
    assert cadre_id not in [item["id"] for item in other.json()["items"]]
    assert (await svc.client.get(f"{API}/cadres", headers=auth("analyst"))).status_code == 403


async def test_branch_belongs_to_exactly_one_owner_and_contracts_name_their_helper(
    svc: RunningService, world: World
) -> None:
    both = await svc.client.post(
        f"{API}/party-branches",
        json={
            "name": "支部",
            "department_code": world.department,
            "community_code": world.communities[world.streets[0]],
        },
        headers=ADMIN,
    )
    assert both.status_code == 422
    branch = await svc.client.post(
        f"{API}/party-branches",
        json={"name": "社区支部", "community_code": world.communities[world.streets[0]]},
        headers=ADMIN,
    )
    assert branch.status_code == 201, branch.text
    assert branch.json()["department_code"] is None

    contract = await svc.client.post(
        f"{API}/contracts",
        json={
            "helper_kind": "branch",
            "helper_id": branch.json()["id"],
            "signed_on": "2026-03-01",
            "period": {"from": "2026-03-01", "to": "2026-12-31"},
        },
        headers=ADMIN,
    )
    assert contract.status_code == 201, contract.text
    assert contract.json()["period"] == {"from": "2026-03-01", "to": "2026-12-31"}
    unknown = await svc.client.post(
        f"{API}/contracts",
        json={
            "helper_kind": "cadre",
            "helper_id": str(uuid.uuid4()),
            "signed_on": "2026-03-01",
            "period": {"from": "2026-03-01", "to": "2026-12-31"},
        },
        headers=ADMIN,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "helper_id"
    backwards = await svc.client.post(
        f"{API}/contracts",
        json={
            "helper_kind": "branch",
            "helper_id": branch.json()["id"],
            "signed_on": "2026-03-01",
            "period": {"from": "2026-12-31", "to": "2026-03-01"},
        },
        headers=ADMIN,
    )
    assert backwards.status_code == 422
    listed = await svc.client.get(f"{API}/contracts", params={"helper_id": branch.json()["id"]}, headers=ADMIN)
    assert [item["id"] for item in listed.json()["items"]] == [contract.json()["id"]]


async def test_manual_pairing_respects_quota_single_helper_and_status(svc: RunningService, world: World) -> None:
    staff = await _cadre(svc, world, rank="staff")  # quota 1
    first, second = await world.household(), await world.household()
    exited = await world.household(status="exited")

    paired = await svc.client.post(
        f"{API}/pairings", json={"household_id": str(first), "helper_kind": "cadre", "helper_id": staff}, headers=ADMIN
    )
    assert paired.status_code == 201, paired.text
    assert paired.json()["street_code"] == world.streets[0]
    assert paired.json()["department_code"] == world.department

    over_quota = await svc.client.post(
        f"{API}/pairings", json={"household_id": str(second), "helper_kind": "cadre", "helper_id": staff}, headers=ADMIN
    )
    assert over_quota.status_code == 409
    assert over_quota.json()["errors"][0]["field"] == "helper_id"
    assert over_quota.json()["quota"] == 1

    other = await _cadre(svc, world, rank="division")
    twice = await svc.client.post(
        f"{API}/pairings", json={"household_id": str(first), "helper_kind": "cadre", "helper_id": other}, headers=ADMIN
    )
    assert twice.status_code == 409
    assert twice.json()["errors"][0]["field"] == "household_id"

    exited_pair = await svc.client.post(
        f"{API}/pairings", json={"household_id": str(exited), "helper_kind": "cadre", "helper_id": other}, headers=ADMIN
    )
    assert exited_pair.status_code == 409
    assert "exited" in exited_pair.json()["detail"]

    events = await _outbox(svc, "registry.pairing.assigned.v1", first)
    assert len(events) == 1
    assert isinstance(parse_payload("registry.pairing.assigned.v1", events[0]), PairingAssigned)
    assert events[0]["helper"] == {"kind": "cadre", "id": staff, "department_code": world.department}
    assert events[0]["seq"] == 1


async def test_street_operator_pairs_only_in_its_street(svc: RunningService, world: World) -> None:
    cadre = await _cadre(svc, world, rank="division")
    elsewhere = await world.household(street_index=1)
    response = await svc.client.post(
        f"{API}/pairings",
        json={"household_id": str(elsewhere), "helper_kind": "cadre", "helper_id": cadre},
        headers=auth("street_operator", world.streets[0]),
    )
    assert response.status_code == 404
    own = await world.household(street_index=0)
    response = await svc.client.post(
        f"{API}/pairings",
        json={"household_id": str(own), "helper_kind": "cadre", "helper_id": cadre},
        headers=auth("street_operator", world.streets[0]),
    )
    assert response.status_code == 201
    visible = await svc.client.get(
        f"{API}/pairings", params={"helper_id": cadre}, headers=auth("street_operator", world.streets[1])
    )
    assert visible.json()["items"] == []


async def test_deactivating_a_cadre_releases_its_pairings(svc: RunningService, world: World) -> None:
    cadre = await _cadre(svc, world, rank="division")
    households = [await world.household() for _ in range(2)]
    for household in households:
        response = await svc.client.post(
            f"{API}/pairings",
            json={"household_id": str(household), "helper_kind": "cadre", "helper_id": cadre},
            headers=ADMIN,
        )
        assert response.status_code == 201
    read = await svc.client.get(f"{API}/cadres/{cadre}", headers=ADMIN)
    assert read.json()["load"] == 2
    deactivated = await svc.client.patch(
        f"{API}/cadres/{cadre}", json={"active": False}, headers={**ADMIN, "If-Match": read.headers["ETag"]}
    )
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["active"] is False
    assert deactivated.json()["load"] == 0
    for household in households:
        released = await _outbox(svc, "registry.pairing.released.v1", household)
        assert [event["seq"] for event in released] == [2]
    listed = await svc.client.get(f"{API}/pairings", params={"helper_id": cadre, "active": "false"}, headers=ADMIN)
    assert {item["end_reason"] for item in listed.json()["items"]} == {"helper_deactivated"}
    stale = await svc.client.patch(
        f"{API}/cadres/{cadre}", json={"name": "新名"}, headers={**ADMIN, "If-Match": read.headers["ETag"]}
    )
    assert stale.status_code == 412


async def test_ending_a_pairing_frees_the_household_for_another_helper(svc: RunningService, world: World) -> None:
    first, second = await _cadre(svc, world, "staff"), await _cadre(svc, world, "staff")
    household = await world.household()
    pairing = await svc.client.post(
        f"{API}/pairings",
        json={"household_id": str(household), "helper_kind": "cadre", "helper_id": first},
        headers=ADMIN,
    )
    ended = await svc.client.delete(f"{API}/pairings/{pairing.json()['id']}", headers=ADMIN)
    assert ended.status_code == 200
    assert ended.json()["active"] is False
    assert (await svc.client.delete(f"{API}/pairings/{pairing.json()['id']}", headers=ADMIN)).status_code == 409
    again = await svc.client.post(
        f"{API}/pairings",
        json={"household_id": str(household), "helper_kind": "cadre", "helper_id": second},
        headers=ADMIN,
    )
    assert again.status_code == 201


async def test_auto_pairing_prefers_home_street_then_linked_street_and_keeps_existing(
    svc: RunningService, world: World
) -> None:
    # A section cadre (quota 2) living in street 0 of a department linked to street 1.
    cadre = await _cadre(svc, world, rank="section", street=0)
    kept = await world.household(street_index=0)
    manual = await svc.client.post(
        f"{API}/pairings", json={"household_id": str(kept), "helper_kind": "cadre", "helper_id": cadre}, headers=ADMIN
    )
    assert manual.status_code == 201
    home = await world.household(street_index=0)
    result = await svc.client.post(f"{API}/pairings:auto", json={"scope_code": world.streets[0]}, headers=ADMIN)
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["assigned"] == 1 and body["unpaired"] == [] and body["kept"] == 1
    assert body["by_cost"]["0"] == 1
    pairings = await svc.client.get(f"{API}/pairings", params={"household_id": str(home)}, headers=ADMIN)
    assert [item["helper_id"] for item in pairings.json()["items"]] == [cadre]
    assert pairings.json()["items"][0]["assigned_by"] == "auto"
    again = await svc.client.post(f"{API}/pairings:auto", json={"scope_code": world.streets[0]}, headers=ADMIN)
    assert again.json()["assigned"] == 0 and again.json()["kept"] == 2
    unknown = await svc.client.post(f"{API}/pairings:auto", json={"scope_code": "999999999"}, headers=ADMIN)
    assert unknown.status_code == 422
    foreign = await svc.client.post(
        f"{API}/pairings:auto", json={"scope_code": world.streets[1]}, headers=auth("street_operator", world.streets[0])
    )
    assert foreign.status_code == 404


async def test_pairing_contract_for_the_household_half(svc: RunningService, world: World) -> None:
    cadre = await _cadre(svc, world, rank="division")
    household = await world.household()
    await svc.client.post(
        f"{API}/pairings",
        json={"household_id": str(household), "helper_kind": "cadre", "helper_id": cadre},
        headers=ADMIN,
    )
    async with svc.runtime.unit_of_work() as uow:
        helper = await active_helper(uow.session, household)
        assert helper is not None and str(helper.id) == cadre and helper.department_code == world.department
        await release_pairings(uow, household, on=dt.date(2026, 6, 1), reason="exited")
        await release_pairings(uow, household, on=dt.date(2026, 6, 1), reason="exited")  # nothing left: no event
        await uow.commit()
    async with svc.runtime.sessions() as session:
        assert await active_helper(session, household) is None
    released = await _outbox(svc, "registry.pairing.released.v1", household)
    assert len(released) == 1 and released[0]["on"] == "2026-06-01" and released[0]["seq"] == 2


async def test_raise_alert_keeps_one_open_alert_and_adds_relapse_risk_under_monitoring(
    svc: RunningService, world: World
) -> None:
    monitored = await world.household(status="exited", monitoring_until=dt.date(2028, 1, 1))
    on = dt.date(2026, 6, 1)
    async with svc.runtime.unit_of_work() as uow:
        await raise_alert(uow, monitored, kind="job_lost", severity="high", facts={"n": 1}, on=on)
        await uow.commit()
    async with svc.runtime.unit_of_work() as uow:
        await raise_alert(uow, monitored, kind="job_lost", severity="high", facts={"n": 2}, on=on)
        await uow.commit()
    async with svc.runtime.sessions() as session:
        rows = (
            await session.execute(
                sa.text("SELECT kind, facts, triggers FROM registry.alerts WHERE household_id = :id ORDER BY kind"),
                {"id": monitored},
            )
        ).all()
    assert [(row.kind, row.triggers) for row in rows] == [("job_lost", 2), ("relapse_risk", 2)]
    assert rows[0].facts == {"n": 2}
    assert rows[1].facts["signals"] == ["job_lost"]
    async with svc.runtime.sessions() as session:
        count = await session.scalar(
            sa.text(
                "SELECT count(*) FROM registry.outbox WHERE event_type = 'registry.alert.raised.v1'"
                " AND envelope->'data'->>'household_id' = :id"
            ),
            {"id": str(monitored)},
        )
    assert count == 2

    async with svc.runtime.unit_of_work() as uow:
        await raise_alert(uow, monitored, kind="medical_hardship", severity="high", facts={}, on=on)
        await uow.commit()
    async with svc.runtime.sessions() as session:
        risk = await session.scalar(
            sa.text("SELECT facts FROM registry.alerts WHERE household_id = :id AND kind = 'relapse_risk'"),
            {"id": monitored},
        )
    assert risk["signals"] == ["job_lost", "medical_hardship"]

    enrolled = await world.household()
    async with svc.runtime.unit_of_work() as uow:
        await raise_alert(uow, enrolled, kind="income_drop", severity="medium", facts={}, on=on)
        await uow.commit()
    async with svc.runtime.sessions() as session:
        kinds = (
            await session.execute(
                sa.text("SELECT kind FROM registry.alerts WHERE household_id = :id"), {"id": enrolled}
            )
        ).scalars()
        assert list(kinds) == ["income_drop"]


async def test_quota_follows_the_parameters_in_force_on_the_pairing_date(svc: RunningService, world: World) -> None:
    # A version far in the future, so no other test ever pairs under it; removed again at the end.
    effective = dt.date(2099, 1, 1) + dt.timedelta(days=secrets.randbelow(300))
    async with svc.runtime.sessions() as session:
        await session.execute(
            sa.text(
                "INSERT INTO registry.parameter_versions (effective_from, values, actor)"
                " VALUES (:day, CAST(:values AS jsonb), 'test')"
            ),
            {"day": effective, "values": '{"quotas": {"staff": 2}}'},
        )
        await session.commit()
    try:
        staff = await _cadre(svc, world, rank="staff")
        households = [await world.household() for _ in range(3)]
        statuses = []
        for household in households:
            response = await svc.client.post(
                f"{API}/pairings",
                json={
                    "household_id": str(household),
                    "helper_kind": "cadre",
                    "helper_id": staff,
                    "started_on": effective.isoformat(),
                },
                headers=ADMIN,
            )
            statuses.append(response.status_code)
        assert statuses == [201, 201, 409]  # 2 under the stored version (the default is 1)
    finally:
        async with svc.runtime.sessions() as session:
            await session.execute(
                sa.text("DELETE FROM registry.parameter_versions WHERE effective_from = :day"), {"day": effective}
            )
            await session.commit()

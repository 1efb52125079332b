"""The registry's consumers end to end: contract-model envelopes published on NATS (MATCHING, MEDICAL) change
households through the running service's consumers."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import nats
import pytest
import sqlalchemy as sa
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from stdnum.cn import ric

from uplift.common import contracts
from uplift.common.envelope import Envelope
from uplift.common.nats_link import ensure_stream
from uplift.common.testkit import RunningService, auth, eventually, run_service, service_settings
from uplift.registry.main import create_app

pytestmark = pytest.mark.integration

ADMIN = auth("district_admin")
DISTRICT = "420102"


def id_number(born: dt.date) -> str:
    body = f"42{random.randrange(0, 9999):04d}{born:%Y%m%d}{random.randrange(0, 999):03d}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(scope="module")
async def registry(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    app = create_app(service_settings("registry", migrated_database_url, nats_url))
    async with run_service(app=app) as running:
        yield running


@pytest.fixture(scope="module")
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(migrated_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def nats_client(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    for stream in ("MATCHING", "MEDICAL"):
        await ensure_stream(client.jetstream(), stream)
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def community(registry: RunningService) -> str:
    street = f"{DISTRICT}{random.randrange(100, 999)}"
    for code, kind, parent in (
        (DISTRICT, "district", None),
        (street, "street", DISTRICT),
        (street + "001", "community", street),
    ):
        response = await registry.client.post(
            "/registry/v1/org-units",
            json={"code": code, "name": code, "kind": kind, "parent_code": parent},
            headers=ADMIN,
        )
        assert response.status_code in (201, 409)
    return street + "001"


async def enrol_two_members(registry: RunningService, community: str, *, income: str = "300.00") -> dict[str, Any]:
    def person(relation: str, born: dt.date) -> dict[str, Any]:
        return {
            "name": "李四",
            "id_number": id_number(born),
            "relation": relation,
            "work_ability": "full",
            "employment_status": "unemployed",
            "skills": ["cleaning"],
        }

    body = {
        "community_code": community,
        "address": "江汉路1号",
        "category": "dibao",
        "monthly_income": income,
        "dibao_monthly": "600.00",
        "cohort": "2026-1",
        "enrolled_on": "2026-01-05",
        "members": [person("head", dt.date(1979, 4, 2)), person("spouse", dt.date(1981, 6, 9))],
    }
    response = await registry.client.post("/registry/v1/households", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def publish(client: Client, payload: contracts.EventPayload) -> Envelope:
    envelope = Envelope(
        type=payload.event_type,
        source="uplift/test",
        subject=payload.aggregate_id,
        data=payload.model_dump(mode="json"),
    )
    await client.jetstream().publish(
        envelope.nats_subject, envelope.to_json_bytes(), headers={"Nats-Msg-Id": str(envelope.id)}
    )
    return envelope


async def household(registry: RunningService, household_id: str) -> dict[str, Any]:
    response = await registry.client.get(f"/registry/v1/households/{household_id}", headers=ADMIN)
    body: dict[str, Any] = response.json()
    return body


def hired(
    created: dict[str, Any], *, wage: str, placement_id: uuid.UUID, started_on: dt.date
) -> contracts.PlacementHired:
    return contracts.PlacementHired(
        seq=1,
        placement_id=placement_id,
        person_id=uuid.UUID(created["person_ids"][0]),
        household_id=uuid.UUID(created["id"]),
        posting_id=uuid.uuid4(),
        monthly_wage=Decimal(wage),
        public_welfare=False,
        remote=False,
        started_on=started_on,
    )


async def open_alerts(engine: AsyncEngine, household_id: str) -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT kind, facts FROM registry.alerts WHERE household_id = :h AND status <> 'resolved'"),
            {"h": household_id},
        )
        return {row.kind: row.facts for row in rows}


async def test_a_hire_lifting_income_above_the_line_starts_the_transition_and_its_end_cancels_it(
    registry: RunningService, community: str, nats_client: Client, engine: AsyncEngine
) -> None:
    created = await enrol_two_members(registry, community)
    placement_id = uuid.uuid4()
    started_on = dt.date(2026, 8, 31)
    event = hired(created, wage="2000.00", placement_id=placement_id, started_on=started_on)
    await publish(nats_client, event)

    async def in_transition() -> bool:
        return (await household(registry, created["id"]))["status"] == "transition"

    await eventually(in_transition, what="the household to enter transition")
    body = await household(registry, created["id"])
    assert body["monthly_income"] == "2300.00"
    assert body["placement_wages"] == "2000.00"
    assert body["recorded_income"] == "300.00"
    assert body["per_capita_income"] == "1150.00"
    # 渐退期 of 6 months from the hire; 31 August + 6 months is the last day of February.
    assert body["transition"] == {"starts_on": "2026-08-31", "ends_on": "2027-02-28"}
    head = next(m for m in body["members"] if m["person_id"] == created["person_ids"][0])
    assert head["employment_status"] == "employed"
    assert body["zero_employment"] is False

    # The same hire again (another envelope, as after a producer replay) adds nothing.
    await publish(nats_client, event)
    ended = contracts.PlacementEnded(
        seq=2,
        placement_id=placement_id,
        person_id=event.person_id,
        household_id=event.household_id,
        monthly_wage=Decimal("2000.00"),
        reason="dismissed",
        ended_on=dt.date(2026, 10, 15),
    )
    await publish(nats_client, ended)

    async def back_to_enrolled() -> bool:
        return (await household(registry, created["id"]))["status"] == "enrolled"

    await eventually(back_to_enrolled, what="the transition to be cancelled")
    body = await household(registry, created["id"])
    assert body["monthly_income"] == "300.00"
    assert body["placement_wages"] == "0.00"
    head = next(m for m in body["members"] if m["person_id"] == created["person_ids"][0])
    assert head["employment_status"] == "unemployed"
    alerts = await open_alerts(engine, created["id"])
    assert alerts["job_lost"]["placement_id"] == str(placement_id)
    assert alerts["income_drop"]["crossed_line"] is True

    await publish(nats_client, ended)  # a duplicate end takes nothing more away
    history = await registry.client.get(f"/registry/v1/households/{created['id']}/history", headers=ADMIN)
    assert [row["action"] for row in history.json()["items"]] == ["enrol", "start_transition", "cancel_transition"]
    as_of = await registry.client.get(
        f"/registry/v1/households/{created['id']}/history", params={"as_of": "2026-09-30"}, headers=ADMIN
    )
    assert as_of.json()["status_as_of"] == "transition"
    assert (await household(registry, created["id"]))["placement_wages"] == "0.00"

    async with engine.connect() as conn:
        types = list(
            (
                await conn.execute(
                    sa.text("SELECT event_type FROM registry.outbox WHERE subject = :s ORDER BY position"),
                    {"s": created["id"]},
                )
            ).scalars()
        )
    assert "registry.household.transition_started.v1" in types
    assert types[-1] == "registry.household.transition_cancelled.v1"


async def test_an_end_that_overtakes_its_hire_leaves_income_unchanged(
    registry: RunningService, community: str, nats_client: Client
) -> None:
    created = await enrol_two_members(registry, community)
    placement_id = uuid.uuid4()
    event = hired(created, wage="3000.00", placement_id=placement_id, started_on=dt.date(2026, 5, 1))
    await publish(
        nats_client,
        contracts.PlacementEnded(
            seq=2,
            placement_id=placement_id,
            person_id=event.person_id,
            household_id=event.household_id,
            monthly_wage=Decimal("3000.00"),
            reason="quit",
            ended_on=dt.date(2026, 5, 20),
        ),
    )
    await publish(nats_client, event)
    marker = uuid.uuid4()
    await publish(
        nats_client,
        contracts.TrainingCompleted(
            seq=1,
            person_id=uuid.UUID(created["person_ids"][1]),
            household_id=uuid.UUID(created["id"]),
            training_id=marker,
            skills=["cooking", "cleaning"],
            completed_on=dt.date(2026, 6, 1),
        ),
    )

    async def trained() -> bool:
        members = (await household(registry, created["id"]))["members"]
        return any(m["skills"] == ["cleaning", "cooking"] for m in members)

    await eventually(trained, what="the training's skills")  # handled after the placement events
    body = await household(registry, created["id"])
    assert body["status"] == "enrolled"
    assert body["monthly_income"] == "300.00"


async def test_claims_raise_medical_hardship_and_reversal_reevaluates(
    registry: RunningService, community: str, nats_client: Client, engine: AsyncEngine
) -> None:
    created = await enrol_two_members(registry, community, income="1000.00")
    claim = contracts.ClaimSettled(
        seq=1,
        claim_id=uuid.uuid4(),
        person_id=uuid.UUID(created["person_ids"][1]),
        household_id=uuid.UUID(created["id"]),
        category="dibao",
        policy_year=2026,
        discharged_on=dt.date(2026, 4, 10),
        total=Decimal("30000.00"),
        in_policy=Decimal("26000.00"),
        lines=contracts.ClaimLines(
            basic=Decimal("17920.00"),
            critical_illness=Decimal("0.00"),
            assistance=Decimal("5000.00"),
            charity=Decimal("0.00"),
            supplementary=Decimal("0.00"),
        ),
        out_of_pocket=Decimal("7080.00"),
        oop_ratio=Decimal("0.2360"),
        cap_met=True,
    )
    await publish(nats_client, claim)

    async def hardship() -> bool:
        return "medical_hardship" in await open_alerts(engine, created["id"])

    await eventually(hardship, what="the medical hardship alert")
    facts = (await open_alerts(engine, created["id"]))["medical_hardship"]
    # 7,080.00 out of pocket is beyond half of a year's income (1,000.00 × 12 × 0.5 = 6,000.00).
    assert facts["out_of_pocket_12m"] == "7080.00"
    assert facts["limit"] == "6000.00"

    reversal = contracts.ClaimReversed(
        **claim.model_dump(exclude={"seq"}), seq=2, reason="duplicate", reversed_on=dt.date(2026, 4, 20)
    )
    await publish(nats_client, reversal)

    async def recorded_reversed() -> bool:
        async with engine.connect() as conn:
            return bool(
                await conn.scalar(
                    sa.text("SELECT reversed FROM registry.medical_claims WHERE claim_id = :c"), {"c": claim.claim_id}
                )
            )

    await eventually(recorded_reversed, what="the reversal")
    small = contracts.ClaimSettled(**{**claim.model_dump(), "claim_id": uuid.uuid4(), "cap_met": False})
    await publish(nats_client, small)

    async def cap_missed() -> bool:
        facts = (await open_alerts(engine, created["id"])).get("medical_hardship", {})
        return facts.get("cap_missed_claim_id") == str(small.claim_id)

    await eventually(cap_missed, what="the cap-missed facts")
    facts = (await open_alerts(engine, created["id"]))["medical_hardship"]
    assert facts["claims"] == [str(small.claim_id)]  # the reversed claim no longer counts

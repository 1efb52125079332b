"""Many claims at once against a small supplementary fund: never overspent, the low alarm raised exactly once."""

from __future__ import annotations

import asyncio
import copy
import uuid
from decimal import Decimal
from typing import Any

import pytest

from uplift.common.testkit import RunningService

pytestmark = pytest.mark.integration

CLAIMS = 44
# Case 2a (dibao, level 3, 10,000.00 / 9,000.00) needs 324.00 from the supplementary fund: the budget pays ten of
# them and 100.00 of an eleventh. The low line is 5% of the budget, 167.00, crossed by the tenth take.
BUDGET = Decimal("3340.00")


async def test_concurrent_claims_never_overspend_the_fund_and_raise_the_low_alarm_once(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    year = kit.fresh_year()
    document = copy.deepcopy(kit.DEFAULT_DOCUMENT)
    document["supplementary"]["budget"] = str(BUDGET)
    put = await medical.client.put(f"/medical/v1/policy-years/{year}", json=document, headers=kit.ADMIN)
    assert put.status_code == 201
    household = await registry.household("dibao")
    persons = [await registry.person(household) for _ in range(CLAIMS)]
    # Two claims of the same person race too: they must settle one after the other (the second is a repeat stay).
    persons.append(persons[0])

    def body(person: uuid.UUID) -> dict[str, Any]:
        return {
            "person_id": str(person),
            "hospital_code": "H-race",
            "settlement_no": f"S-{uuid.uuid4().hex}",
            "hospital_level": 3,
            "admitted_on": f"{year}-04-01",
            "discharged_on": f"{year}-04-09",
            "total": "10000.00",
            "in_policy": "9000.00",
        }

    responses = await asyncio.gather(
        *(medical.client.post("/medical/v1/claims", json=body(person), headers=kit.OPERATOR) for person in persons)
    )
    assert [response.status_code for response in responses] == [201] * len(persons), [
        r.text for r in responses if r.status_code != 201
    ]
    claims = [response.json() for response in responses]
    supplementary = [
        Decimal(next(line["amount"] for line in c["lines"] if line["payer"] == "supplementary")) for c in claims
    ]

    funds = (await medical.client.get(f"/medical/v1/funds/{year}", headers=kit.OPERATOR)).json()
    assert Decimal(funds["supplementary"]["used"]) == sum(supplementary) == BUDGET
    assert funds["supplementary"]["remaining"] == "0.00"
    assert sorted(supplementary, reverse=True)[:11] == [Decimal("324.00")] * 10 + [Decimal("100.00")]
    short = [c for c in claims if c["fund_short"]]
    # Every first stay needs 324.00: ten were paid in full, the other 34 (one of them in part) ran short.
    assert all(c["cap_met"] is False for c in short) and len(short) == CLAIMS - 10

    low = await kit.outbox_events(medical, "medical.fund.low.v1", f"{year}/supplementary")
    assert len(low) == 1
    assert low[0]["data"]["budget"] == "3340.00"
    assert Decimal(low[0]["data"]["remaining"]) < Decimal("167.00")

    repeat = (
        await medical.client.get(
            f"/medical/v1/persons/{persons[0]}/accumulators", params={"year": year}, headers=kit.OPERATOR
        )
    ).json()
    assert repeat["admissions"] == 2
    deductibles = sorted(c["deductible"] for c in claims if c["person_id"] == str(persons[0]))
    assert deductibles == ["400.00", "800.00"]


async def test_one_settlement_sent_many_times_at_once_settles_once(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    person, other = await registry.insured("tekun"), await registry.insured("tekun")
    settlement_no = f"S-{uuid.uuid4().hex}"

    def body(person_id: uuid.UUID) -> dict[str, Any]:
        return {
            "person_id": str(person_id),
            "hospital_code": "H-race",
            "settlement_no": settlement_no,
            "hospital_level": 1,
            "admitted_on": "2026-07-01",
            "discharged_on": "2026-07-02",
            "total": "2000.00",
            "in_policy": "1500.00",
        }

    bodies = [body(person)] * 6 + [body(other)] * 2
    responses = await asyncio.gather(
        *(medical.client.post("/medical/v1/claims", json=b, headers=kit.OPERATOR) for b in bodies)
    )
    by_person: dict[str, list[int]] = {}
    for sent, response in zip(bodies, responses, strict=True):
        by_person.setdefault(sent["person_id"], []).append(response.status_code)
    winner = next(iter({r.json()["person_id"] for r in responses if r.status_code == 201}))
    loser = str(other) if winner == str(person) else str(person)
    assert sorted(by_person[winner]) == [200] * (len(by_person[winner]) - 1) + [201]
    assert by_person[loser] == [409] * len(by_person[loser])
    ids = {r.json()["id"] for r in responses if r.status_code in (200, 201)}
    assert len(ids) == 1
    listed = await medical.client.get(
        "/medical/v1/claims", params={"settlement_no": settlement_no}, headers=kit.OPERATOR
    )
    assert [claim["id"] for claim in listed.json()["items"]] == list(ids)
    loser_totals = await medical.client.get(
        f"/medical/v1/persons/{loser}/accumulators", params={"year": 2026}, headers=kit.OPERATOR
    )
    assert loser_totals.json()["admissions"] == 0


async def test_two_hundred_claims_at_once_never_overspend_a_nearly_empty_fund(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    year = kit.fresh_year()
    budget = Decimal("500.00")  # one first stay of case 2a needs 324.00: one and a half claims' worth
    document = copy.deepcopy(kit.DEFAULT_DOCUMENT)
    document["supplementary"]["budget"] = str(budget)
    put = await medical.client.put(f"/medical/v1/policy-years/{year}", json=document, headers=kit.ADMIN)
    assert put.status_code == 201
    household = await registry.household("dibao")
    persons = [await registry.person(household) for _ in range(40)]

    def body(person: uuid.UUID, n: int) -> dict[str, Any]:
        return {
            "person_id": str(person),
            "hospital_code": "H-rush",
            "settlement_no": f"S-{n}-{uuid.uuid4().hex}",
            "hospital_level": 3,
            "admitted_on": f"{year}-05-01",
            "discharged_on": f"{year}-05-09",
            "total": "10000.00",
            "in_policy": "9000.00",
        }

    # 200 claims of 40 persons (five stays each) at once: serialised per person, the fund shared by all.
    responses = await asyncio.gather(
        *(
            medical.client.post("/medical/v1/claims", json=body(persons[n % 40], n), headers=kit.OPERATOR)
            for n in range(200)
        )
    )
    assert [r.status_code for r in responses] == [201] * 200, [r.text for r in responses if r.status_code != 201]
    paid = sum(
        (
            Decimal(next(line["amount"] for line in r.json()["lines"] if line["payer"] == "supplementary"))
            for r in responses
        ),
        Decimal("0.00"),
    )
    funds = (await medical.client.get(f"/medical/v1/funds/{year}", headers=kit.OPERATOR)).json()["supplementary"]
    # Demand (40 first stays at 324.00 each, and more) is far above the budget: spent to the cent, never over.
    assert Decimal(funds["used"]) == paid == budget
    assert funds["remaining"] == "0.00"
    # Each first stay needs 324.00: one was paid in full and one in part, so at least 38 of them ran short.
    assert sum(1 for r in responses if r.json()["cap_met"] is False) >= 38
    for response in responses:  # every claim still adds up to the cent
        claim = response.json()
        lines = sum((Decimal(line["amount"]) for line in claim["lines"]), Decimal("0.00"))
        assert lines + Decimal(claim["out_of_pocket"]) == Decimal(claim["total"])

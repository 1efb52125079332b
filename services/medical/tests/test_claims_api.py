"""Claims through the API: the worked examples of DOMAIN.md §9 to the cent, idempotency, reversal, reads."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from uplift.common.testkit import RunningService

pytestmark = pytest.mark.integration


def claim_body(person_id: uuid.UUID, level: int, total: str, in_policy: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "person_id": str(person_id),
        "hospital_code": "H420102-01",
        "settlement_no": f"S-{uuid.uuid4().hex[:12]}",
        "hospital_level": level,
        "admitted_on": "2026-03-01",
        "discharged_on": "2026-03-10",
        "total": total,
        "in_policy": in_policy,
    }
    body.update(changes)
    return body


def amounts(claim: dict[str, Any]) -> dict[str, str]:
    return {line["payer"]: line["amount"] for line in claim["lines"]} | {"out_of_pocket": claim["out_of_pocket"]}


async def submit(medical: RunningService, kit: Any, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await medical.client.post("/medical/v1/claims", json=body, headers=kit.OPERATOR)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_case_1_dibao_level_2_settles_as_api_md_shows(medical: RunningService, registry: Any, kit: Any) -> None:
    person = await registry.insured("dibao")
    claim = await submit(medical, kit, claim_body(person, 2, "30000.00", "26000.00"))
    assert amounts(claim) == {
        "basic": "17920.00",
        "critical_illness": "1352.00",
        "assistance": "4709.60",
        "charity": "2000.00",
        "supplementary": "0.00",
        "out_of_pocket": "4018.40",
    }
    assert claim["category"] == "dibao"
    assert claim["policy_year"] == 2026
    assert (claim["total"], claim["in_policy"], claim["out_of_policy"]) == ("30000.00", "26000.00", "4000.00")
    assert claim["deductible"] == "400.00"
    assert claim["oop_ratio"] == "0.1339"
    assert claim["in_policy_self_pay"] == "2018.40"
    assert claim["cap_met"] is True
    assert claim["status"] == "settled"
    basic = next(line for line in claim["lines"] if line["payer"] == "basic")
    assert "deductible=400.00" in basic["basis"] and "ratio=0.70" in basic["basis"]

    events = await kit.outbox_events(medical, "medical.claim.settled.v1", claim["id"])
    assert len(events) == 1
    data = events[0]["data"]
    assert data["lines"] == {
        "basic": "17920.00",
        "critical_illness": "1352.00",
        "assistance": "4709.60",
        "charity": "2000.00",
        "supplementary": "0.00",
    }
    assert (data["category"], data["street_code"], data["community_code"]) == ("dibao", kit.STREET, kit.COMMUNITY)
    assert data["household_id"] == claim["household_id"] and data["person_id"] == str(person)
    assert data["out_of_pocket"] == "4018.40" and data["cap_met"] is True and data["seq"] == 1


async def test_cases_2a_and_2b_second_admission_halves_the_deductible(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    person = await registry.insured("dibao")
    first = await submit(medical, kit, claim_body(person, 3, "10000.00", "9000.00"))
    assert amounts(first) == {
        "basic": "4920.00",
        "critical_illness": "0.00",
        "assistance": "2856.00",
        "charity": "500.00",
        "supplementary": "324.00",
        "out_of_pocket": "1400.00",
    }
    second = await submit(
        medical,
        kit,
        claim_body(person, 3, "20000.00", "18500.00", admitted_on="2026-05-02", discharged_on="2026-05-12"),
    )
    assert second["deductible"] == "400.00"
    assert amounts(second) == {
        "basic": "10860.00",
        "critical_illness": "3718.00",
        "assistance": "2745.40",
        "charity": "750.00",
        "supplementary": "0.00",
        "out_of_pocket": "1926.60",
    }
    accumulators = await medical.client.get(
        f"/medical/v1/persons/{person}/accumulators", params={"year": 2026}, headers=kit.OPERATOR
    )
    assert accumulators.status_code == 200
    assert accumulators.json() == {
        "person_id": str(person),
        "policy_year": 2026,
        "admissions": 2,
        "basic_paid": "15780.00",
        "ci_base": "11720.00",
        "ci_paid": "3718.00",
        "assistance_paid": "5601.40",
        "charity_paid": "1250.00",
    }


async def test_case_3_person_whose_household_exited_before_discharge_has_no_category(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    person = await registry.exited_household_member(exited_on=dt.date(2026, 2, 1))
    claim = await submit(medical, kit, claim_body(person, 2, "30000.00", "26000.00"))
    assert claim["category"] is None
    assert claim["cap_met"] is None
    assert claim["household_id"] is not None  # the person still belonged to it, it was just not enrolled
    assert amounts(claim) == {
        "basic": "17920.00",
        "critical_illness": "0.00",
        "assistance": "0.00",
        "charity": "0.00",
        "supplementary": "0.00",
        "out_of_pocket": "12080.00",
    }


async def test_same_settlement_twice_returns_the_first_claim_and_another_body_is_409(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    person = await registry.insured("dibao")
    body = claim_body(person, 2, "30000.00", "26000.00")
    first = await submit(medical, kit, body)
    again = await submit(medical, kit, body, status=200)
    assert again == first

    by_id_number = {key: value for key, value in body.items() if key != "person_id"}
    by_id_number["id_number"] = kit.id_number_for(person.int)
    assert (await submit(medical, kit, by_id_number, status=200))["id"] == first["id"]

    changed = {**body, "total": "31000.00"}
    response = await medical.client.post("/medical/v1/claims", json=changed, headers=kit.OPERATOR)
    assert response.status_code == 409
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [error["field"] for error in problem["errors"]] == ["total"]
    listed = await medical.client.get(
        "/medical/v1/claims", params={"settlement_no": body["settlement_no"]}, headers=kit.OPERATOR
    )
    assert [claim["id"] for claim in listed.json()["items"]] == [first["id"]]


async def test_claim_by_id_number_finds_the_person_by_its_hash(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    person = await registry.insured("tekun")
    body = claim_body(person, 1, "5000.00", "5000.00")
    del body["person_id"]
    body["id_number"] = kit.id_number_for(person.int)
    claim = await submit(medical, kit, body)
    assert claim["person_id"] == str(person)
    assert claim["category"] == "tekun"


async def test_reversal_restores_accumulators_and_funds_and_the_settlement_may_be_sent_again(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    person = await registry.insured("dibao")
    funds_before = (await medical.client.get("/medical/v1/funds/2026", headers=kit.OPERATOR)).json()
    first_body = claim_body(person, 3, "10000.00", "9000.00")
    first = await submit(medical, kit, first_body)
    second = await submit(
        medical,
        kit,
        claim_body(person, 3, "20000.00", "18500.00", admitted_on="2026-05-02", discharged_on="2026-05-12"),
    )

    reason = "hospital sent the wrong settlement"
    reversed_ = await medical.client.post(
        f"/medical/v1/claims/{first['id']}:reverse", json={"reason": reason}, headers=kit.OPERATOR
    )
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["status"] == "reversed"
    assert reversed_.json()["reversal"]["reason"] == reason

    accumulators = (
        await medical.client.get(
            f"/medical/v1/persons/{person}/accumulators", params={"year": 2026}, headers=kit.OPERATOR
        )
    ).json()
    # Only the second claim stands: its amounts, as settled (later claims are not re-adjudicated).
    assert accumulators == {
        "person_id": str(person),
        "policy_year": 2026,
        "admissions": 1,
        "basic_paid": "10860.00",
        "ci_base": "7640.00",
        "ci_paid": "3718.00",
        "assistance_paid": "2745.40",
        "charity_paid": "750.00",
    }
    funds_after = (await medical.client.get("/medical/v1/funds/2026", headers=kit.OPERATOR)).json()
    # The first claim's 324.00 went back; the second took nothing from the supplementary fund.
    assert funds_after["supplementary"]["used"] == funds_before["supplementary"]["used"]
    # Charity is unlimited in 2026: what it paid is what the standing claims paid (the second's 750.00 only).
    charity_paid = Decimal(funds_after["charity"]["used"]) - Decimal(funds_before["charity"]["used"])
    assert charity_paid == Decimal("750.00")

    again = await medical.client.post(
        f"/medical/v1/claims/{first['id']}:reverse", json={"reason": reason}, headers=kit.OPERATOR
    )
    assert again.status_code == 409

    events = await kit.outbox_events(medical, "medical.claim.reversed.v1", first["id"])
    assert len(events) == 1
    assert events[0]["data"]["reason"] == "reversed"
    assert reason not in str(events[0])
    assert events[0]["data"]["lines"]["supplementary"] == "324.00"

    resubmitted = await submit(medical, kit, first_body)
    assert resubmitted["id"] not in (first["id"], second["id"])
    assert resubmitted["deductible"] == "400.00"  # now the person's second standing admission
    history = await medical.client.get(
        "/medical/v1/claims", params={"person_id": str(person), "policy_year": 2026}, headers=kit.OPERATOR
    )
    assert [(c["id"], c["status"]) for c in history.json()["items"]] == [
        (first["id"], "reversed"),
        (second["id"], "settled"),
        (resubmitted["id"], "settled"),
    ]


async def test_simulate_computes_the_breakdown_and_saves_nothing(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    person = await registry.insured("dibao")
    body = claim_body(person, 2, "30000.00", "26000.00")
    response = await medical.client.post("/medical/v1/claims:simulate", json=body, headers=kit.OPERATOR)
    assert response.status_code == 200, response.text
    assert amounts(response.json())["out_of_pocket"] == "4018.40"
    assert "id" not in response.json()
    accumulators = await medical.client.get(
        f"/medical/v1/persons/{person}/accumulators", params={"year": 2026}, headers=kit.OPERATOR
    )
    assert accumulators.json()["admissions"] == 0
    listed = await medical.client.get("/medical/v1/claims", params={"person_id": str(person)}, headers=kit.OPERATOR)
    assert listed.json()["items"] == []


async def test_get_claim_list_pages_and_unknown_ids(medical: RunningService, registry: Any, kit: Any) -> None:
    person = await registry.insured("low_income")
    ids = []
    for month in (3, 4, 5):
        body = claim_body(
            person, 1, "1000.00", "800.00", admitted_on=f"2026-0{month}-01", discharged_on=f"2026-0{month}-03"
        )
        ids.append((await submit(medical, kit, body))["id"])
    one = await medical.client.get(f"/medical/v1/claims/{ids[1]}", headers=kit.OPERATOR)
    assert one.status_code == 200 and one.json()["id"] == ids[1] and one.json()["category"] == "low_income"

    seen = []
    cursor = None
    while True:
        params: dict[str, Any] = {"person_id": str(person), "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await medical.client.get("/medical/v1/claims", params=params, headers=kit.OPERATOR)).json()
        seen += [claim["id"] for claim in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    missing = await medical.client.get(f"/medical/v1/claims/{uuid.uuid4()}", headers=kit.OPERATOR)
    assert missing.status_code == 404
    unknown_person = await medical.client.get(f"/medical/v1/persons/{uuid.uuid4()}/accumulators", headers=kit.OPERATOR)
    assert unknown_person.status_code == 404
    assert (await medical.client.get("/medical/v1/funds/2199", headers=kit.OPERATOR)).status_code == 404


async def test_a_person_not_medically_insured_gets_nothing_from_the_insurances(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    person = await registry.insured("dibao", medical_insured=False)
    claim = await submit(medical, kit, claim_body(person, 2, "30000.00", "26000.00"))
    # Lines 1 and 2 pay nothing; assistance works on the whole in-policy cost, the supplementary caps the rest.
    assert amounts(claim) == {
        "basic": "0.00",
        "critical_illness": "0.00",
        "assistance": "18200.00",
        "charity": "2000.00",
        "supplementary": "5200.00",
        "out_of_pocket": "4600.00",
    }
    assert claim["deductible"] == "0.00" and claim["cap_met"] is True


async def test_the_claim_read_answers_byte_for_byte_what_the_read_model_writes(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    """`GET /claims/{id}` writes its JSON without the pydantic model (hot_reads.claim_json): it must be exactly
    `ClaimRead.model_dump_json()` of the same row, for claims of every shape (categories or none, cap met or not
    null, a fund line, settled and reversed with a free-text reason)."""
    from uplift.medical.api.claims import claim_read
    from uplift.medical.hot_reads import claim_by_id

    dibao = await registry.insured("dibao")
    exited = await registry.exited_household_member(exited_on=dt.date(2026, 2, 1))
    tekun = await registry.insured("tekun")
    low_income = await registry.insured("low_income")
    claims = [
        await submit(medical, kit, claim_body(low_income, 1, "1000.00", "800.00")),
        await submit(medical, kit, claim_body(dibao, 2, "30000.00", "26000.00")),
        await submit(medical, kit, claim_body(dibao, 3, "10000.00", "9000.00", settlement_no=f'S-"{uuid.uuid4()}"')),
        await submit(medical, kit, claim_body(exited, 2, "30000.00", "26000.00")),
        await submit(medical, kit, claim_body(tekun, 1, "5000.01", "4999.99")),
    ]
    reason = '医院 sent the "wrong" settlement \\ again'
    reversed_ = await medical.client.post(
        f"/medical/v1/claims/{claims[1]['id']}:reverse", json={"reason": reason}, headers=kit.OPERATOR
    )
    assert reversed_.status_code == 200, reversed_.text
    shapes = set()
    for claim in claims:
        row = await claim_by_id(medical.runtime.read_pool, uuid.UUID(claim["id"]))
        assert row is not None
        expected = claim_read(row).model_dump_json().encode()
        answer = await medical.client.get(f"/medical/v1/claims/{claim['id']}", headers=kit.OPERATOR)
        assert answer.status_code == 200, answer.text
        assert answer.content == expected
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        shapes.add((body["status"], body["category"], body["cap_met"]))
    assert ("reversed", "dibao", True) in shapes and ("settled", None, None) in shapes
    assert {category for _, category, _ in shapes} == {"dibao", "tekun", "low_income", None}
    assert answer.json()["category"] == "tekun"
    reread = (await medical.client.get(f"/medical/v1/claims/{claims[1]['id']}", headers=kit.OPERATOR)).json()
    assert reread["reversal"]["reason"] == reason and reread["settlement_no"] == claims[1]["settlement_no"]

"""Policy years through the API: set and read whole, validated whole, frozen once a claim is settled."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from uplift.common.testkit import RunningService

pytestmark = pytest.mark.integration


def document(kit: Any, **budgets: str | None) -> dict[str, Any]:
    doc = copy.deepcopy(kit.DEFAULT_DOCUMENT)
    if "supplementary" in budgets:
        doc["supplementary"]["budget"] = budgets["supplementary"]
    if "charity" in budgets:
        doc["charity"]["budget"] = budgets["charity"]
    return doc


async def put(medical: RunningService, kit: Any, year: int, doc: dict[str, Any]) -> Any:
    return await medical.client.put(f"/medical/v1/policy-years/{year}", json=doc, headers=kit.ADMIN)


async def test_put_creates_then_replaces_and_get_returns_the_document(medical: RunningService, kit: Any) -> None:
    year = kit.fresh_year()
    created = await put(medical, kit, year, document(kit))
    assert created.status_code == 201, created.text
    assert created.json() == kit.DEFAULT_DOCUMENT

    changed = document(kit)
    changed["basic"]["ratio"]["2"] = "0.75"
    replaced = await put(medical, kit, year, changed)
    assert replaced.status_code == 200
    read = await medical.client.get(f"/medical/v1/policy-years/{year}", headers=kit.OPERATOR)
    assert read.status_code == 200
    assert read.json()["basic"]["ratio"]["2"] == "0.75"
    assert read.headers["etag"] == '"2"'

    events = await kit.outbox_events(medical, "medical.policy_year.set.v1", str(year))
    assert [event["data"] for event in events] == [
        {"seq": 1, "policy_year": year, "supplementary_budget": "3000000.00", "charity_budget": None},
        {"seq": 2, "policy_year": year, "supplementary_budget": "3000000.00", "charity_budget": None},
    ]
    funds = (await medical.client.get(f"/medical/v1/funds/{year}", headers=kit.OPERATOR)).json()
    assert funds == {
        "supplementary": {"budget": "3000000.00", "used": "0.00", "remaining": "3000000.00"},
        "charity": {"budget": None, "used": "0.00", "remaining": None},
    }


async def test_an_invalid_document_is_422_naming_every_field_at_fault(medical: RunningService, kit: Any) -> None:
    year = kit.fresh_year()
    bad = document(kit)
    bad["basic"]["ratio"]["2"] = "1.20"
    bad["critical_illness"]["bands"][0]["upto"] = "200000.00"  # above the next band
    del bad["supplementary"]["cap_ratio"]
    response = await put(medical, kit, year, bad)
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"basic.ratio.2", "critical_illness.bands[1].upto", "supplementary.cap_ratio"} <= fields
    assert (await medical.client.get(f"/medical/v1/policy-years/{year}", headers=kit.OPERATOR)).status_code == 404


async def test_once_a_claim_is_settled_only_budgets_may_change_and_never_below_what_is_used(
    medical: RunningService, registry: Any, kit: Any
) -> None:
    year = kit.fresh_year()
    assert (await put(medical, kit, year, document(kit))).status_code == 201  # charity unlimited
    person = await registry.insured("dibao")
    claim = {
        "person_id": str(person),
        "hospital_code": "H1",
        "settlement_no": f"S-{uuid.uuid4().hex}",
        "hospital_level": 3,
        "admitted_on": f"{year}-03-01",
        "discharged_on": f"{year}-03-10",
        "total": "10000.00",
        "in_policy": "9000.00",
    }
    settled = await medical.client.post("/medical/v1/claims", json=claim, headers=kit.OPERATOR)
    assert settled.status_code == 201, settled.text  # takes 324.00 supplementary and 500.00 charity

    unlimited = (await medical.client.get(f"/medical/v1/funds/{year}", headers=kit.OPERATOR)).json()
    assert unlimited["charity"] == {"budget": None, "used": "500.00", "remaining": None}

    frozen = document(kit)
    frozen["basic"]["ratio"]["2"] = "0.75"
    frozen["charity"]["categories"] = ["dibao"]
    refused = await put(medical, kit, year, frozen)
    assert refused.status_code == 409
    assert [error["field"] for error in refused.json()["errors"]] == ["basic.ratio.2", "charity.categories"]

    below = await put(medical, kit, year, document(kit, supplementary="300.00", charity="499.99"))
    assert below.status_code == 409
    assert [error["field"] for error in below.json()["errors"]] == ["supplementary.budget", "charity.budget"]

    # Reordered categories are the same set, and budgets may move: allowed.
    allowed = document(kit, supplementary="2000000.00", charity="500.00")
    allowed["charity"]["categories"] = ["low_income", "tekun", "dibao"]
    accepted = await put(medical, kit, year, allowed)
    assert accepted.status_code == 200, accepted.text
    funds = (await medical.client.get(f"/medical/v1/funds/{year}", headers=kit.OPERATOR)).json()
    assert funds == {
        "supplementary": {"budget": "2000000.00", "used": "324.00", "remaining": "1999676.00"},
        "charity": {"budget": "500.00", "used": "500.00", "remaining": "0.00"},
    }
    # The charity fund, limited now, counts from what it already paid; at its budget, it crossed its low line.
    low = await kit.outbox_events(medical, "medical.fund.low.v1", f"{year}/charity")
    assert [event["data"]["remaining"] for event in low] == ["0.00"]

"""Bad claims are a clear 4xx naming the field, with nothing saved; each role may do only what it may."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from stdnum.cn import ric

from uplift.common.testkit import RunningService

pytestmark = pytest.mark.integration


def good_body(person_id: uuid.UUID, settlement_no: str) -> dict[str, Any]:
    return {
        "person_id": str(person_id),
        "hospital_code": "H420102-09",
        "settlement_no": settlement_no,
        "hospital_level": 2,
        "admitted_on": "2026-06-01",
        "discharged_on": "2026-06-05",
        "total": "3000.00",
        "in_policy": "2500.00",
    }


_RIGHT_CHECK = ric.calc_check_digit("420102198001010010")  # the last character is ignored
WRONG_CHECK_DIGIT = "42010219800101001" + ("1" if _RIGHT_CHECK != "1" else "2")

BAD_CLAIMS = [
    ("in_policy_above_total", {"in_policy": "3000.01"}, 422, "in_policy"),
    ("negative_total", {"total": "-5.00"}, 422, "total"),
    ("negative_in_policy", {"in_policy": "-1.00"}, 422, "in_policy"),
    ("non_numeric_total", {"total": "lots"}, 422, "total"),
    ("three_decimals", {"in_policy": "2500.005"}, 422, "in_policy"),
    ("zero_total", {"total": "0.00", "in_policy": "0.00"}, 422, "total"),
    ("unknown_hospital_level", {"hospital_level": 4}, 422, "hospital_level"),
    ("discharge_before_admission", {"discharged_on": "2026-05-30"}, 422, "discharged_on"),
    ("unknown_policy_year", {"admitted_on": "2198-01-01", "discharged_on": "2198-01-02"}, 422, "discharged_on"),
    ("unknown_person", {"person_id": "00000000-0000-4000-8000-000000000001"}, 422, "person_id"),
    ("bad_id_number", {"person_id": None, "id_number": WRONG_CHECK_DIGIT}, 422, "id_number"),
    ("both_person_and_id_number", {"id_number": "11010519491231002X"}, 422, "person_id"),
    ("duplicate_settlement_other_body", {"total": "3100.00"}, 409, "total"),
]


@pytest.mark.parametrize(("case", "changes", "status", "field"), BAD_CLAIMS, ids=[c[0] for c in BAD_CLAIMS])
async def test_bad_claim_is_refused_naming_the_field_and_nothing_is_saved(
    medical: RunningService,
    registry: Any,
    kit: Any,
    case: str,
    changes: dict[str, Any],
    status: int,
    field: str,
) -> None:
    person = await registry.insured("dibao")
    settlement_no = f"S-{case}-{uuid.uuid4().hex[:8]}"
    if case == "duplicate_settlement_other_body":
        first = await medical.client.post(
            "/medical/v1/claims", json=good_body(person, settlement_no), headers=kit.OPERATOR
        )
        assert first.status_code == 201
    body = {key: value for key, value in (good_body(person, settlement_no) | changes).items() if value is not None}

    response = await medical.client.post("/medical/v1/claims", json=body, headers=kit.OPERATOR)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert field in [error["field"] for error in problem["errors"]], problem
    assert "id_number" not in body or body["id_number"] not in response.text  # never echoed
    listed = await medical.client.get(
        "/medical/v1/claims", params={"settlement_no": settlement_no}, headers=kit.OPERATOR
    )
    expected = 1 if case == "duplicate_settlement_other_body" else 0
    assert len(listed.json()["items"]) == expected
    accumulators = await medical.client.get(
        f"/medical/v1/persons/{person}/accumulators", params={"year": 2026}, headers=kit.OPERATOR
    )
    assert accumulators.json()["admissions"] == expected


CLAIMS_READ = ("claims:read",)
CLAIMS_WRITE = ("claims:write",)
ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "medical_operator": ("medical_operator", ()),
    "district_admin": ("district_admin", ()),
    "street_operator": ("street_operator", ()),
    "analyst": ("analyst", ()),
    "employer": ("employer", ()),
    "integrator_read": ("integrator", CLAIMS_READ),
    "integrator_write": ("integrator", CLAIMS_WRITE),
    "integrator_other": ("integrator", ("registry:read",)),
}
# operation -> the roles that may do it (everyone else: 403)
MAY = {
    "submit": {"medical_operator", "district_admin", "integrator_write"},  # district_admin: everything (API.md)
    "reverse": {"medical_operator", "district_admin", "integrator_write"},
    "read_claim": {"medical_operator", "district_admin", "integrator_read", "integrator_write"},
    "list_claims": {"medical_operator", "district_admin", "integrator_read", "integrator_write"},
    "simulate": {"medical_operator", "district_admin", "integrator_read", "integrator_write"},
    "accumulators": {"medical_operator", "district_admin", "integrator_read", "integrator_write"},
    "funds": {"medical_operator", "district_admin", "integrator_read", "integrator_write"},
    "read_policy_year": {"medical_operator", "district_admin", "integrator_read", "integrator_write"},
    "set_policy_year": {"district_admin"},
}


@pytest.mark.parametrize("role", list(ROLES))
async def test_each_role_may_do_exactly_its_operations(
    medical: RunningService, registry: Any, kit: Any, role: str
) -> None:
    person = await registry.insured("dibao")
    existing = await medical.client.post(
        "/medical/v1/claims", json=good_body(person, f"S-auth-{uuid.uuid4().hex}"), headers=kit.OPERATOR
    )
    claim_id = existing.json()["id"]
    name, perms = ROLES[role]
    headers = kit.auth(name, None, perms)
    year = kit.fresh_year()
    client = medical.client
    operations = {
        "submit": lambda: client.post(
            "/medical/v1/claims", json=good_body(person, f"S-{uuid.uuid4().hex}"), headers=headers
        ),
        "reverse": lambda: client.post(
            f"/medical/v1/claims/{claim_id}:reverse", json={"reason": "test"}, headers=headers
        ),
        "read_claim": lambda: client.get(f"/medical/v1/claims/{claim_id}", headers=headers),
        "list_claims": lambda: client.get("/medical/v1/claims", params={"person_id": str(person)}, headers=headers),
        "simulate": lambda: client.post(
            "/medical/v1/claims:simulate", json=good_body(person, "S-sim"), headers=headers
        ),
        "accumulators": lambda: client.get(f"/medical/v1/persons/{person}/accumulators", headers=headers),
        "funds": lambda: client.get("/medical/v1/funds/2026", headers=headers),
        "read_policy_year": lambda: client.get("/medical/v1/policy-years/2026", headers=headers),
        "set_policy_year": lambda: client.put(
            f"/medical/v1/policy-years/{year}", json=kit.DEFAULT_DOCUMENT, headers=headers
        ),
    }
    for operation, call in operations.items():
        response = await call()
        if role in MAY[operation]:
            assert response.status_code in (200, 201), (operation, response.text)
        else:
            assert response.status_code == 403, (operation, response.status_code)
            assert response.json()["status"] == 403


async def test_no_token_is_401(medical: RunningService) -> None:
    response = await medical.client.get("/medical/v1/funds/2026")
    assert response.status_code == 401

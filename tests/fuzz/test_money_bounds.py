"""An amount too large for the books is invalid content (422), never a 500: money columns are numeric(14, 2), so
anything above 999,999,999,999.99 yuan must be refused by validation before it reaches the database.

Found by fuzzing; each case is the smallest request that shows it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from stdnum.cn import ric

from uplift.common.testkit import RunningService, auth, run_service, service_settings

pytestmark = pytest.mark.integration

ADMIN = auth("district_admin", "420102", ("pii:read",))
TOO_LARGE = "99999999999999999.99"  # 17 integer digits: valid money text, too large for numeric(14, 2)
DISTRICT, STREET, COMMUNITY = "420102", "420102556", "420102556001"


# The DOMAIN.md defaults as API.md shows them.
POLICY_YEAR_DEFAULTS = """
{"basic": {"deductible": {"1": "200.00", "2": "400.00", "3": "800.00"}, "repeat_factor": "0.5",
           "ratio": {"1": "0.90", "2": "0.70", "3": "0.60"}, "annual_cap": "150000.00", "deductible_waived": []},
 "critical_illness": {"threshold": "12000.00",
                      "bands": [{"upto": "30000.00", "ratio": "0.60"}, {"upto": "100000.00", "ratio": "0.65"},
                                {"upto": null, "ratio": "0.75"}],
                      "annual_cap": "400000.00",
                      "tilt": {"dibao": {"threshold_factor": "0.5", "ratio_bonus": "0.05", "uncapped": true},
                               "tekun": {"threshold_factor": "0.5", "ratio_bonus": "0.05", "uncapped": true}}},
 "assistance": {"dibao": {"ratio": "0.70", "annual_limit": "50000.00"},
                "tekun": {"ratio": "0.90", "annual_limit": "80000.00"},
                "low_income": {"ratio": "0.60", "annual_limit": "30000.00"}},
 "charity": {"base": "out_of_policy", "ratio": "0.50", "annual_limit": "20000.00",
             "categories": ["dibao", "tekun", "low_income"], "budget": null},
 "supplementary": {"cap_ratio": "0.10", "cap_base": "in_policy", "budget": "3000000.00",
                   "categories": ["dibao", "tekun"], "low_threshold_ratio": "0.05"}}
"""


def id_number() -> str:
    body = f"42{random.randrange(0, 9999):04d}19800101{random.randrange(0, 499) * 2 + 1:03d}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(scope="module")
async def services(migrated_database_url: str, nats_url: str) -> AsyncIterator[dict[str, RunningService]]:
    async with AsyncExitStack() as stack:
        running: dict[str, RunningService] = {}
        for service in ("registry", "matching", "medical"):
            main = importlib.import_module(f"uplift.{service}.main")
            app = main.create_app(service_settings(service, migrated_database_url, nats_url))
            running[service] = await stack.enter_async_context(run_service(app=app))
        for code, kind, parent in (
            (DISTRICT, "district", None),
            (STREET, "street", DISTRICT),
            (COMMUNITY, "community", STREET),
        ):
            created = await running["registry"].client.post(
                "/registry/v1/org-units",
                json={"code": code, "name": f"{kind} {code}", "kind": kind, "parent_code": parent},
                headers=ADMIN,
            )
            assert created.status_code in (201, 409), created.text
        yield running


def household(monthly_income: str) -> dict[str, Any]:
    member = {
        "name": "张三",
        "id_number": id_number(),
        "relation": "head",
        "work_ability": "full",
        "employment_status": "unemployed",
        "disability_level": 0,
        "education": "junior_high",
        "skills": [],
        "pension_insured": False,
        "medical_insured": True,
    }
    return {
        "community_code": COMMUNITY,
        "address": "武汉市江岸区",
        "category": "dibao",
        "monthly_income": monthly_income,
        "dibao_monthly": "600.00",
        "causes": ["illness"],
        "cohort": "2026-1",
        "enrolled_on": "2026-03-01",
        "members": [member],
    }


async def test_a_household_income_too_large_for_the_books_is_422(services: dict[str, RunningService]) -> None:
    response = await services["registry"].client.post(
        "/registry/v1/households", json=household(TOO_LARGE), headers=ADMIN
    )
    assert response.status_code == 422, response.text


async def test_a_posting_wage_too_large_for_the_books_is_422(services: dict[str, RunningService]) -> None:
    matching = services["matching"].client
    employer = await matching.post("/matching/v1/employers", json={"name": "江岸保洁"}, headers=ADMIN)
    assert employer.status_code == 201, employer.text
    posting = {
        "employer_id": employer.json()["id"],
        "occupation": "保洁员",
        "essential_skills": [],
        "monthly_wage": TOO_LARGE,
        "weekly_hours": 40,
        "street_code": STREET,
        "openings": 1,
        "valid_from": dt.date.today().isoformat(),
    }
    response = await matching.post("/matching/v1/postings", json=posting, headers=ADMIN)
    assert response.status_code == 422, response.text


async def test_a_policy_year_amount_too_large_for_the_books_is_422(services: dict[str, RunningService]) -> None:
    medical = services["medical"].client
    document = json.loads(POLICY_YEAR_DEFAULTS)
    document["basic"]["annual_cap"] = "1e30"
    response = await medical.put("/medical/v1/policy-years/2099", json=document, headers=ADMIN)
    assert response.status_code == 422, response.text

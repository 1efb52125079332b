from decimal import Decimal
from typing import Any

from uplift.registry.domain.eligibility import compile_expression, eligible_policies
from uplift.registry.domain.policy_catalogue import POLICY_AREAS, SEED_POLICIES

RULES = {policy.code: compile_expression(policy.eligibility) for policy in SEED_POLICIES}


def household(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "category": "dibao",
        "status": "enrolled",
        "monthly_income": Decimal("1200.00"),
        "per_capita_income": Decimal("400.00"),
        "size": 3,
        "causes": ["illness"],
        "zero_employment": True,
        "street_code": "420102001",
    }
    return base | changes


def person(person_id: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "person_id": person_id,
        "age": 45,
        "sex": "female",
        "work_ability": "full",
        "employment_status": "unemployed",
        "disability_level": 0,
        "chronic_illness": False,
        "education": "junior_high",
        "pension_insured": True,
        "medical_insured": True,
        "skills": ["cleaning"],
    }
    return base | changes


def test_the_catalogue_has_ten_areas_and_about_25_policies_with_unique_codes() -> None:
    assert len(POLICY_AREAS) == 10
    assert 23 <= len(SEED_POLICIES) <= 30
    assert len({policy.code for policy in SEED_POLICIES}) == len(SEED_POLICIES)
    assert {policy.area for policy in SEED_POLICIES} == {area.code for area in POLICY_AREAS}
    assert all(policy.name_zh and policy.name_en and policy.description for policy in SEED_POLICIES)


def test_every_seed_policy_compiles() -> None:
    assert set(RULES) == {policy.code for policy in SEED_POLICIES}


def test_a_jobless_mother_in_a_zero_employment_dibao_household() -> None:
    members = [
        person("mother", education="senior_high"),
        person("son", age=12, employment_status="student", education="primary", skills=[]),
        person(
            "grandfather",
            age=81,
            sex="male",
            work_ability="none",
            employment_status="retired",
            chronic_illness=True,
            pension_insured=False,
        ),
    ]
    result = eligible_policies(RULES, household(), members)
    assert result["employment.job_referral"].person_ids == ("mother",)
    assert result["employment.public_welfare_job"].person_ids == ("mother",)  # a woman of 40+ and zero employment
    assert not result["employment.vocational_training"].eligible  # has a skill and senior-high schooling
    assert result["education.compulsory_schooling_aid"].person_ids == ("son",)
    assert result["elderly_care.old_age_allowance"].person_ids == ("grandfather",)
    assert result["health.family_doctor"].person_ids == ("grandfather",)
    assert result["insurance_subsidy.pension_contribution"].person_ids == ("grandfather",)
    assert result["social_assistance.dibao_allowance"].eligible
    assert result["social_assistance.temporary_assistance"].eligible  # 400.00 ≤ 900.00 and illness
    assert result["health.medical_assistance"].eligible
    assert not result["social_assistance.tekun_support"].eligible
    assert not result["motivation.model_household"].eligible


def test_exited_households_lose_programme_policies() -> None:
    result = eligible_policies(RULES, household(status="exited"), [person("mother")])
    assert not result["social_assistance.dibao_allowance"].eligible
    assert not result["employment.public_welfare_job"].eligible
    assert result["employment.job_referral"].eligible  # referral is open to anyone out of work


def test_disability_policies_follow_the_certificate_level() -> None:
    members = [person("severe", disability_level=1), person("mild", disability_level=4, education="primary")]
    result = eligible_policies(RULES, household(), members)
    assert result["disability.nursing_subsidy"].person_ids == ("severe",)
    assert result["disability.living_allowance"].person_ids == ("severe", "mild")
    assert result["disability.remote_work_training"].person_ids == ("severe",)


def test_low_income_households_get_public_rental_housing_only_below_one_and_a_half_lines() -> None:
    near = household(category="low_income", per_capita_income=Decimal("1349.99"))
    above = household(category="low_income", per_capita_income=Decimal("1350.00"))
    assert eligible_policies(RULES, near, [])["housing.public_rental"].eligible
    assert not eligible_policies(RULES, above, [])["housing.public_rental"].eligible

"""Factories for the matching domain's tests: a plain seeker and posting that match each other, changed per test."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from uplift.matching.domain.scoring import Posting, Seeker, SeekerProfile

TODAY = date(2026, 3, 2)
DISTRICT = "420102"
STREET = "420102001"
OTHER_STREET = "420102002"
OTHER_DISTRICT = "420103"


def seeker(**changes: Any) -> Seeker:
    profile_changes = changes.pop("profile", {})
    base = Seeker(
        person_id=UUID(int=changes.pop("person", 1)),
        birth_year=1980,
        sex="female",
        work_ability="full",
        disability_level=0,
        chronic_illness=False,
        household_status="enrolled",
        zero_employment_household=False,
        street_code=STREET,
        district_code=DISTRICT,
        skills=frozenset({"cleaning", "cooking"}),
        education="junior_high",
        profile=SeekerProfile(),
    )
    if isinstance(profile_changes, SeekerProfile):
        profile = profile_changes
    else:
        profile = dataclasses.replace(base.profile, **profile_changes)
    return dataclasses.replace(base, profile=profile, **changes)


def posting(**changes: Any) -> Posting:
    base = Posting(
        posting_id=UUID(int=changes.pop("number", 100)),
        employer_id=UUID(int=9),
        occupation="cleaner",
        essential_skills=frozenset({"cleaning"}),
        optional_skills=frozenset(),
        monthly_wage=Decimal("3000.00"),
        weekly_hours=40,
        street_code=STREET,
        district_code=DISTRICT,
        remote=False,
        physical_demand="light",
        accessible=True,
        min_education=None,
        openings=1,
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
        open=True,
        public_welfare=False,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="session")
def make_seeker() -> Callable[..., Seeker]:
    return seeker


@pytest.fixture(scope="session")
def make_posting() -> Callable[..., Posting]:
    return posting

"""Factories for the matching tests: domain seekers and postings that match each other, and (`matching`) the
running service with helpers that publish registry events and create employers and postings over HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest

from uplift.common.contracts import (
    EventPayload,
    HouseholdEnrolled,
    HouseholdSnapshot,
    PersonAdded,
    PersonSnapshot,
)
from uplift.common.envelope import Envelope
from uplift.common.nats_link import ensure_stream
from uplift.common.testkit import RunningService, auth, eventually, run_service, service_settings
from uplift.matching.domain.scoring import Posting, Seeker, SeekerProfile
from uplift.matching.main import create_app

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


# --- random seekers and postings, for comparing the column indexes with the exact domain ----------------


RANDOM_SKILLS = ["cleaning", "cooking", "security", "delivery", "warehouse", "sewing", "customer_service"]
RANDOM_STREETS = ["420102001", "420102002", "420103001", "420104005"]


def random_posting(rng: random.Random, number: int) -> Posting:
    """A posting of a small random district, often excluded for one reason or several."""
    remote = rng.random() < 0.15
    street = rng.choice(RANDOM_STREETS)
    return posting(
        number=number,
        essential_skills=frozenset(rng.sample([*RANDOM_SKILLS, "unheard_of"], rng.randint(0, 3))),
        optional_skills=frozenset(rng.sample(RANDOM_SKILLS, rng.randint(0, 2))),
        monthly_wage=Decimal(rng.randrange(200_000, 600_000, 50)) / 100,
        weekly_hours=rng.choice([16, 20, 30, 37, 40, 44]),
        street_code=None if remote else street,
        district_code=None if remote else street[:6],
        remote=remote,
        physical_demand=rng.choice(["light", "medium", "heavy"]),
        accessible=rng.random() < 0.5,
        min_education=rng.choice([None, "junior_high", "senior_high", "college"]),
        openings=rng.choice([0, 1, 2]),
        valid_to=rng.choice([None, date(2026, 2, 1), date(2026, 12, 31), date(2026, 12, 31)]),
        open=rng.random() < 0.9,
        public_welfare=rng.random() < 0.2,
    )


def random_seeker(rng: random.Random, number: int) -> Seeker:
    """A seeker of the same small district, at the edges of working age, with random constraints."""
    street = rng.choice(RANDOM_STREETS)
    return seeker(
        person=number,
        birth_year=rng.choice([1960, 1966, 1968, 1969, 1975, 1990, 2010, 2011]),
        sex=rng.choice(["male", "female"]),
        work_ability=rng.choice(["full", "full", "partial", "none"]),
        disability_level=rng.choice([0, 0, 1, 3]),
        chronic_illness=rng.random() < 0.1,
        household_status=rng.choice(["enrolled", "transition", "exited"]),
        street_code=street,
        district_code=street[:6],
        skills=frozenset(rng.sample(RANDOM_SKILLS, rng.randint(0, 4))),
        education=rng.choice([None, "primary", "senior_high", "bachelor"]),
        profile=SeekerProfile(
            desired_hours=rng.choice([None, 20, 33, 40]),
            max_hours=rng.choice([None, None, 30]),
            min_wage=rng.choice([None, Decimal("3000.00"), Decimal("4512.25"), Decimal("2999.99")]),
            location_pref=rng.choice(["same_street", "same_district", "any"]),
            prefers_remote=rng.random() < 0.3,
            no_heavy_work=rng.random() < 0.2,
        ),
    )


@pytest.fixture(scope="session")
def random_seeker_of() -> Callable[[random.Random, int], Seeker]:
    return random_seeker


@pytest.fixture(scope="session")
def random_posting_of() -> Callable[[random.Random, int], Posting]:
    return random_posting


# --- the running service, for the integration tests (test_service_*.py) --------------------------------------


ADMIN = auth("district_admin", "420102")


def business_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


class MatchingKit:
    """Helpers of the integration tests: registry events on NATS, seekers, employers and postings over HTTP."""

    admin = ADMIN

    def __init__(self, service: RunningService) -> None:
        self.service = service
        self.client: httpx.AsyncClient = service.client
        self.today = business_today()

    @staticmethod
    def fresh_street() -> str:
        """A street of a district of its own, so postings of other tests never compete in the ranking."""
        number = uuid.uuid4().int
        return f"43{number % 10_000:04d}{(number >> 20) % 1000:03d}"

    # registry events ----------------------------------------------------------------------------------------

    async def publish(self, payload: EventPayload, *, event_id: uuid.UUID | None = None) -> Envelope:
        """Publish a registry event to the REGISTRY stream as the registry's relay would."""
        nats = self.service.runtime.nats
        assert await nats.wait_connected(10), "NATS is not connected"
        await ensure_stream(nats.js, "REGISTRY")
        envelope = Envelope(
            id=event_id or uuid.uuid4(),
            type=payload.event_type,
            source="uplift/registry",
            subject=payload.aggregate_id,
            data=payload.model_dump(mode="json"),
        )
        await nats.js.publish(
            envelope.nats_subject, envelope.to_json_bytes(), headers={"Nats-Msg-Id": str(envelope.id)}
        )
        return envelope

    def household(self, household_id: uuid.UUID | None = None, **changes: object) -> HouseholdSnapshot:
        values: dict[str, object] = {
            "household_id": household_id or uuid.uuid4(),
            "seq": 1,
            "status": "enrolled",
            "category": "dibao",
            "street_code": STREET,
            "community_code": STREET + "001",
            "cohort": "2026-1",
            "enrolled_on": dt.date(2026, 1, 5),
            "size": 1,
            "monthly_income": "800.00",
            "dibao_monthly": "900.00",
        }
        values.update(changes)
        return HouseholdSnapshot.model_validate(values)

    def person(self, household_id: uuid.UUID, person_id: uuid.UUID | None = None, **changes: object) -> PersonSnapshot:
        values: dict[str, object] = {
            "person_id": person_id or uuid.uuid4(),
            "seq": 1,
            "household_id": household_id,
            "member_since": dt.date(2026, 1, 5),
            "id_hash": uuid.uuid4().hex,
            "birth_year": self.today.year - 40,
            "sex": "female",
            "work_ability": "full",
            "employment_status": "unemployed",
            "disability_level": 0,
            "chronic_illness": False,
            "education": "junior_high",
            "skills": ["cleaning"],
            "pension_insured": True,
            "medical_insured": True,
            "active": True,
        }
        values.update(changes)
        return PersonSnapshot.model_validate(values)

    async def wait_for_seeker(self, person_id: uuid.UUID, check: object = None) -> dict[str, object]:
        """Wait until the seeker is projected (and `check(body)` holds, when given); return its view."""
        seen: dict[str, object] = {}

        async def projected() -> bool:
            response = await self.client.get(f"/matching/v1/seekers/{person_id}", headers=ADMIN)
            if response.status_code != 200:
                return False
            seen.update(response.json())
            return check is None or bool(check(seen))  # type: ignore[operator]

        await eventually(projected, what=f"seeker {person_id} projected")
        return seen

    async def seeker(self, household: dict[str, object] | None = None, **person: object) -> tuple[uuid.UUID, uuid.UUID]:
        """A household with one member, enrolled through REGISTRY events; returns (person_id, household_id)."""
        snapshot = self.household(**(household or {}))
        await self.publish(HouseholdEnrolled(household=snapshot))
        member = self.person(snapshot.household_id, **person)
        await self.publish(PersonAdded(person=member))
        await self.wait_for_seeker(member.person_id)
        return member.person_id, snapshot.household_id

    # employers and postings ---------------------------------------------------------------------------------

    async def employer(self, name: str = "Hanyang Property Services") -> uuid.UUID:
        response = await self.client.post(
            "/matching/v1/employers", json={"name": name, "street_code": STREET}, headers=ADMIN
        )
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"])

    def posting_body(self, employer_id: uuid.UUID, **changes: object) -> dict[str, object]:
        body: dict[str, object] = {
            "employer_id": str(employer_id),
            "occupation": "cleaner",
            "essential_skills": ["cleaning"],
            "optional_skills": [],
            "monthly_wage": "3000.00",
            "weekly_hours": 40,
            "street_code": STREET,
            "physical_demand": "light",
            "accessible": True,
            "openings": 2,
            "valid_from": (self.today - dt.timedelta(days=30)).isoformat(),
            "valid_to": (self.today + dt.timedelta(days=180)).isoformat(),
        }
        body.update(changes)
        return body

    async def posting(self, employer_id: uuid.UUID, **changes: object) -> dict[str, object]:
        response = await self.client.post(
            "/matching/v1/postings", json=self.posting_body(employer_id, **changes), headers=ADMIN
        )
        assert response.status_code == 201, response.text
        body: dict[str, object] = response.json()
        return body


@pytest.fixture(scope="module")
async def matching(migrated_database_url: str, nats_url: str) -> AsyncIterator[MatchingKit]:
    app = create_app(service_settings("matching", migrated_database_url, nats_url))
    async with run_service(app=app) as service:
        yield MatchingKit(service)

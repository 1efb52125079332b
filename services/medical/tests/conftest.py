"""The running medical service for integration tests, and a registry that feeds it insured persons.

One app per test session (its lifespan starts the relay and the REGISTRY consumer). Tests share the database:
each builds its own persons, households and settlement numbers from fresh UUIDs, and a policy year of its own
unless it only reads the default year. Test modules are imported in importlib mode and cannot import this
module, so everything they need comes through the `kit` fixture.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from uplift.common.contracts import (
    EventPayload,
    HouseholdEnrolled,
    HouseholdExited,
    HouseholdSnapshot,
    PersonAdded,
    PersonSnapshot,
)
from uplift.common.envelope import Envelope
from uplift.common.pii import DEV_LOOKUP_KEY, decode_key, id_hash
from uplift.common.testkit import RunningService, auth, run_service, service_settings
from uplift.medical.domain.policy_year import DEFAULT_POLICY_YEAR_DOCUMENT
from uplift.medical.main import create_app

DEFAULT_YEAR = 2026
STREET = "420102001"
COMMUNITY = "420102001001"

OPERATOR = auth("medical_operator")
ADMIN = auth("district_admin")

_years = itertools.count(2100)


def fresh_year() -> int:
    """A policy year no other test uses."""
    return next(_years)


def id_number_for(serial: int) -> str:
    """A valid 18-character resident ID number (check digit computed), one of 18 million, chosen by `serial`."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=serial % 18000)
    body = f"420102{born:%Y%m%d}{serial // 18000 % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # it ignores the last character


def household_snapshot(household_id: uuid.UUID, seq: int = 1, **changes: Any) -> HouseholdSnapshot:
    values: dict[str, Any] = {
        "household_id": household_id,
        "seq": seq,
        "status": "enrolled",
        "category": "dibao",
        "street_code": STREET,
        "community_code": COMMUNITY,
        "cohort": "2026-1",
        "enrolled_on": dt.date(2025, 1, 10),
        "size": 1,
        "monthly_income": Decimal("500.00"),
        "dibao_monthly": Decimal("900.00"),
    }
    values.update(changes)
    return HouseholdSnapshot(**values)


def person_snapshot(
    person_id: uuid.UUID, household_id: uuid.UUID, seq: int = 1, id_number: str | None = None, **changes: Any
) -> PersonSnapshot:
    key = decode_key(DEV_LOOKUP_KEY, what="lookup key")
    values: dict[str, Any] = {
        "person_id": person_id,
        "seq": seq,
        "household_id": household_id,
        "member_since": dt.date(2025, 1, 10),
        "id_hash": id_hash(id_number or id_number_for(person_id.int), key),
        "birth_year": 1980,
        "sex": "female",
        "work_ability": "full",
        "employment_status": "unemployed",
        "disability_level": 0,
        "chronic_illness": False,
        "education": "junior_high",
        "pension_insured": True,
        "medical_insured": True,
        "active": True,
    }
    values.update(changes)
    return PersonSnapshot(**values)


def envelope_of(payload: EventPayload, time: dt.datetime | None = None) -> Envelope:
    """The envelope the registry would publish for `payload`."""
    return Envelope(
        type=payload.event_type,
        source="uplift/registry",
        subject=payload.aggregate_id,
        data=payload.model_dump(mode="json"),
        **({"time": time} if time is not None else {}),
    )


class Registry:
    """Feeds registry events to the medical service's REGISTRY consumer directly (no NATS round trip)."""

    def __init__(self, service: RunningService) -> None:
        self.service = service

    async def apply(self, *payloads: EventPayload) -> None:
        consumer = self.service.runtime.consumers[0]
        async with self.service.runtime.unit_of_work() as uow:
            for payload in payloads:
                outcome = await consumer.apply(uow, envelope_of(payload))
                assert outcome.status == "applied", outcome
            await uow.commit()

    async def household(self, category: str = "dibao", **changes: Any) -> uuid.UUID:
        household_id = uuid.uuid4()
        await self.apply(HouseholdEnrolled(household=household_snapshot(household_id, category=category, **changes)))
        return household_id

    async def person(self, household_id: uuid.UUID, **changes: Any) -> uuid.UUID:
        person_id = uuid.uuid4()
        await self.apply(PersonAdded(person=person_snapshot(person_id, household_id, **changes)))
        return person_id

    async def insured(self, category: str = "dibao", **changes: Any) -> uuid.UUID:
        """A new person in a new household of `category` enrolled since 2025-01-10."""
        return await self.person(await self.household(category), **changes)

    async def exited_household_member(self, exited_on: dt.date) -> uuid.UUID:
        household_id = await self.household("dibao")
        exited = household_snapshot(
            household_id,
            seq=2,
            status="exited",
            exit={"reason": "income_above_line", "exited_on": exited_on, "monitoring_until": None},
        )
        await self.apply(HouseholdExited(household=exited, reason="income_above_line", exited_on=exited_on))
        return await self.person(household_id)


async def outbox_events(service: RunningService, event_type: str, subject: str) -> list[dict[str, Any]]:
    """The envelopes the medical service wrote to its outbox for one event type and subject."""
    outbox = service.runtime.platform.outbox
    async with service.runtime.sessions() as session:
        rows = await session.execute(
            sa.select(outbox.c.envelope)
            .where(outbox.c.event_type == event_type, outbox.c.subject == subject)
            .order_by(outbox.c.position)
        )
        return [row.envelope for row in rows]


@pytest.fixture(scope="session")
async def medical(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    app = create_app(service_settings("medical", migrated_database_url, nats_url))
    async with run_service(app=app) as service:
        response = await service.client.put(
            f"/medical/v1/policy-years/{DEFAULT_YEAR}", json=DEFAULT_POLICY_YEAR_DOCUMENT, headers=ADMIN
        )
        assert response.status_code in (200, 201), response.text
        yield service


@pytest.fixture(scope="session")
def registry(medical: RunningService) -> Registry:
    return Registry(medical)


class Kit:
    """What the tests share: constants, builders of registry payloads, and outbox reads."""

    DEFAULT_YEAR = DEFAULT_YEAR
    STREET = STREET
    COMMUNITY = COMMUNITY
    OPERATOR = OPERATOR
    ADMIN = ADMIN
    DEFAULT_DOCUMENT = DEFAULT_POLICY_YEAR_DOCUMENT

    fresh_year = staticmethod(fresh_year)
    id_number_for = staticmethod(id_number_for)
    household_snapshot = staticmethod(household_snapshot)
    person_snapshot = staticmethod(person_snapshot)
    envelope_of = staticmethod(envelope_of)
    outbox_events = staticmethod(outbox_events)
    auth = staticmethod(auth)


@pytest.fixture(scope="session")
def kit() -> Kit:
    return Kit()

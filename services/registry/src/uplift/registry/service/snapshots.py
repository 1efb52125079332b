"""The household and person snapshots every registry event carries (EVENTS.md), built from the models.

Snapshots are built with a placeholder `seq`: the unit of work writes the aggregate's real version into them
at commit. They carry no personal data (ids, codes, amounts and flags only).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common.contracts import ExitInfo, Helper, HouseholdSnapshot, PersonSnapshot, Transition
from uplift.registry.models.households import Household, Person

PLACEHOLDER_SEQ = 1  # overwritten by the unit of work at commit


async def helper_of(session: AsyncSession, household_id: uuid.UUID) -> Helper | None:
    """The household's active helper (registry-B's pairing), for the snapshot."""
    from uplift.registry.service.pairings import active_helper

    return await active_helper(session, household_id)


def household_snapshot(household: Household, helper: Helper | None) -> HouseholdSnapshot:
    transition = (
        Transition(starts_on=household.transition_starts_on, ends_on=household.transition_ends_on)
        if household.transition_starts_on is not None and household.transition_ends_on is not None
        else None
    )
    exit_info = (
        ExitInfo(
            reason=household.exit_reason,
            exited_on=household.exited_on,
            monitoring_until=household.monitoring_until,
        )
        if household.exit_reason is not None and household.exited_on is not None
        else None
    )
    return HouseholdSnapshot(
        household_id=household.id,
        seq=PLACEHOLDER_SEQ,
        status=household.status,
        category=household.category,
        street_code=household.street_code,
        community_code=household.community_code,
        cohort=household.cohort,
        enrolled_on=household.enrolled_on,
        size=household.size,
        monthly_income=household.monthly_income,
        dibao_monthly=household.dibao_monthly,
        causes=list(household.causes),
        relapsed=household.relapsed,
        zero_employment=household.zero_employment,
        transition=transition,
        exit=exit_info,
        helper=helper,
    )


def snapshot_fields(snapshot: HouseholdSnapshot) -> dict[str, Any]:
    """The snapshot as JSON values without `seq`, for computing an update's `changes`."""
    fields = snapshot.model_dump(mode="json")
    fields.pop("seq", None)
    fields.pop("household_id", None)
    return fields


def person_snapshot(person: Person) -> PersonSnapshot:
    return PersonSnapshot(
        person_id=person.id,
        seq=PLACEHOLDER_SEQ,
        household_id=person.household_id,
        member_since=person.member_since,
        id_hash=person.id_hash,
        birth_year=person.birth_date.year,
        sex=person.sex,
        work_ability=person.work_ability,
        employment_status=person.employment_status,
        disability_level=person.disability_level,
        chronic_illness=person.chronic_illness,
        education=person.education,
        skills=list(person.skills),
        pension_insured=person.pension_insured,
        medical_insured=person.medical_insured,
        active=person.active,
    )

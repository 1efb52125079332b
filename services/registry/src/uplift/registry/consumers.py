"""Events the registry consumes: matching's placements and trainings, medical's claims.

The platform's inbox skips an event seen before; the placements and claims tables make the effects idempotent
per placement and claim as well (a wage is added once and taken away once, whatever arrives twice or late).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import cast

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert

from uplift.common import contracts
from uplift.common.consumer import ConsumerSpec
from uplift.common.envelope import Envelope
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.domain import alerts as alert_rules
from uplift.registry.domain.lifecycle import HouseholdStatus
from uplift.registry.models.households import Household, MedicalClaimRow, Person, PlacementRow
from uplift.registry.service import audit
from uplift.registry.service.households import before_change, raise_signals, settle
from uplift.registry.service.parameters import parameter_history
from uplift.registry.service.snapshots import person_snapshot

log = structlog.get_logger("uplift.registry.consumers")

placements = cast(sa.Table, PlacementRow.__table__)
claims = cast(sa.Table, MedicalClaimRow.__table__)
MATCHING_ACTOR = "matching"
MEDICAL_ACTOR = "medical"


def _emit_person_updated(uow: UnitOfWork, person: Person) -> None:
    person.version += 1
    payload = contracts.PersonUpdated(person=person_snapshot(person))
    uow.emit(payload.event_type, subject=person.id, data=payload)


async def _member(uow: UnitOfWork, person_id: uuid.UUID, household_id: uuid.UUID) -> Person | None:
    """The person, when still an active member of the household the event names."""
    person = await uow.session.get(Person, person_id, with_for_update=True)
    if person is None or person.household_id != household_id or not person.active:
        return None
    return person


async def _audit_placement(uow: UnitOfWork, household: Household, action: str, placement_id: uuid.UUID) -> None:
    await audit.record(
        uow.session,
        actor=MATCHING_ACTOR,
        action=action,
        subject_type="household",
        subject_id=household.id,
        detail={"placement_id": str(placement_id)},
    )


async def on_placement_hired(uow: UnitOfWork, event: Envelope) -> None:
    """A member was hired: employed, the wage joins the household's income, the transition rule re-checked."""
    hired = contracts.PlacementHired.model_validate(event.data)
    session = uow.session
    household = await session.get(Household, hired.household_id, with_for_update=True)
    if household is None:
        log.warning("placement_for_unknown_household", placement_id=str(hired.placement_id))
        return
    inserted = await session.execute(
        pg_insert(placements)
        .values(
            placement_id=hired.placement_id,
            person_id=hired.person_id,
            household_id=hired.household_id,
            monthly_wage=hired.monthly_wage,
            started_on=hired.started_on,
            active=True,
        )
        .on_conflict_do_nothing(index_elements=[placements.c.placement_id])
        .returning(placements.c.placement_id)
    )
    if inserted.first() is None:
        return  # known already: hired twice, or its end arrived first
    before = await before_change(session, household)
    household.placement_wages += hired.monthly_wage
    person = await _member(uow, hired.person_id, household.id)
    if person is not None and person.employment_status != "employed":
        person.employment_status = "employed"
        _emit_person_updated(uow, person)
    await settle(uow, household, before, on=hired.started_on, actor=MATCHING_ACTOR)
    await _audit_placement(uow, household, "household.placement_hired", hired.placement_id)


async def on_placement_ended(uow: UnitOfWork, event: Envelope) -> None:
    """A placement ended: the wage leaves the income, the member is unemployed (if no other placement
    remains), the transition rule re-checked, and `job_lost` raised in transition or under monitoring."""
    ended = contracts.PlacementEnded.model_validate(event.data)
    session = uow.session
    household = await session.get(Household, ended.household_id, with_for_update=True)
    if household is None:
        log.warning("placement_for_unknown_household", placement_id=str(ended.placement_id))
        return
    row = (
        await session.execute(
            sa.select(placements).where(placements.c.placement_id == ended.placement_id).with_for_update()
        )
    ).first()
    if row is None:
        # The end overtook the hire: remember it, so the late hire adds nothing.
        await session.execute(
            sa.insert(placements).values(
                placement_id=ended.placement_id,
                person_id=ended.person_id,
                household_id=ended.household_id,
                monthly_wage=ended.monthly_wage,
                ended_on=ended.ended_on,
                active=False,
            )
        )
        return
    if not row.active:
        return
    await session.execute(
        sa.update(placements)
        .where(placements.c.placement_id == ended.placement_id)
        .values(active=False, ended_on=ended.ended_on)
    )
    standing = alert_rules.HouseholdStanding(HouseholdStatus(household.status), household.monitoring_until)
    before = await before_change(session, household)
    household.placement_wages = max(household.placement_wages - row.monthly_wage, Decimal("0.00"))
    person = await _member(uow, ended.person_id, household.id)
    still_placed = await session.scalar(
        sa.select(sa.literal(1)).where(placements.c.person_id == ended.person_id, placements.c.active).limit(1)
    )
    if person is not None and still_placed is None and person.employment_status == "employed":
        person.employment_status = "unemployed"
        _emit_person_updated(uow, person)
    await settle(uow, household, before, on=ended.ended_on, actor=MATCHING_ACTOR)
    await _audit_placement(uow, household, "household.placement_ended", ended.placement_id)
    lost = alert_rules.job_lost(standing, str(ended.person_id), str(ended.placement_id), ended.ended_on)
    if lost is not None:
        await raise_signals(uow, household, [lost], on=ended.ended_on, standing=standing)


async def on_training_completed(uow: UnitOfWork, event: Envelope) -> None:
    """A member completed a training: its skills join the person's."""
    completed = contracts.TrainingCompleted.model_validate(event.data)
    person = await uow.session.get(Person, completed.person_id, with_for_update=True)
    if person is None:
        log.warning("training_for_unknown_person", training_id=str(completed.training_id))
        return
    skills = sorted(set(person.skills) | set(completed.skills))
    if skills != sorted(person.skills):
        person.skills = skills
        _emit_person_updated(uow, person)


async def _evaluate_medical_hardship(
    uow: UnitOfWork, household: Household, *, on: dt.date, new_claim: alert_rules.MedicalClaimFact | None
) -> None:
    rows = await uow.session.execute(
        sa.select(claims).where(claims.c.household_id == household.id, sa.not_(claims.c.reversed))
    )
    facts = [
        alert_rules.MedicalClaimFact(
            claim_id=str(row.claim_id),
            person_id=str(row.person_id),
            discharged_on=row.discharged_on,
            out_of_pocket=row.out_of_pocket,
            cap_met=row.cap_met,
        )
        for row in rows
    ]
    params = (await parameter_history(uow.session)).in_force(on)
    trigger = alert_rules.medical_hardship(facts, household.monthly_income, on, params, new_claim)
    if trigger is not None:
        await raise_signals(uow, household, [trigger], on=on)


async def on_claim_settled(uow: UnitOfWork, event: Envelope) -> None:
    """A member's claim settled: kept per household, and the medical-hardship rule evaluated."""
    settled = contracts.ClaimSettled.model_validate(event.data)
    if settled.household_id is None:
        return
    household = await uow.session.get(Household, settled.household_id, with_for_update=True)
    if household is None:
        return
    inserted = await uow.session.execute(
        pg_insert(claims)
        .values(
            claim_id=settled.claim_id,
            household_id=settled.household_id,
            person_id=settled.person_id,
            out_of_pocket=settled.out_of_pocket,
            discharged_on=settled.discharged_on,
            cap_met=settled.cap_met,
            reversed=False,
        )
        .on_conflict_do_nothing(index_elements=[claims.c.claim_id])
        .returning(claims.c.claim_id)
    )
    if inserted.first() is None:
        return  # seen already (or reversed before its settlement arrived)
    new_claim = alert_rules.MedicalClaimFact(
        str(settled.claim_id), str(settled.person_id), settled.discharged_on, settled.out_of_pocket, settled.cap_met
    )
    await _evaluate_medical_hardship(uow, household, on=settled.discharged_on, new_claim=new_claim)


async def on_claim_reversed(uow: UnitOfWork, event: Envelope) -> None:
    """A claim was reversed: it no longer counts; the rule is evaluated again (an open alert's facts refresh)."""
    reversed_claim = contracts.ClaimReversed.model_validate(event.data)
    if reversed_claim.household_id is None:
        return
    household = await uow.session.get(Household, reversed_claim.household_id, with_for_update=True)
    if household is None:
        return
    await uow.session.execute(
        pg_insert(claims)
        .values(
            claim_id=reversed_claim.claim_id,
            household_id=reversed_claim.household_id,
            person_id=reversed_claim.person_id,
            out_of_pocket=reversed_claim.out_of_pocket,
            discharged_on=reversed_claim.discharged_on,
            cap_met=reversed_claim.cap_met,
            reversed=True,
        )
        .on_conflict_do_update(index_elements=[claims.c.claim_id], set_={"reversed": True})
    )
    await _evaluate_medical_hardship(uow, household, on=reversed_claim.reversed_on, new_claim=None)


consumers = [
    ConsumerSpec(
        "MATCHING",
        {
            contracts.PlacementHired.event_type: on_placement_hired,
            contracts.PlacementEnded.event_type: on_placement_ended,
            contracts.TrainingCompleted.event_type: on_training_completed,
        },
    ),
    ConsumerSpec(
        "MEDICAL",
        {
            contracts.ClaimSettled.event_type: on_claim_settled,
            contracts.ClaimReversed.event_type: on_claim_reversed,
        },
    ),
]

"""Events the matching service consumes: the registry's persons, households and parameters (REGISTRY stream).

- every `registry.household.*.v1` keeps the household's newest snapshot (status, category, street, community);
- `registry.person.added/updated/removed.v1` keep the person's newest snapshot; a person whose household is not
  known yet raises `ParentMissing`, so the platform parks the event until the household arrives;
- `registry.parameters.set.v1` keeps the retirement ages of that version (working age).
Snapshots carry `seq`, so redelivery and reordering never roll a newer snapshot back.
"""

from __future__ import annotations

from uplift.common.consumer import ConsumerSpec, Handler, ParentMissing
from uplift.common.contracts import (
    HouseholdEnrolled,
    HouseholdEvent,
    HouseholdExited,
    HouseholdExitUndone,
    HouseholdRelapsed,
    HouseholdTransitionCancelled,
    HouseholdTransitionStarted,
    HouseholdUpdated,
    ParametersSet,
    PersonAdded,
    PersonEvent,
    PersonRemoved,
    PersonUpdated,
    parse_payload,
)
from uplift.common.envelope import Envelope
from uplift.common.unit_of_work import UnitOfWork
from uplift.matching.service.seekers import household_known, record_household, record_parameters, record_person


async def on_household_event(uow: UnitOfWork, envelope: Envelope) -> None:
    payload = parse_payload(envelope.type, envelope.data)
    if not isinstance(payload, HouseholdEvent):
        raise ValueError(f"{envelope.type} is not a household event")
    await record_household(uow.session, payload.household)


async def on_person_event(uow: UnitOfWork, envelope: Envelope) -> None:
    payload = parse_payload(envelope.type, envelope.data)
    if not isinstance(payload, PersonEvent):
        raise ValueError(f"{envelope.type} is not a person event")
    household_id = payload.person.household_id
    if not await household_known(uow.session, household_id):
        raise ParentMissing("household", household_id)
    await record_person(uow.session, payload.person)


async def on_parameters_set(uow: UnitOfWork, envelope: Envelope) -> None:
    payload = parse_payload(envelope.type, envelope.data)
    if not isinstance(payload, ParametersSet):
        raise ValueError(f"{envelope.type} is not a parameters event")
    await record_parameters(uow.session, payload)


_HOUSEHOLD_EVENTS = (
    HouseholdEnrolled,
    HouseholdUpdated,
    HouseholdTransitionStarted,
    HouseholdTransitionCancelled,
    HouseholdExited,
    HouseholdExitUndone,
    HouseholdRelapsed,
)
_PERSON_EVENTS = (PersonAdded, PersonUpdated, PersonRemoved)

registry_handlers: dict[str, Handler] = {
    **{model.event_type: on_household_event for model in _HOUSEHOLD_EVENTS},
    **{model.event_type: on_person_event for model in _PERSON_EVENTS},
    ParametersSet.event_type: on_parameters_set,
}

consumers: list[ConsumerSpec] = [ConsumerSpec(stream="REGISTRY", handlers=registry_handlers)]

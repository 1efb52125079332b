"""The medical service's view of the registry: insured persons and their households, with history.

Consumes the REGISTRY stream (`registry.person.added/updated/removed.v1` and every `registry.household.*.v1`)
into `persons`/`memberships` and `households`/`household_statuses` (see `service.insured_persons`). Each current
snapshot keeps the newest `seq`; each history row is appended once per `(id, seq)`, so redelivery and
reordering change nothing.

Dating the history (which business date a snapshot counts from):
- households: the date the event itself carries — `enrolled_on` (enrolled), `starts_on` (transition started),
  `cancelled_on` (transition cancelled), `exited_on` (exited), `undone_on` (exit undone: the exit window stays
  in the history as recorded, like the registry's own history), `relapsed_on` (relapsed);
- persons: `member_since` when the snapshot starts a membership (added, the first snapshot we hold, or a move to
  another household);
- everything else carries no business date (household `updated`, person `updated` within the same household,
  person `removed`): it counts from the day the envelope was recorded (`time`), in the district's time zone
  Asia/Shanghai (DOMAIN.md: business dates are Asia/Shanghai dates).
A person event whose household is not known yet raises `ParentMissing`: the platform parks it and applies it
once the household arrives.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

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
    PersonAdded,
    PersonEvent,
    PersonRemoved,
    PersonUpdated,
    parse_payload,
)
from uplift.common.envelope import Envelope
from uplift.common.unit_of_work import UnitOfWork
from uplift.medical.service.insured_persons import (
    household_known,
    previous_household_of,
    record_household,
    record_person,
)

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


def recorded_on(envelope: Envelope) -> dt.date:
    """The business date an event was recorded on: its envelope time as an Asia/Shanghai date."""
    moment = envelope.time if envelope.time.tzinfo else envelope.time.replace(tzinfo=dt.UTC)
    return moment.astimezone(BUSINESS_ZONE).date()


def household_change_date(payload: HouseholdEvent, envelope: Envelope) -> dt.date:
    """The business date from which the household's new snapshot holds."""
    if isinstance(payload, HouseholdEnrolled):
        return payload.household.enrolled_on
    if isinstance(payload, HouseholdTransitionStarted):
        return payload.starts_on
    if isinstance(payload, HouseholdTransitionCancelled):
        return payload.cancelled_on
    if isinstance(payload, HouseholdExited):
        return payload.exited_on
    if isinstance(payload, HouseholdExitUndone):
        return payload.undone_on
    if isinstance(payload, HouseholdRelapsed):
        return payload.relapsed_on
    return recorded_on(envelope)


async def on_household_event(uow: UnitOfWork, envelope: Envelope) -> None:
    """Any `registry.household.*.v1`: newest snapshot, and a dated row of status history."""
    payload = parse_payload(envelope.type, envelope.data)
    if not isinstance(payload, HouseholdEvent):
        return
    await record_household(
        uow.session,
        payload.household,
        effective_on=household_change_date(payload, envelope),
        event_type=envelope.type,
    )


async def on_person_event(uow: UnitOfWork, envelope: Envelope) -> None:
    """`registry.person.added/updated/removed.v1`: newest snapshot, and a dated row of membership history."""
    payload = parse_payload(envelope.type, envelope.data)
    if not isinstance(payload, PersonEvent):
        return
    person = payload.person
    session = uow.session
    if not await household_known(session, person.household_id):
        raise ParentMissing("household", person.household_id)
    previous = await previous_household_of(session, person.person_id, person.seq)
    starts_membership = isinstance(payload, PersonAdded) or previous is None or previous != person.household_id
    effective_on = person.member_since if starts_membership else recorded_on(envelope)
    await record_person(session, person, effective_on=effective_on, event_type=envelope.type)


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

handlers: dict[str, Handler] = {
    **{model.event_type: on_household_event for model in _HOUSEHOLD_EVENTS},
    **{model.event_type: on_person_event for model in _PERSON_EVENTS},
}

consumers = [ConsumerSpec(stream="REGISTRY", handlers=handlers)]

"""Households and persons: enrol, list, read, update, membership, lookup, lifecycle actions, history, rewards."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from uplift.common.app import ReadSessionDep, RuntimeDep, UnitOfWorkDep, get_runtime
from uplift.common.concurrency import IF_MATCH_CHECKED, IF_MATCH_REQUIRED, require_if_match, set_etag
from uplift.common.contracts import Category, Cause, ExitReason, HouseholdStatus
from uplift.common.errors import FieldError, NotFound, Unprocessable
from uplift.common.money import MoneyStr
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.registry.service import access, audit, household_read, lifecycle
from uplift.registry.service import households as service
from uplift.registry.service.access import HouseholdReader, HouseholdWriter
from uplift.registry.service.household_schemas import (
    HouseholdCreate,
    HouseholdCreated,
    HouseholdRead,
    HouseholdSummary,
    HouseholdUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
    PersonLookup,
    PersonMatch,
)
from uplift.registry.service.personal_data import PersonalDataVault, vault_for

router = APIRouter(tags=["households"])


async def personal_data_vault(runtime: RuntimeDep) -> PersonalDataVault:
    # async: FastAPI would run a plain function in its thread pool, a hop on every request.
    return vault_for(runtime.settings)


VaultDep = Annotated[PersonalDataVault, Depends(personal_data_vault)]
Pages = Annotated[PageParams, Depends(page_params)]


async def _visible_row(session: Any, principal: Any, household_id: uuid.UUID) -> Any:
    row = await service.household_row(session, household_id)
    if row is None or not await access.may_see(session, principal, row.id, row.community_code):
        raise NotFound(f"household {household_id} not found")
    return row


@router.post("/households", status_code=status.HTTP_201_CREATED, summary="Enrol a household with its members")
async def enrol_household(
    body: HouseholdCreate, principal: HouseholdWriter, uow: UnitOfWorkDep, vault: VaultDep, response: Response
) -> HouseholdCreated:
    household, members = await service.enrol(uow, vault, body, principal=principal)
    await uow.commit()
    set_etag(response, household.version)
    response.headers["Location"] = f"/registry/v1/households/{household.id}"
    return HouseholdCreated(id=household.id, version=household.version, person_ids=[person.id for person in members])


@router.get("/households", summary="List households in the caller's scope")
async def list_households(
    principal: HouseholdReader,
    session: ReadSessionDep,
    pages: Pages,
    street_code: Annotated[str | None, Query(pattern=r"^[0-9]{9}$")] = None,
    community_code: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    status: HouseholdStatus | None = None,
    category: Category | None = None,
    causes: Cause | None = None,
    cohort: str | None = None,
    helper_id: uuid.UUID | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[HouseholdSummary]:
    filters = service.HouseholdFilters(
        street_code=street_code,
        community_code=community_code,
        status=status,
        category=category,
        causes=causes,
        cohort=cohort,
        helper_id=helper_id,
        updated_since=updated_since,
    )
    rows = await service.search(session, principal, filters, after=pages.cursor, limit=pages.limit + 1)
    page = make_page(rows, pages.limit, key=lambda row: [row.updated_at.isoformat(), str(row.id)])
    return Page[HouseholdSummary](items=[service.summary_view(row) for row in page.items], next_cursor=page.next_cursor)


@router.get(
    "/households/{household_id}",
    response_model=HouseholdRead,
    summary="Read a household with its members (PII masked per rights)",
)
async def get_household(household_id: uuid.UUID, principal: HouseholdReader, request: Request) -> Response:
    # The hot read (service/household_read.py): one statement on the read pool, the scope decided from its row,
    # the JSON written from the record. No session unless the read is audited; no other dependency to resolve.
    runtime = get_runtime(request)
    rows = await household_read.fetch(runtime.read_pool, household_id)
    if not rows or not household_read.may_see(principal, rows[0]):
        raise NotFound(f"household {household_id} not found")
    row = rows[0]
    unmasked = principal.can_read_pii()
    body = household_read.household_json(vault_for(runtime.settings), rows, unmasked=unmasked)
    if unmasked:
        async with runtime.sessions() as session:
            # The audit entry commits without waiting for its WAL flush: a crash may lose the last few hundred
            # milliseconds of read entries, and every unmasked read does not pay an fsync.
            await session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
            await audit.record(
                session,
                actor=principal.sub,
                action="household.read_unmasked",
                subject_type="household",
                subject_id=row["id"],
            )
            await session.commit()
    return Response(body, media_type="application/json", headers={"ETag": f'"{row["version"]}"'})


@router.patch("/households/{household_id}", summary="Update a household (If-Match)", dependencies=[IF_MATCH_REQUIRED])
async def update_household(
    household_id: uuid.UUID,
    body: HouseholdUpdate,
    request: Request,
    response: Response,
    principal: HouseholdWriter,
    uow: UnitOfWorkDep,
    vault: VaultDep,
) -> HouseholdSummary:
    household = await service.load_visible_for_update(uow.session, principal, household_id)
    require_if_match(request, household.version)
    await service.update_household(uow, vault, household, body, principal=principal)
    await uow.commit()
    set_etag(response, household.version)
    row = await service.household_row(uow.session, household_id)
    assert row is not None
    return service.summary_view(row)


@router.post(
    "/households/{household_id}/members", status_code=status.HTTP_201_CREATED, summary="Add a member to a household"
)
async def add_member(
    household_id: uuid.UUID,
    body: MemberCreate,
    response: Response,
    principal: HouseholdWriter,
    uow: UnitOfWorkDep,
    vault: VaultDep,
) -> MemberRead:
    household = await service.load_visible_for_update(uow.session, principal, household_id)
    person = await service.add_member(uow, vault, household, body, principal=principal)
    await uow.commit()
    set_etag(response, person.version)
    return service.member_view(vault, person, unmasked=principal.can_read_pii())


@router.patch(
    "/households/{household_id}/members/{person_id}",
    summary="Update a member (If-Match)",
    dependencies=[IF_MATCH_REQUIRED],
)
async def update_member(
    household_id: uuid.UUID,
    person_id: uuid.UUID,
    body: MemberUpdate,
    request: Request,
    response: Response,
    principal: HouseholdWriter,
    uow: UnitOfWorkDep,
    vault: VaultDep,
) -> MemberRead:
    household = await service.load_visible_for_update(uow.session, principal, household_id)
    person = await service.member_for_update(uow.session, household, person_id)
    require_if_match(request, person.version)
    await service.update_member(uow, vault, household, person, body, principal=principal)
    await uow.commit()
    set_etag(response, person.version)
    return service.member_view(vault, person, unmasked=principal.can_read_pii())


@router.delete(
    "/households/{household_id}/members/{person_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member (the person keeps its id for life)",
    dependencies=[IF_MATCH_CHECKED],
    responses={409: {"description": "The member is the household's head: make another member head first."}},
)
async def remove_member(
    household_id: uuid.UUID, person_id: uuid.UUID, request: Request, principal: HouseholdWriter, uow: UnitOfWorkDep
) -> Response:
    household = await service.load_visible_for_update(uow.session, principal, household_id)
    person = await service.member_for_update(uow.session, household, person_id)
    if request.headers.get("if-match") is not None:
        require_if_match(request, person.version)
    await service.remove_member(uow, household, person, principal=principal)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class PersonMatches(BaseModel):
    items: list[PersonMatch]


@router.post("/persons:lookup", summary="Exact lookup by ID number or full name (keyed hashes)")
async def lookup_persons(
    body: PersonLookup, principal: HouseholdReader, session: ReadSessionDep, vault: VaultDep
) -> PersonMatches:
    matches = await service.lookup(session, vault, principal, id_number=body.id_number, name=body.name)
    action = "person.lookup_unmasked" if principal.can_read_pii() else "person.lookup"
    await audit.record_many(
        session,
        [
            {"actor": principal.sub, "action": action, "subject_type": "person", "subject_id": match.person_id}
            for match in matches
        ]
        or [
            {
                "actor": principal.sub,
                "action": "person.lookup",
                "subject_type": "lookup",
                "subject_id": "by_id_number" if body.id_number else "by_name",
                "detail": {"matches": 0},
            }
        ],
    )
    await session.commit()
    return PersonMatches(items=matches)


# --- lifecycle -------------------------------------------------------------------------------------------------

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExitDecision(_Action):
    reason: ExitReason
    exited_on: dt.date
    note: Note | None = None
    employed_person_ids: list[uuid.UUID] | None = None


class RelapseDecision(_Action):
    cause: Cause
    relapsed_on: dt.date
    note: Note | None = None


class TransitionCancellation(_Action):
    cancelled_on: dt.date | None = None


async def _after_action(uow: Any, household_id: uuid.UUID, response: Response) -> HouseholdSummary:
    await uow.commit()
    row = await service.household_row(uow.session, household_id)
    assert row is not None
    set_etag(response, row.version)
    return service.summary_view(row)


@router.post("/households/{household_id}:exit", summary="Exit decision (releases the pairing)")
async def exit_household(
    household_id: uuid.UUID, body: ExitDecision, response: Response, principal: HouseholdWriter, uow: UnitOfWorkDep
) -> HouseholdSummary:
    household = await service.load_visible_for_update(uow.session, principal, household_id)
    members = {person.id for person in await service.active_members(uow.session, household.id)}
    if body.employed_person_ids is not None and not set(body.employed_person_ids) <= members:
        raise Unprocessable(
            "employed_person_ids must be members.", errors=[FieldError("employed_person_ids", "not all are members")]
        )
    await lifecycle.exit_household(
        uow,
        household,
        reason=body.reason,
        exited_on=body.exited_on,
        note=body.note,
        employed=body.employed_person_ids,
        actor=principal.sub,
    )
    return await _after_action(uow, household_id, response)


@router.post("/households/{household_id}:relapse", summary="Relapse (operator decision within monitoring)")
async def relapse_household(
    household_id: uuid.UUID, body: RelapseDecision, response: Response, principal: HouseholdWriter, uow: UnitOfWorkDep
) -> HouseholdSummary:
    household = await service.load_visible_for_update(uow.session, principal, household_id)
    await lifecycle.relapse(
        uow, household, cause=body.cause, relapsed_on=body.relapsed_on, note=body.note, actor=principal.sub
    )
    return await _after_action(uow, household_id, response)


@router.post("/households/{household_id}:cancel-transition", summary="Cancel the transition (back to enrolled)")
async def cancel_transition(
    household_id: uuid.UUID,
    response: Response,
    principal: HouseholdWriter,
    uow: UnitOfWorkDep,
    body: TransitionCancellation | None = None,
) -> HouseholdSummary:
    household = await service.load_visible_for_update(uow.session, principal, household_id)
    on = (body.cancelled_on if body else None) or service.business_today()
    await lifecycle.cancel_transition(uow, household, on=on, actor=principal.sub)
    return await _after_action(uow, household_id, response)


@router.post("/households/{household_id}:undo-exit", summary="Undo an exit recorded in error (within 30 days)")
async def undo_exit(
    household_id: uuid.UUID, response: Response, principal: HouseholdWriter, uow: UnitOfWorkDep
) -> HouseholdSummary:
    household = await service.load_visible_for_update(uow.session, principal, household_id)
    await lifecycle.undo_exit(uow, household, today=service.business_today(), actor=principal.sub)
    return await _after_action(uow, household_id, response)


class HistoryEntry(BaseModel):
    on: dt.date
    action: str
    from_status: str | None
    to_status: str
    reason: str | None
    actor: str
    recorded_at: dt.datetime


class HouseholdHistory(BaseModel):
    household_id: uuid.UUID
    as_of: dt.date | None
    status_as_of: str | None = Field(description="the status on `as_of` (null before enrolment)")
    items: list[HistoryEntry]


@router.get("/households/{household_id}/history", summary="Status history; the status as of a date")
async def household_history(
    household_id: uuid.UUID, principal: HouseholdReader, session: ReadSessionDep, as_of: dt.date | None = None
) -> HouseholdHistory:
    await _visible_row(session, principal, household_id)
    rows = await lifecycle.history_of(session, household_id)
    day = as_of or service.business_today()
    shown = [row for row in rows if as_of is None or row.on <= as_of]
    return HouseholdHistory(
        household_id=household_id,
        as_of=as_of,
        status_as_of=lifecycle.status_as_of(rows, day),
        items=[
            HistoryEntry(
                on=row.on,
                action=row.action,
                from_status=row.from_status,
                to_status=row.to_status,
                reason=row.reason,
                actor=row.actor,
                recorded_at=row.recorded_at,
            )
            for row in shown
        ],
    )


class RewardRead(BaseModel):
    exited_on: dt.date
    year_index: int
    amount: MoneyStr
    granted_on: dt.date


class HouseholdRewards(BaseModel):
    household_id: uuid.UUID
    items: list[RewardRead]


@router.get("/households/{household_id}/rewards", summary="Exit rewards granted (脱贫激励)")
async def household_rewards(
    household_id: uuid.UUID, principal: HouseholdReader, session: ReadSessionDep
) -> HouseholdRewards:
    await _visible_row(session, principal, household_id)
    rows = await lifecycle.rewards_of(session, household_id)
    return HouseholdRewards(
        household_id=household_id,
        items=[
            RewardRead(exited_on=row.exited_on, year_index=row.year_index, amount=row.amount, granted_on=row.granted_on)
            for row in rows
        ],
    )

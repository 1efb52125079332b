"""`/claims`: adjudicate and settle hospital settlements, simulate, read, list and reverse.

Idempotency on `(hospital_code, settlement_no)`: the first settlement answers **201** with the breakdown; the same
settlement sent again with the same body answers **200** with the very same claim (so a hospital can tell a replay
from a new settlement), and with a different body **409** naming the fields that differ. A reversed settlement
number may be sent again and settles as a new claim (201).

The ID number a hospital may send instead of `person_id` is hashed with the deployment's lookup key on arrival
and never stored or logged (it is a `SecretStr` from the moment it is parsed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from uplift.common.app import ReadSessionDep, RuntimeDep, UnitOfWorkDep, get_runtime
from uplift.common.auth import Principal
from uplift.common.contracts import CommunityCode, EnumCode, StreetCode
from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.common.money import MoneyStr, NonNegativeMoney, PositiveMoney, RatioStr
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.pii import InvalidIdNumber, decode_key, id_hash, validate_id_number
from uplift.common.settings import ServiceSettings
from uplift.medical.api.access import ClaimWriter, MedicalReader, json_response
from uplift.medical.domain import Adjudication, Category
from uplift.medical.hot_reads import basis_text, claim_by_id, claim_json
from uplift.medical.service.claims import (
    PAYERS,
    ClaimSubmission,
    SettlementTaken,
    list_claims,
    replay_or_conflict,
    reverse_settled_claim,
    settle_claim,
    simulate_claim,
    standing_claim_with,
)
from uplift.medical.service.insured_persons import Standing, standing_on

router = APIRouter(tags=["claims"])

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")
PayerName = Literal["basic", "critical_illness", "assistance", "charity", "supplementary"]


# --- bodies and answers --------------------------------------------------------------------------------------


class ClaimCreate(BaseModel):
    """One hospital settlement; the person by `person_id` or by `id_number` (exactly one of them)."""

    person_id: uuid.UUID | None = None
    id_number: SecretStr | None = Field(
        default=None, description="resident ID number; hashed on arrival, never stored", max_length=32
    )
    hospital_code: str = Field(min_length=1, max_length=64, examples=["H420102-01"])
    settlement_no: str = Field(min_length=1, max_length=64, examples=["S-2026-000123"])
    hospital_level: Literal[1, 2, 3]
    admitted_on: dt.date
    discharged_on: dt.date
    total: PositiveMoney
    in_policy: NonNegativeMoney


class ClaimLine(BaseModel):
    payer: PayerName
    amount: MoneyStr
    basis: str = Field(description="the figures the line was computed from")


class ClaimBreakdown(BaseModel):
    """What the five lines pay on a settlement and what is left to the patient."""

    person_id: uuid.UUID
    household_id: uuid.UUID | None
    category: Category | None
    street_code: StreetCode | None
    community_code: CommunityCode | None
    hospital_code: str
    settlement_no: str
    hospital_level: int
    admitted_on: dt.date
    discharged_on: dt.date
    policy_year: int
    total: MoneyStr
    in_policy: MoneyStr
    out_of_policy: MoneyStr
    deductible: MoneyStr
    lines: list[ClaimLine]
    out_of_pocket: MoneyStr
    oop_ratio: RatioStr
    in_policy_self_pay: MoneyStr
    cap_met: bool | None = Field(description="null outside the supplementary insurance's categories")
    fund_short: bool = Field(description="the supplementary fund ran short: flag for temporary assistance")


class Reversal(BaseModel):
    reversed_at: dt.datetime
    reversed_on: dt.date
    reason: str
    reason_code: str


class ClaimRead(ClaimBreakdown):
    id: uuid.UUID
    status: Literal["settled", "reversed"]
    settled_at: dt.datetime
    reversal: Reversal | None = None


class ClaimReverse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="free text; kept in the ledger, never in events")
    reason_code: EnumCode = Field(default="reversed", description="lower_snake code carried by the event")


# --- views ---------------------------------------------------------------------------------------------------


def claim_read(claim: dict[str, Any]) -> ClaimRead:
    bases: dict[str, dict[str, str]] = claim["bases"]
    reversal = None
    if claim["status"] == "reversed":
        reversal = Reversal(
            reversed_at=claim["reversed_at"],
            reversed_on=claim["reversed_on"],
            reason=claim["reversal_reason"] or "",
            reason_code=claim["reversal_code"] or "reversed",
        )
    return ClaimRead(
        id=claim["id"],
        status=claim["status"],
        settled_at=claim["settled_at"],
        reversal=reversal,
        person_id=claim["person_id"],
        household_id=claim["household_id"],
        category=claim["category"],
        street_code=claim["street_code"],
        community_code=claim["community_code"],
        hospital_code=claim["hospital_code"],
        settlement_no=claim["settlement_no"],
        hospital_level=claim["hospital_level"],
        admitted_on=claim["admitted_on"],
        discharged_on=claim["discharged_on"],
        policy_year=claim["policy_year"],
        total=claim["total"],
        in_policy=claim["in_policy"],
        out_of_policy=claim["out_of_policy"],
        deductible=claim["deductible"],
        lines=[
            ClaimLine(payer=str(payer), amount=claim[str(payer)], basis=basis_text(bases.get(str(payer), {})))
            for payer in PAYERS
        ],
        out_of_pocket=claim["out_of_pocket"],
        oop_ratio=claim["oop_ratio"],
        in_policy_self_pay=claim["in_policy_self_pay"],
        cap_met=claim["cap_met"],
        fund_short=claim["fund_short"],
    )


def _breakdown(submission: ClaimSubmission, standing: Standing, adjudication: Adjudication) -> ClaimBreakdown:
    return ClaimBreakdown(
        person_id=submission.person_id,
        household_id=standing.household_id,
        category=standing.category,
        street_code=standing.street_code,
        community_code=standing.community_code,
        hospital_code=submission.hospital_code,
        settlement_no=submission.settlement_no,
        hospital_level=submission.hospital_level,
        admitted_on=submission.admitted_on,
        discharged_on=submission.discharged_on,
        policy_year=submission.policy_year,
        total=adjudication.total,
        in_policy=adjudication.in_policy,
        out_of_policy=adjudication.out_of_policy,
        deductible=adjudication.deductible,
        lines=[
            ClaimLine(payer=line.payer.value, amount=line.amount, basis=basis_text(line.basis))
            for line in adjudication.lines
        ],
        out_of_pocket=adjudication.out_of_pocket,
        oop_ratio=adjudication.oop_ratio,
        in_policy_self_pay=adjudication.in_policy_self_pay,
        cap_met=adjudication.cap_met,
        fund_short=adjudication.fund_short,
    )


# --- reading the body ----------------------------------------------------------------------------------------


def _check_body(body: ClaimCreate) -> None:
    """The rules that tie fields together; 422 naming every field at fault."""
    errors = []
    if (body.person_id is None) == (body.id_number is None):
        errors.append(FieldError("person_id", "send exactly one of person_id and id_number"))
    if body.in_policy > body.total:
        errors.append(FieldError("in_policy", f"the in-policy cost {body.in_policy} exceeds the total {body.total}"))
    if body.discharged_on < body.admitted_on:
        errors.append(
            FieldError("discharged_on", f"discharged on {body.discharged_on}, before admission on {body.admitted_on}")
        )
    if errors:
        raise Unprocessable("The claim is invalid; see errors.", errors=errors)


async def _standing_of(session: Any, body: ClaimCreate, settings: ServiceSettings) -> Standing:
    """Who the claim's person was on the discharge date; 422 when the person is unknown."""
    if body.id_number is not None:
        field = "id_number"
        raw = body.id_number.get_secret_value()
        try:
            validate_id_number(raw)
        except InvalidIdNumber as invalid:
            raise Unprocessable("The ID number is not valid.", errors=[FieldError(field, invalid.reason)]) from None
        hashed = id_hash(raw, decode_key(settings.lookup_key, what="lookup key"))
        standing = await standing_on(session, body.discharged_on, id_hash=hashed)
    else:
        field = "person_id"
        standing = await standing_on(session, body.discharged_on, person_id=body.person_id)
    if standing is None:
        raise Unprocessable(
            "The claim's person is not a known insured person.",
            errors=[FieldError(field, "no insured person with this " + field.replace("_", " "))],
        )
    return standing


def _submission(body: ClaimCreate, standing: Standing) -> ClaimSubmission:
    return ClaimSubmission(
        person_id=standing.person_id,
        hospital_code=body.hospital_code,
        settlement_no=body.settlement_no,
        hospital_level=body.hospital_level,
        admitted_on=body.admitted_on,
        discharged_on=body.discharged_on,
        total=body.total,
        in_policy=body.in_policy,
    )


def _visible_to(principal: Principal) -> Any:
    return lambda claim: principal.in_scope(claim["community_code"])


# --- routes --------------------------------------------------------------------------------------------------


@router.post(
    "/claims",
    response_model=ClaimRead,
    status_code=201,
    summary="Adjudicate and settle a hospital settlement",
    responses={
        200: {"model": ClaimRead, "description": "the same settlement was already settled with the same body"},
        409: {"description": "the settlement number is settled with a different body"},
        422: {"description": "invalid claim, unknown person or unknown policy year"},
    },
)
async def submit_claim(body: ClaimCreate, uow: UnitOfWorkDep, runtime: RuntimeDep, _: ClaimWriter) -> Response:
    _check_body(body)
    standing = await _standing_of(uow.session, body, runtime.settings)
    submission = _submission(body, standing)
    try:
        settlement = await settle_claim(uow, submission, standing)
    except SettlementTaken:
        # The settlement number stands already: nothing of this attempt is kept (the unit of work rolls back).
        async with runtime.sessions() as session:
            existing = await standing_claim_with(session, submission.hospital_code, submission.settlement_no)
        if existing is None:  # reversed in the meantime
            raise Conflict("The settlement changed while this claim was settled; send it again.") from None
        settlement = replay_or_conflict(existing, submission)
        return json_response(claim_read(settlement.claim).model_dump_json(), 200)
    await uow.commit()
    return json_response(claim_read(settlement.claim).model_dump_json(), 201 if settlement.created else 200)


@router.post(
    "/claims:simulate",
    response_model=ClaimBreakdown,
    summary="What settling would give now; nothing is saved",
)
async def simulate(body: ClaimCreate, session: ReadSessionDep, runtime: RuntimeDep, _: MedicalReader) -> Response:
    _check_body(body)
    standing = await _standing_of(session, body, runtime.settings)
    submission = _submission(body, standing)
    adjudication, _stored = await simulate_claim(session, submission, standing)
    return json_response(_breakdown(submission, standing, adjudication).model_dump_json())


@router.get("/claims/{claim_id}", response_model=ClaimRead, summary="One claim")
async def read_claim(claim_id: uuid.UUID, request: Request, principal: MedicalReader) -> Response:
    claim = await claim_by_id(get_runtime(request).read_pool, claim_id)
    if claim is None or not principal.in_scope(claim["community_code"]):
        raise NotFound(f"No claim {claim_id}.")
    return Response(content=claim_json(claim), media_type="application/json")  # = claim_read(claim).model_dump_json()


@router.get("/claims", response_model=Page[ClaimRead], summary="Claims, filtered, in settlement order")
async def read_claims(
    session: ReadSessionDep,
    principal: MedicalReader,
    page: Annotated[PageParams, Depends(page_params)],
    person_id: uuid.UUID | None = None,
    policy_year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
    status: Literal["settled", "reversed"] | None = None,
    hospital_code: str | None = None,
    settlement_no: str | None = None,
    updated_since: dt.datetime | None = None,
) -> Response:
    after_id = None
    if page.cursor:
        try:
            after_id = uuid.UUID(str(page.cursor[0]))
        except ValueError:
            raise Unprocessable(
                "The cursor is not valid.", errors=[FieldError("cursor", "not a cursor we issued")]
            ) from None
    rows = await list_claims(
        session,
        limit=page.limit,
        after_id=after_id,
        person_id=person_id,
        policy_year=policy_year,
        status=status,
        hospital_code=hospital_code,
        settlement_no=settlement_no,
        updated_since=updated_since,
        org_prefix=None if principal.is_district_wide else (principal.division_code or "\x00"),
    )
    result = make_page(rows, page.limit, key=lambda claim: [str(claim["id"])])
    body = Page[ClaimRead](items=[claim_read(claim) for claim in result.items], next_cursor=result.next_cursor)
    return json_response(body.model_dump_json())


@router.post(
    "/claims/{claim_id}:reverse",
    response_model=ClaimRead,
    summary="Reverse a settled claim: accumulators, admission and funds restored",
    responses={409: {"description": "the claim is already reversed"}},
)
async def reverse(claim_id: uuid.UUID, body: ClaimReverse, uow: UnitOfWorkDep, principal: ClaimWriter) -> Response:
    claim = await reverse_settled_claim(
        uow,
        claim_id=claim_id,
        reason=body.reason,
        reason_code=body.reason_code,
        reversed_on=dt.datetime.now(BUSINESS_ZONE).date(),
        visible=_visible_to(principal),
    )
    await uow.commit()
    return json_response(claim_read(claim).model_dump_json())

"""Claims: adjudicate a settlement through the five lines, keep the ledger, reverse.

Settling a claim, in one transaction (the order of the locks is the same everywhere, so nothing deadlocks):
1. the policy year's row `FOR SHARE` (its parameters cannot change while the claim settles);
2. the person's accumulators for the year `FOR UPDATE` (created if missing): claims of one person settle one at
   a time, each seeing the totals the previous one left;
3. adjudication with the funds' remainders; the accumulators and the claim row are written — the claim with
   `ON CONFLICT DO NOTHING` on `(hospital_code, settlement_no)` among standing claims: a settlement sent again
   raises `SettlementTaken`, the transaction rolls back and the caller answers with the standing claim (the
   first answer, or 409 for another body);
4. last (a fund's row stays locked from its take to the commit, so the take comes as late as it can), a
   conditional take from each limited fund (`FUND_ORDER`); if a fund moved meanwhile and cannot pay, the funds
   are locked, the claim adjudicated again, its rows rewritten and the takes repeated — they cannot fail under
   the lock. An unlimited fund (charity with budget null) keeps no counter: what it paid is the sum of its lines;
5. the events: `medical.claim.settled`, and `medical.fund.low` when a take crossed the fund's threshold, which
   only the taking transaction can see.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from uplift.common.contracts import ClaimLines, ClaimReversed, ClaimSettled
from uplift.common.db import new_id
from uplift.common.errors import Conflict, FieldError, NotFound, Unprocessable
from uplift.common.unit_of_work import UnitOfWork
from uplift.medical.domain import (
    Accumulators,
    Adjudication,
    ClaimFacts,
    FundDeltas,
    FundState,
    Line,
    Payer,
    adjudicate_claim,
    reverse_claim,
)
from uplift.medical.domain.adjudication import HospitalLevel
from uplift.medical.models import Accumulator, Claim, table_of
from uplift.medical.service.funds import (
    FUND_ORDER,
    FundBalance,
    FundName,
    balance_of,
    emit_if_low,
    fund_balances,
    funds_table,
    give_back_to_fund,
    take_from_fund,
)
from uplift.medical.service.insured_persons import Standing
from uplift.medical.service.policy_years import (
    StoredPolicyYear,
    load_policy_year,
    parsed_policy,
    policy_years_table,
)

claims_table = table_of(Claim)
accumulators_table = table_of(Accumulator)

PAYERS = (Payer.BASIC, Payer.CRITICAL_ILLNESS, Payer.ASSISTANCE, Payer.CHARITY, Payer.SUPPLEMENTARY)
_FUND_PAYER: dict[FundName, Payer] = {"charity": Payer.CHARITY, "supplementary": Payer.SUPPLEMENTARY}
_ACCUMULATOR_FIELDS = ("admissions", "basic_paid", "ci_base", "ci_paid", "assistance_paid", "charity_paid")
# The facts of a settlement that must agree for a repeat to be the same claim.
_SAME_CLAIM_FIELDS = ("person_id", "hospital_level", "admitted_on", "discharged_on", "total", "in_policy")

# The settling path's statements, built once: building and keying a statement per call costs more than running it
# (PERFORMANCE.md: cached statements). Bind names differ from column names, which SQLAlchemy reserves in VALUES and SET.
_ACC_COLUMNS = [accumulators_table.c[name] for name in _ACCUMULATOR_FIELDS]
_ACC_KEY = (
    accumulators_table.c.person_id == sa.bindparam("of_person"),
    accumulators_table.c.policy_year == sa.bindparam("of_year"),
)
_LOCK_ACCUMULATORS = sa.select(*_ACC_COLUMNS).where(*_ACC_KEY).with_for_update()
# The person's first claim of the year: create the row, or lock the one a concurrent claim just created
# (ON CONFLICT DO UPDATE locks the row it finds, as FOR UPDATE would).
_CREATE_ACCUMULATORS = (
    pg_insert(accumulators_table)
    .values(person_id=sa.bindparam("of_person"), policy_year=sa.bindparam("of_year"))
    .on_conflict_do_update(
        index_elements=[accumulators_table.c.person_id, accumulators_table.c.policy_year],
        set_={"admissions": accumulators_table.c.admissions},
    )
    .returning(*_ACC_COLUMNS)
)
_UPDATE_ACCUMULATORS = (
    sa.update(accumulators_table)
    .where(*_ACC_KEY)
    .values(
        **{name: sa.bindparam(f"new_{name}", type_=accumulators_table.c[name].type) for name in _ACCUMULATOR_FIELDS},
        updated_at=sa.func.now(),
    )
)
_POLICY_AND_FUNDS = (
    sa.select(
        policy_years_table.c.version, policy_years_table.c.updated_at, policy_years_table.c.document, *funds_table.c
    )
    .select_from(policy_years_table.join(funds_table, funds_table.c.policy_year == policy_years_table.c.year))
    .where(policy_years_table.c.year == sa.bindparam("of_year"))
    .with_for_update(read=True, of=policy_years_table)
)
_INSERTED_COLUMNS = [
    column
    for column in claims_table.c
    if column.name not in ("settled_at", "updated_at", "reversed_at", "reversed_on", "reversal_reason", "reversal_code")
]
_INSERT_CLAIM = (
    pg_insert(claims_table)
    .values(**{column.name: sa.bindparam(f"new_{column.name}", type_=column.type) for column in _INSERTED_COLUMNS})
    .on_conflict_do_nothing(
        index_elements=[claims_table.c.hospital_code, claims_table.c.settlement_no],
        index_where=sa.text("status = 'settled'"),  # the partial index's predicate, literally
    )
    .returning(*claims_table.c)
)


@dataclass(frozen=True)
class ClaimSubmission:
    """A settlement as sent by the hospital, with the person already resolved."""

    person_id: uuid.UUID
    hospital_code: str
    settlement_no: str
    hospital_level: HospitalLevel
    admitted_on: dt.date
    discharged_on: dt.date
    total: Decimal
    in_policy: Decimal

    @property
    def policy_year(self) -> int:
        """The policy year is the discharge date's year (DOMAIN.md §9)."""
        return self.discharged_on.year


@dataclass(frozen=True)
class Settlement:
    """The outcome of `settle_claim`: the claim as stored, and whether this call created it."""

    claim: dict[str, Any]
    created: bool


class SettlementTaken(Exception):
    """The settlement number belongs to a standing claim (the unique index refused ours): roll back, then
    answer with that claim (`replay_or_conflict`)."""


# --- reading -------------------------------------------------------------------------------------------------

_CLAIM_COLUMNS = tuple(claims_table.c)


async def get_claim(conn: AsyncConnection | AsyncSession, claim_id: uuid.UUID) -> dict[str, Any] | None:
    """One claim as a plain mapping (Core select: the hot read of PERFORMANCE.md)."""
    row = (await conn.execute(sa.select(*_CLAIM_COLUMNS).where(claims_table.c.id == claim_id))).first()
    return None if row is None else dict(row._mapping)


async def list_claims(
    session: AsyncSession,
    *,
    limit: int,
    after_id: uuid.UUID | None,
    person_id: uuid.UUID | None = None,
    policy_year: int | None = None,
    status: str | None = None,
    hospital_code: str | None = None,
    settlement_no: str | None = None,
    updated_since: dt.datetime | None = None,
    org_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Claims in id order (time-ordered ids), `limit + 1` of them so the caller can tell if more follow."""
    c = claims_table.c
    stmt = sa.select(*_CLAIM_COLUMNS).order_by(c.id).limit(limit + 1)
    filters: list[sa.ColumnElement[bool]] = []
    if after_id is not None:
        filters.append(c.id > after_id)
    if person_id is not None:
        filters.append(c.person_id == person_id)
    if policy_year is not None:
        filters.append(c.policy_year == policy_year)
    if status is not None:
        filters.append(c.status == status)
    if hospital_code is not None:
        filters.append(c.hospital_code == hospital_code)
    if settlement_no is not None:
        filters.append(c.settlement_no == settlement_no)
    if updated_since is not None:
        filters.append(c.updated_at >= updated_since)
    if org_prefix is not None:
        filters.append(c.community_code.startswith(org_prefix, autoescape=True))
    if filters:
        stmt = stmt.where(*filters)
    return [dict(row._mapping) for row in (await session.execute(stmt)).all()]


async def get_accumulators(session: AsyncSession, person_id: uuid.UUID, year: int) -> Accumulators:
    """The person's running totals for `year` (zero when no claim stands)."""
    t = accumulators_table
    stmt = sa.select(*(t.c[name] for name in _ACCUMULATOR_FIELDS)).where(
        t.c.person_id == person_id, t.c.policy_year == year
    )
    row = (await session.execute(stmt)).first()
    return Accumulators.zero() if row is None else Accumulators(**row._mapping)


# --- settling ------------------------------------------------------------------------------------------------


async def policy_for_claim(session: AsyncSession, year: int, *, share_lock: bool) -> StoredPolicyYear:
    stored = await load_policy_year(session, year, share_lock=share_lock)
    if stored is None:
        raise Unprocessable(
            f"No policy year {year} is set: the policy year is the discharge date's year.",
            errors=[FieldError("discharged_on", f"policy year {year} has no parameters")],
        )
    return stored


async def _policy_and_funds_for_claim(
    session: AsyncSession, year: int
) -> tuple[StoredPolicyYear, dict[FundName, FundBalance]]:
    """The year's parameters, share-locked until commit, and its funds as they stand: one round trip."""
    rows = (await session.execute(_POLICY_AND_FUNDS, {"of_year": year})).all()
    if not rows:
        await policy_for_claim(session, year, share_lock=False)  # raises the 422 of an unknown year
        raise RuntimeError(f"policy year {year} has no fund rows")
    first = rows[0]
    stored = StoredPolicyYear(year, parsed_policy(year, first.version, first.updated_at, first.document), first.version)
    funds = {balance.fund: balance for balance in (balance_of(row) for row in rows)}
    return stored, funds


def _facts(submission: ClaimSubmission, standing: Standing) -> ClaimFacts:
    return ClaimFacts(
        hospital_level=submission.hospital_level,
        total=submission.total,
        in_policy=submission.in_policy,
        category=standing.category,
        medically_insured=standing.medically_insured,
    )


def _fund_state(funds: dict[FundName, FundBalance]) -> FundState:
    supplementary = funds.get("supplementary")
    charity = funds.get("charity")
    return FundState(
        supplementary_remaining=supplementary.remaining if supplementary else Decimal("0.00"),
        charity_remaining=charity.remaining if charity else None,
    )


async def simulate_claim(
    session: AsyncSession, submission: ClaimSubmission, standing: Standing
) -> tuple[Adjudication, StoredPolicyYear]:
    """What settling would give now, with nothing locked or saved."""
    stored = await policy_for_claim(session, submission.policy_year, share_lock=False)
    acc = await get_accumulators(session, submission.person_id, submission.policy_year)
    funds = await fund_balances(session, submission.policy_year)
    return adjudicate_claim(_facts(submission, standing), stored.policy, acc, _fund_state(funds)), stored


async def _lock_accumulators(session: AsyncSession, person_id: uuid.UUID, year: int) -> Accumulators:
    """The person's accumulators for the year, row-locked until commit (`SELECT … FOR UPDATE`, created if missing)."""
    key = {"of_person": person_id, "of_year": year}
    row = (await session.execute(_LOCK_ACCUMULATORS, key)).first()
    if row is None:
        row = (await session.execute(_CREATE_ACCUMULATORS, key)).one()
    return Accumulators(**row._mapping)


async def standing_claim_with(session: AsyncSession, hospital_code: str, settlement_no: str) -> dict[str, Any] | None:
    """The standing (settled, not reversed) claim of a settlement number, if any."""
    c = claims_table.c
    stmt = sa.select(*_CLAIM_COLUMNS).where(
        c.hospital_code == hospital_code, c.settlement_no == settlement_no, c.status == "settled"
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else dict(row._mapping)


def replay_or_conflict(existing: dict[str, Any], submission: ClaimSubmission) -> Settlement:
    """The first answer when the same settlement is sent again; 409 naming what differs otherwise."""
    differences = [
        FieldError(
            name, f"differs from the settled claim ({existing[name]} was settled, {getattr(submission, name)} sent)"
        )
        for name in _SAME_CLAIM_FIELDS
        if existing[name] != getattr(submission, name)
    ]
    if differences:
        raise Conflict(
            f"Settlement {submission.settlement_no} of hospital {submission.hospital_code} is already settled "
            "with a different body.",
            errors=differences,
            claim_id=str(existing["id"]),
        )
    return Settlement(existing, created=False)


async def _take_funds(uow: UnitOfWork, year: int, deltas: FundDeltas, funds: dict[FundName, FundBalance]) -> bool:
    """Take this claim's share from each limited fund, all or nothing; False when one could no longer pay.

    An unlimited fund (budget null) keeps no counter to contend on: what it paid is the sum of its lines.
    The takes run in a savepoint: a take that fails still holds the row lock it waited for (PostgreSQL locks the
    newest row version before rechecking `used + amount <= budget`), and rolling back to the savepoint is what
    lets go of it, so that the retry can lock the funds afresh in `FUND_ORDER` without deadlocking.
    """
    session = uow.session
    wanted = {"charity": deltas.charity, "supplementary": deltas.supplementary}
    to_take = [
        (fund, wanted[fund])
        for fund in FUND_ORDER
        if wanted[fund] > 0 and fund in funds and funds[fund].budget is not None
    ]
    if not to_take:
        return True
    taken: list[tuple[FundBalance, FundBalance]] = []
    savepoint = await session.begin_nested()
    for fund, amount in to_take:
        after = await take_from_fund(session, year, fund, amount)
        if after is None:
            await savepoint.rollback()  # puts back what was taken and releases the locks
            return False
        taken.append((dataclasses.replace(after, used=after.used - amount), after))
    await savepoint.commit()
    for fund_before, fund_after in taken:
        emit_if_low(uow, fund_before, fund_after)
    return True


def _claim_values(
    claim_id: uuid.UUID, submission: ClaimSubmission, standing: Standing, adjudication: Adjudication
) -> dict[str, Any]:
    return {
        "id": claim_id,
        "person_id": submission.person_id,
        "household_id": standing.household_id,
        "category": None if standing.category is None else str(standing.category),
        "street_code": standing.street_code,
        "community_code": standing.community_code,
        "medically_insured": standing.medically_insured,
        "hospital_code": submission.hospital_code,
        "settlement_no": submission.settlement_no,
        "hospital_level": submission.hospital_level,
        "admitted_on": submission.admitted_on,
        "discharged_on": submission.discharged_on,
        "policy_year": submission.policy_year,
        "total": adjudication.total,
        "in_policy": adjudication.in_policy,
        "out_of_policy": adjudication.out_of_policy,
        "deductible": adjudication.deductible,
        **{str(payer): adjudication.paid_by(payer) for payer in PAYERS},
        "out_of_pocket": adjudication.out_of_pocket,
        "oop_ratio": adjudication.oop_ratio,
        "in_policy_self_pay": adjudication.in_policy_self_pay,
        "cap_met": adjudication.cap_met,
        "fund_short": adjudication.fund_short,
        "charity_fund_short": adjudication.charity_fund_short,
        "ci_base_added": adjudication.ci_base_added,
        "bases": {str(line.payer): line.basis for line in adjudication.lines},
        "status": "settled",
    }


def _settled_payload(claim: dict[str, Any]) -> dict[str, Any]:
    return {
        "claim_id": claim["id"],
        "person_id": claim["person_id"],
        "household_id": claim["household_id"],
        "category": claim["category"],
        "street_code": claim["street_code"],
        "community_code": claim["community_code"],
        "policy_year": claim["policy_year"],
        "discharged_on": claim["discharged_on"],
        "total": claim["total"],
        "in_policy": claim["in_policy"],
        "lines": ClaimLines(**{str(payer): claim[str(payer)] for payer in PAYERS}),
        "out_of_pocket": claim["out_of_pocket"],
        "oop_ratio": claim["oop_ratio"],
        "cap_met": claim["cap_met"],
    }


async def _record_accumulators(
    session: AsyncSession, person_id: uuid.UUID, year: int, adjudication: Adjudication
) -> None:
    after = adjudication.accumulators
    values = {f"new_{name}": getattr(after, name) for name in _ACCUMULATOR_FIELDS}
    await session.execute(_UPDATE_ACCUMULATORS, {"of_person": person_id, "of_year": year, **values})


async def settle_claim(uow: UnitOfWork, submission: ClaimSubmission, standing: Standing) -> Settlement:
    """Adjudicate and settle `submission` for a person of `standing` on the discharge date (see module doc)."""
    session = uow.session
    year = submission.policy_year
    stored, funds = await _policy_and_funds_for_claim(session, year)
    acc = await _lock_accumulators(session, submission.person_id, year)
    facts = _facts(submission, standing)
    adjudication = adjudicate_claim(facts, stored.policy, acc, _fund_state(funds))
    await _record_accumulators(session, submission.person_id, year, adjudication)
    values = _claim_values(new_id(), submission, standing, adjudication)
    inserted = (await session.execute(_INSERT_CLAIM, {f"new_{name}": value for name, value in values.items()})).first()
    if inserted is None:  # the settlement number stands already: the caller answers with that claim
        raise SettlementTaken
    claim = dict(inserted._mapping)
    # The funds come last: their rows stay locked from the take to the commit, so the take is kept short.
    if not await _take_funds(uow, year, adjudication.fund_deltas, funds):
        # A fund moved since we read it and can no longer pay this claim's share: adjudicate again under lock.
        funds = await fund_balances(session, year, lock=True)
        adjudication = adjudicate_claim(facts, stored.policy, acc, _fund_state(funds))
        if not await _take_funds(uow, year, adjudication.fund_deltas, funds):
            raise RuntimeError("a locked fund refused what it was shown to hold")
        await _record_accumulators(session, submission.person_id, year, adjudication)
        values = _claim_values(claim["id"], submission, standing, adjudication)
        updated = await session.execute(
            sa.update(claims_table).where(claims_table.c.id == claim["id"]).values(**values).returning(*_CLAIM_COLUMNS)
        )
        claim = dict(updated.one()._mapping)
    payload = ClaimSettled(**_settled_payload(claim))
    uow.emit(ClaimSettled.event_type, subject=payload.aggregate_id, data=payload)
    return Settlement(claim, created=True)


# --- reversing -----------------------------------------------------------------------------------------------


def _adjudication_of(claim: dict[str, Any]) -> Adjudication:
    """The stored claim as an `Adjudication`, enough for `reverse_claim` to take it off the accumulators."""
    return Adjudication(
        total=claim["total"],
        in_policy=claim["in_policy"],
        out_of_policy=claim["out_of_policy"],
        deductible=claim["deductible"],
        lines=tuple(Line(payer, claim[str(payer)], claim["bases"].get(str(payer), {})) for payer in PAYERS),
        out_of_pocket=claim["out_of_pocket"],
        oop_ratio=claim["oop_ratio"],
        in_policy_self_pay=claim["in_policy_self_pay"],
        cap_met=claim["cap_met"],
        fund_short=claim["fund_short"],
        charity_fund_short=claim["charity_fund_short"],
        ci_base_added=claim["ci_base_added"],
        accumulators=Accumulators.zero(),  # not needed to reverse
        fund_deltas=FundDeltas(supplementary=claim["supplementary"], charity=claim["charity"]),
    )


async def reverse_settled_claim(
    uow: UnitOfWork,
    *,
    claim_id: uuid.UUID,
    reason: str,
    reason_code: str,
    reversed_on: dt.date,
    visible: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """Reverse a standing claim: its amounts and admission off the accumulators, its shares back to the funds.

    Later claims of the person stay as settled. `reason` (free text) stays in the database; the event carries
    only `reason_code`. 404 when the claim is unknown or not `visible` to the caller, 409 when already reversed.
    """
    session = uow.session
    found = await get_claim(session, claim_id)
    if found is None or not visible(found):
        raise NotFound(f"No claim {claim_id}.")
    # Locks in the order a settlement takes them (policy year, the person's accumulators, then the claim), so a
    # reversal and a settlement of the same person never wait for each other in a circle.
    year = found["policy_year"]
    await load_policy_year(session, year, share_lock=True)  # budgets cannot switch between limited and not
    acc = await _lock_accumulators(session, found["person_id"], year)
    locked = (
        await session.execute(sa.select(*_CLAIM_COLUMNS).where(claims_table.c.id == claim_id).with_for_update())
    ).one()
    claim = dict(locked._mapping)
    if claim["status"] == "reversed":
        raise Conflict(f"Claim {claim_id} is already reversed.", status_now="reversed")
    after = reverse_claim(acc, _adjudication_of(claim))
    await session.execute(
        sa.update(accumulators_table)
        .where(accumulators_table.c.person_id == claim["person_id"], accumulators_table.c.policy_year == year)
        .values(**{name: getattr(after, name) for name in _ACCUMULATOR_FIELDS}, updated_at=sa.func.now())
    )
    funds = await fund_balances(session, year)
    for fund in FUND_ORDER:
        amount = claim[str(_FUND_PAYER[fund])]
        if amount > 0 and fund in funds and funds[fund].budget is not None:
            await give_back_to_fund(session, year, fund, amount)
    updated = (
        await session.execute(
            sa.update(claims_table)
            .where(claims_table.c.id == claim_id)
            .values(
                status="reversed",
                reversed_at=sa.func.now(),
                reversed_on=reversed_on,
                reversal_reason=reason,
                reversal_code=reason_code,
                updated_at=sa.func.now(),
            )
            .returning(*_CLAIM_COLUMNS)
        )
    ).one()
    reversed_claim = dict(updated._mapping)
    payload = ClaimReversed(**_settled_payload(reversed_claim), reason=reason_code, reversed_on=reversed_on)
    uow.emit(ClaimReversed.event_type, subject=payload.aggregate_id, data=payload)
    return reversed_claim

"""Tables of the medical schema: policy years, funds, accumulators, claims, and the projection of the registry.

Money is `numeric(14, 2)`. Use cases query these tables through SQLAlchemy Core (`Model.__table__`): the claim
path takes row locks and conditional updates that read plainest as SQL, and hot reads stay off the ORM
(PERFORMANCE.md). No personal data is stored here: persons are known by `person_id` and `id_hash` only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from uplift.medical.db import Base, metadata, platform

MONEY = sa.Numeric(14, 2)
ZERO = Decimal("0.00")

__all__ = [
    "Accumulator",
    "Base",
    "Claim",
    "Fund",
    "HouseholdStatusChange",
    "InsuredHousehold",
    "InsuredPerson",
    "Membership",
    "PolicyYearRecord",
    "metadata",
    "platform",
]


def _created_at() -> Mapped[dt.datetime]:
    return mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class PolicyYearRecord(Base):
    """The five lines' parameters of one policy year, as the validated JSON document."""

    __tablename__ = "policy_years"

    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _created_at()


class Fund(Base):
    """A year's fund (supplementary insurance or charity): its budget (null = unlimited) and what claims used."""

    __tablename__ = "funds"

    policy_year: Mapped[int] = mapped_column(
        sa.Integer, sa.ForeignKey("policy_years.year"), primary_key=True, autoincrement=False
    )
    fund: Mapped[str] = mapped_column(sa.Text, primary_key=True)  # supplementary | charity
    budget: Mapped[Decimal | None] = mapped_column(MONEY)
    used: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=ZERO)
    low_threshold_ratio: Mapped[Decimal] = mapped_column(sa.Numeric(6, 4), nullable=False)

    __table_args__ = (
        sa.CheckConstraint("fund IN ('supplementary', 'charity')", name="fund_name"),
        # The last line of defense against overspending: no concurrency bug can push `used` past the budget.
        sa.CheckConstraint("used >= 0 AND (budget IS NULL OR used <= budget)", name="within_budget"),
    )


class Accumulator(Base):
    """A person's running totals for one policy year over settled, not reversed claims (row-locked per claim)."""

    __tablename__ = "accumulators"

    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    policy_year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    admissions: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    basic_paid: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=ZERO)
    ci_base: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=ZERO)
    ci_paid: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=ZERO)
    assistance_paid: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=ZERO)
    charity_paid: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=ZERO)
    updated_at: Mapped[dt.datetime] = _created_at()


class Claim(Base):
    """One hospital settlement as adjudicated: the facts sent, the breakdown, and its reversal if any."""

    __tablename__ = "claims"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    household_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    category: Mapped[str | None] = mapped_column(sa.Text)
    street_code: Mapped[str | None] = mapped_column(sa.Text)
    community_code: Mapped[str | None] = mapped_column(sa.Text)
    medically_insured: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    hospital_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    settlement_no: Mapped[str] = mapped_column(sa.Text, nullable=False)
    hospital_level: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False)
    admitted_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    discharged_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    policy_year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    total: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    in_policy: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    out_of_policy: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    deductible: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    basic: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    critical_illness: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    assistance: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    charity: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    supplementary: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    out_of_pocket: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    oop_ratio: Mapped[Decimal] = mapped_column(sa.Numeric(6, 4), nullable=False)
    in_policy_self_pay: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    cap_met: Mapped[bool | None] = mapped_column(sa.Boolean)
    fund_short: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)  # flag for temporary assistance
    charity_fund_short: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    # What this claim added to the critical-illness running total: a reversal takes exactly this off again.
    ci_base_added: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    bases: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)  # payer -> {figure: value}
    status: Mapped[str] = mapped_column(sa.Text, nullable=False, default="settled")  # settled | reversed
    settled_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _created_at()
    reversed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    reversed_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    reversal_reason: Mapped[str | None] = mapped_column(sa.Text)  # free text: stays here, never in an event
    reversal_code: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.CheckConstraint("status IN ('settled', 'reversed')", name="status"),
        sa.CheckConstraint(
            "basic + critical_illness + assistance + charity + supplementary + out_of_pocket = total",
            name="lines_add_up",
        ),
        # Idempotency key of a settlement among the claims that stand; a reversed one may be sent again.
        sa.Index(
            "uq_claims_settlement_settled",
            "hospital_code",
            "settlement_no",
            unique=True,
            postgresql_where=sa.text("status = 'settled'"),
        ),
        sa.Index("ix_claims_person_id_policy_year", "person_id", "policy_year", "id"),
        sa.Index("ix_claims_policy_year_status", "policy_year", "status"),
        sa.Index("ix_claims_updated_at", "updated_at"),
    )


class InsuredPerson(Base):
    """A person as the registry last described them (newest snapshot by `seq`)."""

    __tablename__ = "persons"

    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    id_hash: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    medical_insured: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    updated_at: Mapped[dt.datetime] = _created_at()


class Membership(Base):
    """One person snapshot in history: which household the person belonged to from `effective_on`."""

    __tablename__ = "memberships"

    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    medical_insured: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    effective_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    event_type: Mapped[str] = mapped_column(sa.Text, nullable=False)

    __table_args__ = (sa.Index("ix_memberships_person_id_effective_on", "person_id", "effective_on"),)


class InsuredHousehold(Base):
    """A household as the registry last described it (newest snapshot by `seq`)."""

    __tablename__ = "households"

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    category: Mapped[str] = mapped_column(sa.Text, nullable=False)
    street_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    community_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    updated_at: Mapped[dt.datetime] = _created_at()


class HouseholdStatusChange(Base):
    """One household snapshot in history: its status and category from `effective_on` (a business date)."""

    __tablename__ = "household_statuses"

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    category: Mapped[str] = mapped_column(sa.Text, nullable=False)
    street_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    community_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    effective_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    event_type: Mapped[str] = mapped_column(sa.Text, nullable=False)

    __table_args__ = (sa.Index("ix_household_statuses_household_id_effective_on", "household_id", "effective_on"),)


def table_of(model: type[Base]) -> sa.Table:
    """The Core table of a model (typed as a `Table`, which is what Core statements want)."""
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table

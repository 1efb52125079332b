"""Org units, households, persons, status history, parameters, rewards, audit log, imports.

Personal data (names, ID numbers, phones, addresses, illness notes) lives only in the `*_enc` columns, encrypted
with `FieldCipher` (associated data = the column's name); `id_hash` and `name_hash` are keyed hashes for exact
lookup. Everything else is plain data that may travel in events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from uplift.common.db import IdMixin, TimestampMixin, VersionMixin, new_id
from uplift.registry.db import Base

MONEY = sa.Numeric(14, 2)


class OrgUnit(TimestampMixin, Base):
    """A division of the district (statistical division codes) or a department with a code of its own."""

    __tablename__ = "org_units"

    code: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    kind: Mapped[str] = mapped_column(sa.Text, nullable=False)  # district | street | community | grid | department
    parent_code: Mapped[str | None] = mapped_column(sa.Text, sa.ForeignKey("org_units.code"), index=True)
    linked_streets: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False, default=list)


class Household(IdMixin, TimestampMixin, VersionMixin, Base):
    """A household of the registry (对象库) with its lifecycle state and income model."""

    __tablename__ = "households"

    street_code: Mapped[str] = mapped_column(sa.Text, sa.ForeignKey("org_units.code"), nullable=False, index=True)
    community_code: Mapped[str] = mapped_column(sa.Text, sa.ForeignKey("org_units.code"), nullable=False, index=True)
    address_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    category: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    cohort: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    enrolled_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    # Income model (DOMAIN.md 2): what the operator records plus the wages of active placements.
    recorded_income: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=Decimal("0.00"))
    placement_wages: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=Decimal("0.00"))
    monthly_income: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=Decimal("0.00"))
    dibao_monthly: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=Decimal("0.00"))
    causes: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False, default=list)
    size: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)  # active members
    zero_employment: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    relapsed: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    head_person_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    transition_starts_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    transition_ends_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    exit_reason: Mapped[str | None] = mapped_column(sa.Text)
    exited_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    monitoring_until: Mapped[dt.date | None] = mapped_column(sa.Date)
    exit_employed_person_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, default=list
    )
    # What the household was before its exit, so that an exit recorded in error can be undone exactly.
    exit_previous_status: Mapped[str | None] = mapped_column(sa.Text)
    exit_previous_transition_starts_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    exit_previous_transition_ends_on: Mapped[dt.date | None] = mapped_column(sa.Date)

    __table_args__ = (
        sa.Index("ix_households_updated_at_id", "updated_at", "id"),
        sa.Index("ix_households_causes", "causes", postgresql_using="gin"),
        sa.Index(
            "ix_households_transition_ends_on", "transition_ends_on", postgresql_where=sa.text("status = 'transition'")
        ),
    )


class Person(IdMixin, TimestampMixin, VersionMixin, Base):
    """A person, one per ID number for life; a member of one household at a time."""

    __tablename__ = "persons"

    household_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("households.id"), nullable=False, index=True
    )
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    member_since: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    relation: Mapped[str] = mapped_column(sa.Text, nullable=False)
    name_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    id_number_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    phone_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    id_hash: Mapped[str] = mapped_column(sa.Text, nullable=False, unique=True)
    name_hash: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    birth_date: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    sex: Mapped[str] = mapped_column(sa.Text, nullable=False)
    education: Mapped[str] = mapped_column(sa.Text, nullable=False)
    work_ability: Mapped[str] = mapped_column(sa.Text, nullable=False)
    employment_status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    disability_level: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False, default=0)
    chronic_illness: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    illness_note_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    skills: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False, default=list)
    pension_insured: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    medical_insured: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class StatusChangeRow(Base):
    """One row of a household's status history (who, when, why)."""

    __tablename__ = "status_history"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    household_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("households.id"), nullable=False, index=True
    )
    on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    action: Mapped[str] = mapped_column(sa.Text, nullable=False)
    from_status: Mapped[str | None] = mapped_column(sa.Text)
    to_status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str | None] = mapped_column(sa.Text)  # the operator's words; may name people, so never in events
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


class IncomeRecordRow(Base):
    """Per-capita income as recorded on a date, for the exit reward's year-long check (脱贫激励)."""

    __tablename__ = "income_records"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    household_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("households.id"), nullable=False, index=True
    )
    recorded_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    monthly_income: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    active_members: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    per_capita_income: Mapped[Decimal] = mapped_column(MONEY, nullable=False)


class ParameterVersionRow(Base):
    """One stored version of the parameters: the values it changes from `effective_from` on."""

    __tablename__ = "parameter_versions"

    effective_from: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


class RewardRow(Base):
    """An exit reward granted at anniversary `year_index` of an employment exit."""

    __tablename__ = "rewards"

    household_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("households.id"), primary_key=True
    )
    exited_on: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    year_index: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    granted_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)


class AuditEntry(Base):
    """Who read unmasked personal data or changed what; never the personal data itself."""

    __tablename__ = "audit_log"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now(), index=True
    )
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    action: Mapped[str] = mapped_column(sa.Text, nullable=False)
    subject_type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    subject_id: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)


class PlacementRow(Base):
    """A member's placement as matching reported it; makes wage add/remove idempotent per placement."""

    __tablename__ = "placements"

    placement_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    monthly_wage: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    started_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    ended_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)


class MedicalClaimRow(Base):
    """A member's settled claim as medical reported it, for the medical-hardship rule."""

    __tablename__ = "medical_claims"

    claim_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    out_of_pocket: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    discharged_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    cap_met: Mapped[bool | None] = mapped_column(sa.Boolean)
    reversed: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class ImportJob(Base):
    """A bulk import: its progress and outcome (rejected rows carry row numbers and reasons, never PII)."""

    __tablename__ = "imports"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)  # queued | running | succeeded | failed
    dry_run: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    file_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    file_type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    org: Mapped[str | None] = mapped_column(sa.Text)
    rows_read: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    households_read: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    households_applied: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    households_enrolled: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    households_updated: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    households_unchanged: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    households_rejected: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    rejected: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    progressed_at: Mapped[dt.datetime] = mapped_column(  # the job's heartbeat: set with every batch
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

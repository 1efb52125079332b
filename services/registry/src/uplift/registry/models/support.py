"""Cadres, party branches, contracts, pairings, visits, assistance-plan measures, policies, alerts.

Household references are plain uuid columns here; the foreign keys to `registry.households` live in the
0003 migration, so this module does not depend on the household models' import order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from uplift.common.db import IdMixin, TimestampMixin, VersionMixin
from uplift.registry.db import Base


class Cadre(IdMixin, TimestampMixin, VersionMixin, Base):
    """党员干部: staff data (not resident PII), so the name is stored plainly."""

    __tablename__ = "cadres"

    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    rank: Mapped[str] = mapped_column(sa.Text, nullable=False)
    department_code: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    home_street_code: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)


class PartyBranch(IdMixin, TimestampMixin, VersionMixin, Base):
    """党支部: belongs to a department or to a community (exactly one of the two)."""

    __tablename__ = "party_branches"

    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    department_code: Mapped[str | None] = mapped_column(sa.Text, index=True)
    community_code: Mapped[str | None] = mapped_column(sa.Text, index=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)


class ResponsibilityContract(IdMixin, TimestampMixin, Base):
    """责任状: a helper's signed responsibility for a period."""

    __tablename__ = "contracts"

    helper_kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    helper_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    department_code: Mapped[str | None] = mapped_column(sa.Text, index=True)
    signed_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    period_from: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    period_to: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)


class Pairing(IdMixin, TimestampMixin, Base):
    """党员包户: a helper responsible for a household; at most one active pairing per household."""

    __tablename__ = "pairings"
    __table_args__ = (
        sa.Index(
            "uq_pairings_active_household",
            "household_id",
            unique=True,
            postgresql_where=sa.text("active"),
        ),
        sa.Index("ix_pairings_active_helper", "helper_id", postgresql_where=sa.text("active")),
    )

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    helper_kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    helper_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    department_code: Mapped[str | None] = mapped_column(sa.Text, index=True)
    street_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    started_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    ended_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    assigned_by: Mapped[str] = mapped_column(sa.Text, nullable=False)  # "auto" or the caller's subject
    end_reason: Mapped[str | None] = mapped_column(sa.Text)


class Visit(IdMixin, TimestampMixin, Base):
    """入户走访. `findings` may hold personal details: stored encrypted, never put in events."""

    __tablename__ = "visits"
    __table_args__ = (sa.Index("ix_visits_household_id_visited_on", "household_id", "visited_on"),)

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    helper_kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    helper_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    department_code: Mapped[str | None] = mapped_column(sa.Text, index=True)
    visited_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False, index=True)
    findings_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    needs: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False, default=list)
    satisfaction: Mapped[int | None] = mapped_column(sa.SmallInteger)
    recorded_by: Mapped[str] = mapped_column(sa.Text, nullable=False)


class Measure(IdMixin, TimestampMixin, VersionMixin, Base):
    """One measure of a household's assistance plan (一户一策)."""

    __tablename__ = "measures"

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    policy_code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    person_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False, default=list)
    helper_kind: Mapped[str | None] = mapped_column(sa.Text)
    helper_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    department_code: Mapped[str | None] = mapped_column(sa.Text, index=True)
    due_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False, default="planned")
    completed_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    note: Mapped[str | None] = mapped_column(sa.Text)
    planned_by: Mapped[str] = mapped_column(sa.Text, nullable=False)


class Policy(TimestampMixin, VersionMixin, Base):
    """A policy of the toolbox (政策工具箱) with its CEL eligibility expression."""

    __tablename__ = "policies"

    code: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    area: Mapped[str] = mapped_column(sa.Text, nullable=False, index=True)
    name_zh: Mapped[str] = mapped_column(sa.Text, nullable=False)
    name_en: Mapped[str] = mapped_column(sa.Text, nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    eligibility: Mapped[str] = mapped_column(sa.Text, nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)


class Alert(IdMixin, TimestampMixin, Base):
    """动态监测: an alert with the facts that triggered it; at most one unresolved per (household, kind)."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.Index(
            "uq_alerts_unresolved_household_kind",
            "household_id",
            "kind",
            unique=True,
            postgresql_where=sa.text("status <> 'resolved'"),
        ),
        sa.Index("ix_alerts_status_kind", "status", "kind"),
    )

    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    severity: Mapped[str] = mapped_column(sa.Text, nullable=False)
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False, default="open")
    raised_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    last_triggered_on: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    triggers: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(sa.Text)
    resolved_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(sa.Text)
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)

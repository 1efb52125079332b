"""The metrics schema: the projections the consumers build from every service's events, and the weights.

Projection tables hold only what the events carry (no arrival times), so a rebuild by replaying the streams
gives exactly the same rows. Each row is keyed by a natural key (an aggregate id, or aggregate id + `seq` for
history rows) so that applying an event twice changes nothing. Org codes use the "C" collation so that a
prefix match (`LIKE '420102001%'`) can use the indexes.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from uplift.metrics.db import Base, metadata, platform

CODE = sa.Text(collation="C")
MONEY = sa.Numeric(14, 2)

# --- registry: households and their histories

households = sa.Table(
    "households",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("street_code", CODE, nullable=False),
    sa.Column("community_code", CODE, nullable=False),
    sa.Column("cohort", sa.Text, nullable=False),
    sa.Column("enrolled_on", sa.Date, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("monthly_income", MONEY, nullable=False),
    sa.Column("relapsed", sa.Boolean, nullable=False),
    sa.Column("zero_employment", sa.Boolean, nullable=False),
    sa.Index("ix_households_community_code", "community_code"),
    sa.Index("ix_households_cohort", "cohort"),
)

# One row per status-changing household event, kept raw: `kind` is the event (transition_started,
# transition_cancelled, exited, exit_undone, relapsed). The reader resolves undone exits and sorts by
# (effective_on, seq), so the rows can arrive in any order.
household_status_events = sa.Table(
    "household_status_events",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("effective_on", sa.Date, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("exit_reason", sa.Text),
    sa.Column("monitoring_until", sa.Date),
    sa.Index(
        "ix_household_status_events_relapsed_on",
        "effective_on",
        postgresql_where=sa.text("kind = 'relapsed'"),  # the relapses of a period
    ),
)

# The community a household lived in from `effective_on`: the enrolment one, then every move.
household_communities = sa.Table(
    "household_communities",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("effective_on", sa.Date, nullable=False),
    sa.Column("community_code", CODE, nullable=False),
    sa.Index("ix_household_communities_community_code", "community_code"),
)

# registry.pairing.assigned / released, one row per event (`seq` of the household's pairing aggregate).
pairing_events = sa.Table(
    "pairing_events",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("action", sa.Text, nullable=False),  # assigned | released
    sa.Column("helper_kind", sa.Text, nullable=False),
    sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
    sa.Column("department_code", CODE),
    sa.Column("street_code", CODE, nullable=False),
    sa.Column("on", sa.Date, nullable=False),
    sa.Index("ix_pairing_events_department_code", "department_code"),
)

persons = sa.Table(
    "persons",
    metadata,
    sa.Column("person_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("member_since", sa.Date, nullable=False),
    sa.Column("birth_year", sa.Integer, nullable=False),
    sa.Column("sex", sa.Text, nullable=False),
    sa.Column("work_ability", sa.Text, nullable=False),
    sa.Column("employment_status", sa.Text, nullable=False),
    sa.Column("disability_level", sa.Integer, nullable=False),
    sa.Column("chronic_illness", sa.Boolean, nullable=False),
    sa.Column("education", sa.Text, nullable=False),
    sa.Column("pension_insured", sa.Boolean, nullable=False),
    sa.Column("medical_insured", sa.Boolean, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

visits = sa.Table(
    "visits",
    metadata,
    sa.Column("visit_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("helper_kind", sa.Text, nullable=False),
    sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
    sa.Column("department_code", CODE),
    sa.Column("visited_on", sa.Date, nullable=False, index=True),
    sa.Column("satisfaction", sa.SmallInteger),
    sa.Index("ix_visits_department_code_visited_on", "department_code", "visited_on"),
)

measures = sa.Table(
    "measures",
    metadata,
    sa.Column("measure_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("policy_code", sa.Text, nullable=False),
    sa.Column("helper_kind", sa.Text),
    sa.Column("helper_id", UUID(as_uuid=True)),
    sa.Column("department_code", CODE),
    sa.Column("due_on", sa.Date, nullable=False, index=True),
    sa.Column("completed_on", sa.Date),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # open | resolved (the newest event's)
    sa.Column("raised_on", sa.Date),
    sa.Column("resolved_on", sa.Date),
)

rewards = sa.Table(
    "rewards",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("year_index", sa.SmallInteger, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("granted_on", sa.Date, nullable=False),
)

# registry.parameters.set: the versions of visit_interval_days (the only parameter an indicator uses).
visit_intervals = sa.Table(
    "visit_intervals",
    metadata,
    sa.Column("effective_from", sa.Date, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("visit_interval_days", sa.Integer, nullable=False),
)

# --- matching

placements = sa.Table(
    "placements",
    metadata,
    sa.Column("placement_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_id", UUID(as_uuid=True), nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), nullable=False, index=True),
    # null until matching.placement.hired arrives (a retention or end may come first after a redelivery)
    sa.Column("posting_id", UUID(as_uuid=True)),
    sa.Column("monthly_wage", MONEY),
    sa.Column("public_welfare", sa.Boolean),
    sa.Column("remote", sa.Boolean),
    sa.Column("started_on", sa.Date, index=True),
    sa.Column("retained_3m_on", sa.Date),
    sa.Column("retained_6m_on", sa.Date),
    sa.Column("ended_on", sa.Date),
    sa.Column("end_reason", sa.Text),
)

trainings_completed = sa.Table(
    "trainings_completed",
    metadata,
    sa.Column("training_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("skills", JSONB, nullable=False),
    sa.Column("completed_on", sa.Date, nullable=False),
)

# --- medical

claims = sa.Table(
    "claims",
    metadata,
    sa.Column("claim_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_id", UUID(as_uuid=True), nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), index=True),
    sa.Column("category", sa.Text),
    sa.Column("street_code", CODE),
    sa.Column("community_code", CODE, index=True),
    sa.Column("policy_year", sa.Integer, nullable=False, index=True),
    sa.Column("discharged_on", sa.Date, nullable=False, index=True),
    sa.Column("total", MONEY, nullable=False),
    sa.Column("in_policy", MONEY, nullable=False),
    sa.Column("supplementary", MONEY, nullable=False),
    sa.Column("charity", MONEY, nullable=False),
    sa.Column("out_of_pocket", MONEY, nullable=False),
    sa.Column("cap_met", sa.Boolean),
    sa.Column("reversed", sa.Boolean, nullable=False),
    sa.Column("reversed_on", sa.Date),
)

fund_budgets = sa.Table(
    "fund_budgets",
    metadata,
    sa.Column("policy_year", sa.Integer, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("supplementary_budget", MONEY, nullable=False),
    sa.Column("charity_budget", MONEY),
)

fund_low_events = sa.Table(
    "fund_low_events",
    metadata,
    sa.Column("policy_year", sa.Integer, primary_key=True),
    sa.Column("fund", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("remaining", MONEY, nullable=False),
    sa.Column("budget", MONEY, nullable=False),
)

# --- derived from the household histories above (rewritten for a household whenever one of them changes)
# Each span says the state at the end of every day from `valid_from` up to the day before `valid_to` (null:
# still so), as `HouseholdFacts` answers it; the SQL indicators read them instead of replaying histories.

status_spans = sa.Table(
    "status_spans",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("valid_from", sa.Date, primary_key=True),
    sa.Column("valid_to", sa.Date),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("lifted", sa.Boolean, nullable=False),  # exited with a 脱贫 reason
    sa.Column("monitoring_until", sa.Date),
)

community_spans = sa.Table(
    "community_spans",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("valid_from", sa.Date, primary_key=True),
    sa.Column("valid_to", sa.Date),
    sa.Column("community_code", CODE, nullable=False),
    sa.Index("ix_community_spans_community_code", "community_code"),
    sa.Index("ix_community_spans_valid_from", "valid_from"),  # the households that moved within a period
)

helper_spans = sa.Table(
    "helper_spans",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("valid_from", sa.Date, primary_key=True),
    sa.Column("valid_to", sa.Date),
    sa.Column("helper_kind", sa.Text, nullable=False),
    sa.Column("helper_id", UUID(as_uuid=True), nullable=False),
    sa.Column("department_code", CODE),
)

# --- pre-aggregated counts (module `aggregates`), maintained with the spans in the same transaction
# `scope_code` is '' for every household (the district scope), else a community's code (a street or community
# scope sums the codes that start with its own); `cohort` is '' for every cohort, else one cohort (cohorts are
# never empty). The state columns hold the
# change on `day` of the number of households in that state at the end of the day (by their community then), so
# the count at the end of D is the sum over `day <= D`; `rated` and `satisfied` count the visits made on `day`
# (by the household's community that day; every cohort only).

household_counts = sa.Table(
    "household_counts",
    metadata,
    sa.Column("scope_code", CODE, primary_key=True),
    sa.Column("cohort", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("enrolled", sa.Integer, nullable=False),  # enrolled on or before the day (any status since)
    sa.Column("lifted", sa.Integer, nullable=False),  # exited with a 脱贫 reason
    sa.Column("in_programme", sa.Integer, nullable=False),  # enrolled or in transition
    sa.Column("paired", sa.Integer, nullable=False),  # with an active helper
    sa.Column("covered", sa.Integer, nullable=False),  # in the programme and paired
    sa.Column("monitored", sa.Integer, nullable=False),  # lifted and the day on or before monitoring_until
    sa.Column("rated", sa.Integer, nullable=False),  # visits with a satisfaction
    sa.Column("satisfied", sa.Integer, nullable=False),  # visits with a satisfaction of 4 or 5
)

# Households in a state by the date of a fact, for the numerators "in that state and with such a fact":
# - `visit`: paired, by the date of the latest visit on or before the day; the sum of `households` over
#   `day <= D` and `fact_on` within the visit interval ending on D counts the paired households visited in it;
# - `hire`: in the programme, by the date of the first hire (placement started) after the day; the sum over
#   `day <= eve` and `fact_on` within the period counts those in the programme at its start hired during it;
# - `relapse`: under monitoring after a 脱贫 exit, by the date of the first relapse after the day (the same way).
fact_coverage = sa.Table(
    "fact_coverage",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),  # visit | hire | relapse
    sa.Column("scope_code", CODE, primary_key=True),
    sa.Column("cohort", sa.Text, primary_key=True),
    sa.Column("fact_on", sa.Date, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("households", sa.Integer, nullable=False),
)

# What each household adds to the two tables above (before they are split by scope and cohort), so that a
# change to a household takes its old contribution away exactly. Households the projection does not know yet
# (visits that arrived first) contribute their visits to the district only.
household_contributions = sa.Table(
    "household_contributions",
    metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("cohort", sa.Text),  # null for a household the projection does not know
    sa.Column("counts", JSONB, nullable=False),  # [[community or null, day, enrolled, lifted, ...], ...]
    sa.Column("coverage", JSONB, nullable=False),  # [[kind, community, day, fact_on, households], ...]
)

PROJECTION_TABLES: tuple[sa.Table, ...] = (
    households,
    household_status_events,
    household_communities,
    pairing_events,
    persons,
    visits,
    measures,
    alerts,
    rewards,
    visit_intervals,
    placements,
    trainings_completed,
    claims,
    fund_budgets,
    fund_low_events,
    status_spans,
    community_spans,
    helper_spans,
    household_contributions,
    household_counts,
    fact_coverage,
)
"""Everything a rebuild replaces (and compares)."""

# --- not projections

# A counter per writer (each stream's consumer, the rebuild) bumped with every change to the projections:
# cached indicator results are keyed by the sum, so a cache entry lives exactly until the next change.
projection_versions = sa.Table(
    "projection_versions",
    metadata,
    sa.Column("writer", sa.Text, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

# Assessment weights (PUT /assessments/weights): every version kept, the newest in force.
assessment_weights = sa.Table(
    "assessment_weights",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("weights", JSONB, nullable=False),
    sa.Column("set_by", sa.Text, nullable=False),
    sa.Column("set_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

__all__ = ["PROJECTION_TABLES", "Base", "metadata", "platform"]

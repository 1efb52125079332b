"""The hot read, `GET /households/{id}`: one prepared statement on the read pool, the scope check on its row, and
the JSON written straight from the record (PERFORMANCE.md: simple hot reads at ≥ 50% of a bare endpoint).

What it answers is exactly `HouseholdRead.model_dump_json()` of the same data (`households.read_household`, the
model path, is the reference; a test compares the two byte for byte). It skips building and validating pydantic
models per request: the values come from our own columns. Masked personal data is computed from the ciphertext
once per process (`PersonalDataVault.masked_person`): only the masks, which any authorised caller sees, are kept;
unmasked reads decrypt every time and cache nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any, cast

import asyncpg
import sqlalchemy as sa

from uplift.common import json_parts as j
from uplift.common.auth import Principal, Role
from uplift.common.read_pool import CompiledSelect, ReadPool, compile_select
from uplift.registry.domain.households import HouseholdIncome
from uplift.registry.models.households import Household, Person
from uplift.registry.service import access
from uplift.registry.service.personal_data import ADDRESS, ID_NUMBER, ILLNESS_NOTE, NAME, PHONE, PersonalDataVault

households = cast(sa.Table, Household.__table__)
persons = cast(sa.Table, Person.__table__)

# The columns the answer is made of (no lookup hashes, no undo bookkeeping).
HOUSEHOLD_COLUMNS = (
    "id",
    "version",
    "status",
    "category",
    "street_code",
    "community_code",
    "address_enc",
    "cohort",
    "enrolled_on",
    "recorded_income",
    "placement_wages",
    "monthly_income",
    "dibao_monthly",
    "causes",
    "size",
    "zero_employment",
    "relapsed",
    "head_person_id",
    "transition_starts_on",
    "transition_ends_on",
    "exit_reason",
    "exited_on",
    "monitoring_until",
    "exit_employed_person_ids",
    "updated_at",
)
MEMBER_COLUMNS = (
    "id",
    "version",
    "active",
    "member_since",
    "relation",
    "name_enc",
    "id_number_enc",
    "phone_enc",
    "birth_date",
    "sex",
    "education",
    "work_ability",
    "employment_status",
    "disability_level",
    "chronic_illness",
    "illness_note_enc",
    "skills",
    "pension_insured",
    "medical_insured",
)


def _pairing_table() -> sa.Table:
    from uplift.registry.models.support import Pairing

    return cast(sa.Table, Pairing.__table__)


@cache
def read_statement() -> sa.Select[Any]:
    """Household, active members (`m_*`, in membership order) and active helper (`h_*`) in one round trip; one
    row per member, or one row with `m_id` NULL for a household without active members."""
    pairing = _pairing_table()
    helper = (
        sa.select(pairing.c.helper_kind, pairing.c.helper_id, pairing.c.department_code)
        .where(pairing.c.household_id == households.c.id, pairing.c.active)
        .limit(1)  # at most one active pairing per household (uq_pairings_active_household)
        .lateral("helper")
    )
    return (
        sa.select(
            *(households.c[name] for name in HOUSEHOLD_COLUMNS),
            helper.c.helper_kind.label("h_kind"),
            helper.c.helper_id.label("h_id"),
            helper.c.department_code.label("h_department_code"),
            *(persons.c[name].label(f"m_{name}") for name in MEMBER_COLUMNS),
        )
        .select_from(
            households.outerjoin(helper, sa.true()).outerjoin(
                persons, sa.and_(persons.c.household_id == households.c.id, persons.c.active)
            )
        )
        .where(households.c.id == sa.bindparam("household_id"))
        .order_by(persons.c.created_at, persons.c.id)
    )


@cache
def _read_sql() -> CompiledSelect:
    return compile_select(read_statement())


async def fetch(read_pool: ReadPool, household_id: uuid.UUID) -> Sequence[asyncpg.Record]:
    """The rows of `read_statement` (none: no such household), on the read pool: no session, ping or reset."""
    return await read_pool.fetch(_read_sql(), household_id=household_id)


def may_see(principal: Principal, first_row: asyncpg.Record) -> bool:
    """`access.may_see` decided from the read's own row, without another statement: operators and integrators by
    the household's community, a cadre by the household's active pairing (at most one, fetched as `h_id`)."""
    if access.scoped_by_org(principal):
        return principal.in_scope(first_row["community_code"])
    if not principal.has_role(Role.CADRE):
        return False
    cadre_id = access.cadre_uuid(principal)
    return cadre_id is not None and first_row["h_id"] == cadre_id


# --- the JSON -----------------------------------------------------------------------------------------------
#
# Written by formatting, field for field in the models' order (`HouseholdRead`, `MemberRead`, ...), rather than
# through a dict and an encoder; `json_parts` writes each value as pydantic does.


def _member(vault: PersonalDataVault, row: asyncpg.Record, unmasked: bool) -> str:
    """One `MemberRead`, field for field in its order."""
    if unmasked:
        name = vault.open(row["m_name_enc"], NAME)
        id_number = vault.open(row["m_id_number_enc"], ID_NUMBER)
        phone = vault.open_optional(row["m_phone_enc"], PHONE)
        birth_date = j.date(row["m_birth_date"])
        illness_note = j.opt_string(vault.open_optional(row["m_illness_note_enc"], ILLNESS_NOTE))
    else:
        name, id_number, phone = vault.masked_person(row["m_name_enc"], row["m_id_number_enc"], row["m_phone_enc"])
        birth_date = illness_note = "null"
    return (
        f'{{"person_id":"{row["m_id"]}","version":{int(row["m_version"])},"active":{j.boolean(row["m_active"])},'
        f'"member_since":{j.date(row["m_member_since"])},"relation":{j.string(row["m_relation"])},'
        f'"name":{j.string(name)},"id_number":{j.string(id_number)},"phone":{j.opt_string(phone)},'
        f'"birth_year":{int(row["m_birth_date"].year)},"birth_date":{birth_date},"sex":{j.string(row["m_sex"])},'
        f'"education":{j.string(row["m_education"])},"work_ability":{j.string(row["m_work_ability"])},'
        f'"employment_status":{j.string(row["m_employment_status"])},'
        f'"disability_level":{int(row["m_disability_level"])},"chronic_illness":{j.boolean(row["m_chronic_illness"])},'
        f'"illness_note":{illness_note},"skills":{j.strings(row["m_skills"])},'
        f'"pension_insured":{j.boolean(row["m_pension_insured"])},'
        f'"medical_insured":{j.boolean(row["m_medical_insured"])}}}'
    )


def household_json(vault: PersonalDataVault, rows: Sequence[asyncpg.Record], *, unmasked: bool) -> bytes:
    """The `HouseholdRead` of the rows of `read_statement`, as JSON (what `model_dump_json` would write)."""
    row = rows[0]
    address_enc = row["address_enc"]
    if address_enc is None:
        address = "null"
    elif unmasked:
        address = j.string(vault.open(address_enc, ADDRESS))
    else:
        address = j.string(vault.masked_address(address_enc))
    if row["transition_starts_on"] is not None and row["transition_ends_on"] is not None:
        transition = (
            f'{{"starts_on":{j.date(row["transition_starts_on"])},"ends_on":{j.date(row["transition_ends_on"])}}}'
        )
    else:
        transition = "null"
    if row["exit_reason"] is not None and row["exited_on"] is not None:
        exit_ = (
            f'{{"reason":{j.string(row["exit_reason"])},"exited_on":{j.date(row["exited_on"])},'
            f'"monitoring_until":{j.date(row["monitoring_until"])},'
            f'"employed_person_ids":{j.strings(row["exit_employed_person_ids"])}}}'
        )
    else:
        exit_ = "null"
    if row["h_id"] is not None:
        helper = (
            f'{{"kind":{j.string(row["h_kind"])},"id":"{row["h_id"]}",'
            f'"department_code":{j.opt_string(row["h_department_code"])}}}'
        )
    else:
        helper = "null"
    per_capita = HouseholdIncome(row["recorded_income"], row["placement_wages"]).per_capita(row["size"])
    members = ",".join([_member(vault, member, unmasked) for member in rows if member["m_id"] is not None])
    return (
        f'{{"id":"{row["id"]}","version":{int(row["version"])},"status":{j.string(row["status"])},'
        f'"category":{j.string(row["category"])},"street_code":{j.string(row["street_code"])},'
        f'"community_code":{j.string(row["community_code"])},"address":{address},"cohort":{j.string(row["cohort"])},'
        f'"enrolled_on":{j.date(row["enrolled_on"])},"recorded_income":{j.money(row["recorded_income"])},'
        f'"placement_wages":{j.money(row["placement_wages"])},"monthly_income":{j.money(row["monthly_income"])},'
        f'"per_capita_income":{j.money(per_capita)},"dibao_monthly":{j.money(row["dibao_monthly"])},'
        f'"causes":{j.strings(row["causes"])},"size":{int(row["size"])},'
        f'"zero_employment":{j.boolean(row["zero_employment"])},"relapsed":{j.boolean(row["relapsed"])},'
        f'"head_person_id":{j.uuid(row["head_person_id"])},"transition":{transition},"exit":{exit_},'
        f'"helper":{helper},"pii_masked":{j.boolean(not unmasked)},"members":[{members}],'
        f'"updated_at":{j.datetime(row["updated_at"])}}}'
    ).encode()

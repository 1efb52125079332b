"""The hottest read, `GET /claims/{id}`: a Core select compiled once, run on the platform's read pool, and its JSON
written directly (`claim_json`): exactly what `ClaimRead.model_dump_json()` writes for the same row (tested byte
for byte), without building and validating the model on every request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from uplift.common import json_parts as j
from uplift.common.read_pool import ReadPool, compile_select
from uplift.medical.models import Claim, table_of
from uplift.medical.service.claims import PAYERS

claims_table = table_of(Claim)

_CLAIM_BY_ID = compile_select(sa.select(*claims_table.c).where(claims_table.c.id == sa.bindparam("claim_id")))


async def claim_by_id(read_pool: ReadPool, claim_id: uuid.UUID) -> dict[str, Any] | None:
    """One claim as a mapping of its columns, or None."""
    row = await read_pool.fetchrow(_CLAIM_BY_ID, claim_id=claim_id)
    if row is None:
        return None
    claim = dict(row)
    if isinstance(claim["bases"], str):  # asyncpg hands JSONB over as text
        claim["bases"] = json.loads(claim["bases"])
    return claim


def basis_text(basis: Mapping[str, Any]) -> str:
    """A line's basis as the API shows it: `name=value; name=value`."""
    return "; ".join(f"{name}={value}" for name, value in basis.items())


def claim_json(claim: Mapping[str, Any]) -> bytes:
    """The `ClaimRead` of a claim row (as `claim_by_id` returns it), field for field in the model's order."""
    bases: Mapping[str, Mapping[str, Any]] = claim["bases"]
    lines = ",".join(
        [
            f'{{"payer":{j.string(str(payer))},"amount":{j.money(claim[str(payer)])},'
            f'"basis":{j.string(basis_text(bases.get(str(payer), {})))}}}'
            for payer in PAYERS
        ]
    )
    if claim["status"] == "reversed":
        reversal = (
            f'{{"reversed_at":{j.datetime(claim["reversed_at"])},"reversed_on":{j.date(claim["reversed_on"])},'
            f'"reason":{j.string(claim["reversal_reason"] or "")},'
            f'"reason_code":{j.string(claim["reversal_code"] or "reversed")}}}'
        )
    else:
        reversal = "null"
    return (
        f'{{"person_id":{j.uuid(claim["person_id"])},"household_id":{j.uuid(claim["household_id"])},'
        f'"category":{j.opt_string(claim["category"])},"street_code":{j.opt_string(claim["street_code"])},'
        f'"community_code":{j.opt_string(claim["community_code"])},"hospital_code":{j.string(claim["hospital_code"])},'
        f'"settlement_no":{j.string(claim["settlement_no"])},"hospital_level":{int(claim["hospital_level"])},'
        f'"admitted_on":{j.date(claim["admitted_on"])},"discharged_on":{j.date(claim["discharged_on"])},'
        f'"policy_year":{int(claim["policy_year"])},"total":{j.money(claim["total"])},'
        f'"in_policy":{j.money(claim["in_policy"])},"out_of_policy":{j.money(claim["out_of_policy"])},'
        f'"deductible":{j.money(claim["deductible"])},"lines":[{lines}],'
        f'"out_of_pocket":{j.money(claim["out_of_pocket"])},"oop_ratio":{j.ratio(claim["oop_ratio"])},'
        f'"in_policy_self_pay":{j.money(claim["in_policy_self_pay"])},"cap_met":{j.boolean(claim["cap_met"])},'
        f'"fund_short":{j.boolean(claim["fund_short"])},"id":{j.uuid(claim["id"])},'
        f'"status":{j.string(claim["status"])},"settled_at":{j.datetime(claim["settled_at"])},'
        f'"reversal":{reversal}}}'
    ).encode()

"""The hottest read, `GET /claims/{id}`: a Core select compiled once, run on the platform's read pool."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from uplift.common.read_pool import ReadPool, compile_select
from uplift.medical.models import Claim, table_of

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



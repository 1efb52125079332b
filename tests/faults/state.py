"""Every service's state as a comparable snapshot, so a run under faults can be compared with the fault-free run.

A snapshot holds, for every table of the four service schemas, the multiset of its rows. What differs between
two correct runs by construction is taken out: generated ids become labels made of natural keys (a person is its
ID number's keyed hash, a household its head, a claim its settlement number, an application its person and
posting, ...; an id nothing refers to becomes `<id>`), timestamps and ciphertexts (random nonces) are left out, and
inside JSON documents (event envelopes, alert facts) ids become labels and timestamps `<ts>`; the fund balance a
claim's `bases` note at settlement is dropped (it records which household's claim came first). What stays is every
business value, every event in every outbox with its per-aggregate sequence number, and every event every consumer
applied (its inbox). So "equal to the fault-free run" means: nothing lost, nothing applied twice, no cent moved.

Left out on purpose: `idempotency_keys` (its rows record how the client got its answers), `audit_log` (a client
that lost an answer looks it up, which is audited), `scheduler_runs` (the scheduler is off) and metrics'
`projection_versions` (a counter of batches, not of facts).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import asyncpg

SCHEMAS = ("registry", "matching", "medical", "metrics")
SKIPPED_TABLES = {"alembic_version", "idempotency_keys", "audit_log", "scheduler_runs", "projection_versions"}
SKIPPED_TYPES = {"timestamp with time zone", "timestamp without time zone", "bytea"}
# Columns whose value is an arrival order, not a fact: the outbox position.
SKIPPED_COLUMNS = {("*", "outbox", "position")}
# Keys of JSON documents that record the order things happened in: a claim's `bases` note how much of the fund
# was left when it was settled, which depends on which of two households' claims came first (the budget is
# ample, so no line depends on it; the lines themselves are compared).
SKIPPED_JSON_KEYS = {"fund_remaining"}

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Request and correlation ids (uuid4 hex): which request caused an event is a fact of that run only.
_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")

Snapshot = dict[str, Counter[str]]


async def labels(conn: asyncpg.Connection) -> dict[str, str]:
    """uuid (as text) → a label made of natural keys, the same in every run of the same workload."""
    label: dict[str, str] = {}

    async def add(sql: str, make: Any) -> None:
        for row in await conn.fetch(sql):
            label[str(row[0])] = make(row)

    await add("SELECT id, id_hash FROM registry.persons", lambda r: f"person:{r[1][:16]}")
    await add(
        "SELECT h.id, p.id_hash FROM registry.households h JOIN registry.persons p ON p.id = h.head_person_id",
        lambda r: f"household:{r[1][:16]}",
    )
    await add("SELECT id, name FROM registry.cadres", lambda r: f"cadre:{r[1]}")
    await add("SELECT id, name FROM registry.party_branches", lambda r: f"branch:{r[1]}")
    await add("SELECT id, name FROM matching.employers", lambda r: f"employer:{r[1]}")
    await add("SELECT id, street_code, occupation FROM matching.postings", lambda r: f"posting:{r[1]}:{r[2]}")
    await add("SELECT id, settlement_no FROM medical.claims", lambda r: f"claim:{r[1]}")
    # Second-order labels: rows known by what they join.
    await add(
        "SELECT id, person_id, posting_id FROM matching.applications",
        lambda r: f"application:{label.get(str(r[1]))}:{label.get(str(r[2]))}",
    )
    await add("SELECT id, application_id FROM matching.placements", lambda r: f"placement:{label.get(str(r[1]))}")
    await add(
        "SELECT id, household_id, helper_id, started_on FROM registry.pairings",
        lambda r: f"pairing:{label.get(str(r[1]))}:{label.get(str(r[2]))}:{r[3]}",
    )
    await add(
        "SELECT id, household_id, visited_on FROM registry.visits",
        lambda r: f"visit:{label.get(str(r[1]))}:{r[2]}",
    )
    await add(
        "SELECT id, household_id, kind, raised_on FROM registry.alerts",
        lambda r: f"alert:{label.get(str(r[1]))}:{r[2]}:{r[3]}",
    )
    return label


def _normalise_text(text: str, label: dict[str, str]) -> str:
    text = _UUID.sub(lambda m: label.get(m.group(0), "<id>"), text)
    return _HEX_ID.sub("<request>", _TIMESTAMP.sub("<ts>", text))


def _normalise(value: Any, label: dict[str, str]) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, list | tuple):
        return sorted((_normalise(v, label) for v in value), key=repr)
    text = str(value)
    if text[:1] in "{[":
        try:
            document = json.loads(text)
        except ValueError:
            return _normalise_text(text, label)
        return _normalise_text(json.dumps(_without_order(document), sort_keys=True, ensure_ascii=False), label)
    return _normalise_text(text, label)


def _without_order(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: _without_order(v) for k, v in document.items() if k not in SKIPPED_JSON_KEYS}
    if isinstance(document, list):
        return [_without_order(v) for v in document]
    return document


async def snapshot(dsn: str) -> Snapshot:
    conn = await asyncpg.connect(dsn)
    try:
        label = await labels(conn)
        columns = await conn.fetch(
            """
            SELECT table_schema, table_name, column_name, data_type
            FROM information_schema.columns
            WHERE table_schema = ANY($1::text[])
            ORDER BY table_schema, table_name, ordinal_position
            """,
            list(SCHEMAS),
        )
        tables: dict[tuple[str, str], list[str]] = {}
        for row in columns:
            schema, table, column, data_type = row
            if table in SKIPPED_TABLES or data_type in SKIPPED_TYPES:
                continue
            if ("*", table, column) in SKIPPED_COLUMNS:
                continue
            tables.setdefault((schema, table), []).append(column)
        result: Snapshot = {}
        for (schema, table), names in tables.items():
            select = ", ".join(f'"{name}"' for name in names)
            rows = await conn.fetch(f'SELECT {select} FROM "{schema}"."{table}"')
            result[f"{schema}.{table}"] = Counter(
                json.dumps({name: _normalise(row[name], label) for name in names}, sort_keys=True, ensure_ascii=False)
                for row in rows
            )
        return result
    finally:
        await conn.close()


def differences(expected: Snapshot, actual: Snapshot, rows_per_table: int = 4) -> list[str]:
    """Readable differences, table by table (empty when the snapshots are equal)."""
    tables = sorted(t for t in set(expected) | set(actual) if expected.get(t, Counter()) != actual.get(t, Counter()))
    found = [f"tables that differ: {', '.join(tables)}"] if tables else []
    for table in tables:
        want, got = expected.get(table, Counter()), actual.get(table, Counter())
        if want == got:
            continue
        missing, extra = want - got, got - want
        found.append(
            f"{table}: {sum(want.values())} rows expected, {sum(got.values())} found; "
            f"{sum(missing.values())} missing, {sum(extra.values())} extra"
        )
        found += [f"  - missing ×{n}: {row[:400]}" for row, n in list(missing.items())[:rows_per_table]]
        found += [f"  + extra ×{n}: {row[:400]}" for row, n in list(extra.items())[:rows_per_table]]
        found += [f"  ~ {change}" for change in _closest_changes(missing, extra)[:rows_per_table]]
    return found


def _closest_changes(missing: Counter[str], extra: Counter[str]) -> list[str]:
    """For each missing row, the fields in which the most similar extra row differs from it."""
    changes = []
    extras = [json.loads(row) for row in extra]
    for row in missing:
        want = json.loads(row)
        if not extras:
            break
        got = max(extras, key=lambda other: sum(other.get(k) == v for k, v in want.items()))
        changed = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}
        changes.append(", ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in changed.items())[:1500])
    return changes


def count(snap: Snapshot, table: str, **where: Any) -> int:
    """Rows of `table` whose columns have the given values (values compared as the snapshot stores them)."""
    total = 0
    for row, n in snap.get(table, Counter()).items():
        fields = json.loads(row)
        if all(fields.get(column) == value for column, value in where.items()):
            total += n
    return total


async def unpublished_events(dsn: str) -> int:
    """Outbox rows not yet on NATS, over the four services."""
    conn = await asyncpg.connect(dsn)
    try:
        total = 0
        for schema in SCHEMAS:
            total += await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL')
        return int(total)
    finally:
        await conn.close()

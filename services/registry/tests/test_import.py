"""Bulk import over HTTP: small CSV and XLSX files of the template made in the test."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from stdnum.cn import ric

from uplift.common import contracts
from uplift.common.testkit import RunningService, auth, eventually, run_service, service_settings
from uplift.registry.main import create_app
from uplift.registry.service.imports import COLUMNS

pytestmark = pytest.mark.integration

ADMIN = auth("district_admin", perms=("pii:read",))
DISTRICT = "420102"
HEADER = list(COLUMNS)
ISSUED: set[str] = set()


def id_number(born: dt.date) -> str:
    while True:
        body = f"42{random.randrange(0, 9999):04d}{born:%Y%m%d}{random.randrange(0, 999):03d}"
        number = body + ric.calc_check_digit(body + "0")
        if number not in ISSUED:
            ISSUED.add(number)
            return number


@pytest.fixture(scope="module")
async def registry(migrated_database_url: str, nats_url: str) -> AsyncIterator[RunningService]:
    settings = service_settings("registry", migrated_database_url, nats_url, consumers_enabled=False)
    async with run_service(app=create_app(settings)) as running:
        yield running


@pytest.fixture(scope="module")
async def community(registry: RunningService) -> str:
    street = f"{DISTRICT}{random.randrange(100, 999)}"
    for code, kind, parent in (
        (DISTRICT, "district", None),
        (street, "street", DISTRICT),
        (street + "001", "community", street),
    ):
        await registry.client.post(
            "/registry/v1/org-units",
            json={"code": code, "name": code, "kind": kind, "parent_code": parent},
            headers=ADMIN,
        )
    return street + "001"


def person_row(head: str, community: str, number: str, relation: str, **changes: str) -> dict[str, str]:
    row = {
        "户主身份证号": head,
        "社区代码": community,
        "家庭住址": "江岸区胜利街5号",
        "类别": "低保",
        "家庭月收入": "600.00",
        "低保金": "500.00",
        "致贫原因": "疾病、残疾",
        "批次": "2026-2",
        "纳入日期": "2026-04-01",
        "姓名": "陈一",
        "身份证号": number,
        "与户主关系": relation,
        "文化程度": "初中",
        "劳动能力": "全部",
        "就业状态": "失业",
        "残疾等级": "0",
        "慢病大病": "否",
        "技能": "cleaning;cooking",
        "养老保险": "是",
        "医疗保险": "是",
        "联系电话": "13900001111",
    }
    row.update(changes)
    return row


def csv_bytes(rows: list[dict[str, str]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: list[dict[str, str]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append([row[name] for name in HEADER])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def run_import(
    registry: RunningService, content: bytes, name: str = "households.csv", *, dry_run: bool = False
) -> dict[str, Any]:
    started = await registry.client.post(
        "/registry/v1/imports",
        files={"file": (name, content, "application/octet-stream")},
        data={"dry_run": "true" if dry_run else "false"},
        headers=ADMIN,
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    outcome: dict[str, Any] = {}

    async def finished() -> bool:
        response = await registry.client.get(f"/registry/v1/imports/{job_id}", headers=ADMIN)
        outcome.update(response.json())
        return outcome["status"] in ("succeeded", "failed")

    await eventually(finished, what="the import to finish")
    assert outcome["status"] == "succeeded", outcome
    return outcome


async def lookup(registry: RunningService, number: str) -> list[dict[str, Any]]:
    response = await registry.client.post("/registry/v1/persons:lookup", json={"id_number": number}, headers=ADMIN)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_import_applies_good_households_rejects_bad_ones_and_is_idempotent(
    registry: RunningService, community: str
) -> None:
    head_a, spouse_a = id_number(dt.date(1975, 2, 3)), id_number(dt.date(1977, 8, 9))
    head_b = id_number(dt.date(1968, 1, 1))
    head_c = id_number(dt.date(1990, 12, 12))
    head_d = id_number(dt.date(1960, 6, 6))
    bad_b = head_b[:17] + ("1" if head_b[17] != "1" else "2")
    rows = [
        person_row(head_a, community, head_a, "户主"),  # row 2
        person_row(head_a, community, spouse_a, "配偶", 姓名="林二"),  # row 3
        person_row(head_b, community, head_b, "户主"),  # row 4
        person_row(head_b, community, bad_b, "子女"),  # row 5: bad check digit
        person_row(head_c, community, head_c, "户主", 类别="tekun", 劳动能力="none", 就业状态="unable"),  # row 6
        person_row(head_d, community, head_d, "户主"),  # row 7
        person_row(head_d, community, spouse_a, "配偶"),  # row 8: already in household A of this file
    ]
    content = csv_bytes(rows)
    first = await run_import(registry, content)
    assert first["rows_read"] == 7
    assert first["households_read"] == 4
    assert (first["households_enrolled"], first["households_unchanged"], first["households_rejected"]) == (2, 0, 2)
    assert first["households_applied"] == 2
    rejected = {tuple(item["rows"]): item["reasons"] for item in first["rejected"]}
    assert "check digit" in rejected[(4, 5)][0] and rejected[(4, 5)][0].startswith("row 5")
    assert rejected[(7, 8)] == ["row 8: 身份证号: also in the household of row 2"]
    assert head_b not in str(first)  # reasons name rows, not people

    [a_head] = await lookup(registry, head_a)
    household = (await registry.client.get(f"/registry/v1/households/{a_head['household_id']}", headers=ADMIN)).json()
    assert household["size"] == 2
    assert household["category"] == "dibao"
    assert household["causes"] == ["disability", "illness"]
    assert household["monthly_income"] == "600.00"
    assert {m["name"] for m in household["members"]} == {"陈一", "林二"}
    head_member = next(m for m in household["members"] if m["relation"] == "head")
    assert head_member["education"] == "junior_high" and head_member["skills"] == ["cleaning", "cooking"]
    assert await lookup(registry, head_b) == []

    # The fast path writes its events as JSON: they must parse as the catalogue's payloads.
    async with registry.runtime.sessions() as session:
        envelopes = (
            await session.execute(
                sa.text(
                    "SELECT envelope FROM registry.outbox WHERE subject = :h OR subject = ANY(:p) ORDER BY position"
                ),
                {"h": a_head["household_id"], "p": [m["person_id"] for m in household["members"]]},
            )
        ).scalars()
        payloads = [contracts.parse_payload(e["type"], e["data"]) for e in envelopes]
    assert [type(p).__name__ for p in payloads] == ["HouseholdEnrolled", "PersonAdded", "PersonAdded"]
    enrolled = payloads[0]
    assert isinstance(enrolled, contracts.HouseholdEnrolled)
    assert enrolled.household.size == 2 and str(enrolled.household.monthly_income) == "600.00"
    assert enrolled.household.street_code == community[:9]
    assert "陈一" not in str(payloads)

    again = await run_import(registry, content)
    assert (again["households_enrolled"], again["households_unchanged"], again["households_rejected"]) == (0, 2, 2)

    changed = [dict(row, 家庭月收入="800.00") if row["户主身份证号"] == head_a else row for row in rows]
    updated = await run_import(registry, csv_bytes(changed))
    assert (updated["households_updated"], updated["households_unchanged"]) == (1, 1)
    household = (await registry.client.get(f"/registry/v1/households/{a_head['household_id']}", headers=ADMIN)).json()
    assert household["monthly_income"] == "800.00"
    assert household["version"] > 1

    # The file is the household's truth: a member missing from it leaves, a new one joins.
    child = id_number(dt.date(2015, 5, 5))
    regrouped = [
        changed[0],
        person_row(head_a, community, child, "子女", 姓名="陈小", 就业状态="在校", 家庭月收入="800.00"),
        *changed[2:],
    ]
    moved = await run_import(registry, csv_bytes(regrouped))
    assert moved["households_updated"] == 1
    [spouse] = await lookup(registry, spouse_a)
    assert spouse["active"] is False and spouse["household_id"] == a_head["household_id"]
    household = (await registry.client.get(f"/registry/v1/households/{a_head['household_id']}", headers=ADMIN)).json()
    assert sorted(m["name"] for m in household["members"]) == ["陈一", "陈小"]
    assert household["per_capita_income"] == "400.00"


async def test_dry_run_reports_without_writing_and_xlsx_reads_the_same(
    registry: RunningService, community: str
) -> None:
    head = id_number(dt.date(1983, 3, 3))
    rows = [person_row(head, community, head, "head", 劳动能力="partial", 就业状态="employed")]
    report = await run_import(registry, xlsx_bytes(rows), "households.xlsx", dry_run=True)
    assert report["households_enrolled"] == 1 and report["dry_run"] is True
    assert await lookup(registry, head) == []

    applied = await run_import(registry, xlsx_bytes(rows), "households.xlsx")
    assert applied["households_enrolled"] == 1
    [found] = await lookup(registry, head)
    assert found["active"] is True

    # Excel on Chinese Windows saves CSV as GB 18030 (GBK): read as such.
    gbk_head = id_number(dt.date(1986, 6, 6))
    gbk = csv_bytes([person_row(gbk_head, community, gbk_head, "户主", 姓名="欧阳娜娜")]).decode("utf-8-sig")
    report = await run_import(registry, gbk.encode("gb18030"))
    assert (report["file_type"], report["households_enrolled"]) == ("csv-gb18030", 1)
    assert [m["name"] for m in await lookup(registry, gbk_head)] == ["欧阳娜娜"]

    out_of_order_head = id_number(dt.date(1984, 4, 4))
    other_head = id_number(dt.date(1985, 5, 5))
    child = id_number(dt.date(2012, 1, 1))
    mixed = [
        person_row(out_of_order_head, community, out_of_order_head, "户主"),
        person_row(other_head, community, other_head, "户主"),
        person_row(out_of_order_head, community, child, "子女", 就业状态="在校"),
    ]
    report = await run_import(registry, csv_bytes(mixed))
    assert report["households_enrolled"] == 2
    assert report["rejected"] == [
        {"rows": [4], "reasons": ["rows of a household must be consecutive; this head's ID number came earlier"]}
    ]


async def test_files_of_the_wrong_type_or_without_the_columns_are_refused_before_the_job(
    registry: RunningService, community: str
) -> None:
    head = id_number(dt.date(1970, 7, 7))
    missing = [name for name in HEADER if name != "身份证号"]
    response = await registry.client.post(
        "/registry/v1/imports",
        files={"file": ("households.csv", csv_bytes([person_row(head, community, head, "户主")], missing), "text/csv")},
        headers=ADMIN,
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "columns.身份证号", "message": "missing column"}]

    png = await registry.client.post(
        "/registry/v1/imports", files={"file": ("households.png", b"\x89PNG\r\n\x1a\n", "image/png")}, headers=ADMIN
    )
    assert png.status_code == 422
    fake_xlsx = await registry.client.post(
        "/registry/v1/imports",
        files={"file": ("households.xlsx", b"PK\x03\x04garbage", "application/zip")},
        headers=ADMIN,
    )
    assert fake_xlsx.status_code == 422
    by_analyst = await registry.client.post(
        "/registry/v1/imports", files={"file": ("households.csv", b"x", "text/csv")}, headers=auth("analyst")
    )
    assert by_analyst.status_code == 403


async def test_a_job_whose_process_died_reads_as_interrupted(registry: RunningService) -> None:
    job_id = uuid.uuid4()
    async with registry.runtime.sessions() as session:
        await session.execute(
            sa.text(
                "INSERT INTO registry.imports (id, status, dry_run, file_name, file_type, actor, progressed_at) "
                "VALUES (:id, 'running', false, 'old.csv', 'csv', 'someone', now() - interval '1 hour')"
            ),
            {"id": job_id},
        )
        await session.commit()
    job = (await registry.client.get(f"/registry/v1/imports/{job_id}", headers=ADMIN)).json()
    assert job["status"] == "failed"
    assert job["error"].startswith("interrupted")

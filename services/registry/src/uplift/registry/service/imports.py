"""Bulk import (DOMAIN.md 7): spreadsheets of the template in docs/import-template.md, one row per person.

The file is read as a stream (openpyxl read-only / csv) and handled in batches of households, each batch in one
transaction, so memory stays flat however long the file is. A household's rows must be consecutive; it is keyed
by its head's ID number. Every row is validated; a bad row rejects its household (reported with row numbers and
reasons, never personal data); a valid household is `enrolled` (new), `updated` (changed) or `unchanged`.
New households take the fast path: rows and their events are written with COPY. Households that exist already,
or whose members were registered before, go through the same service functions as the API.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import datetime as dt
import itertools
import json
import uuid
import zipfile
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from pydantic_core import to_json
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from uplift.common import contracts
from uplift.common.auth import Principal
from uplift.common.db import new_id, utcnow
from uplift.common.errors import FieldError, Unprocessable
from uplift.common.money import format_money
from uplift.common.pii import InvalidIdNumber, validate_id_number
from uplift.common.runtime import Runtime
from uplift.common.unit_of_work import UnitOfWork
from uplift.registry.domain.households import HouseholdIncome, MemberWork, is_zero_employment
from uplift.registry.domain.parameters import ParameterHistory, Sex
from uplift.registry.models.households import Household, ImportJob, OrgUnit, Person
from uplift.registry.service import households as household_service
from uplift.registry.service.household_schemas import HouseholdCreate, HouseholdUpdate, MemberCreate, MemberUpdate
from uplift.registry.service.parameters import parameter_history
from uplift.registry.service.personal_data import (
    ADDRESS,
    ID_NUMBER,
    NAME,
    PHONE,
    PersonalDataVault,
    vault_for,
    vault_from_keys,
)

log = structlog.get_logger("uplift.registry.imports")

imports_table = cast(sa.Table, ImportJob.__table__)
households_table = cast(sa.Table, Household.__table__)
persons_table = cast(sa.Table, Person.__table__)
org_units_table = cast(sa.Table, OrgUnit.__table__)

BATCH_HOUSEHOLDS = 1000
MAX_REPORTED_REJECTIONS = 2000  # households listed in the report; the counts stay exact
# A job whose heartbeat is older than this died with its process (a batch takes seconds, not minutes).
STALLED_AFTER = dt.timedelta(minutes=10)

# Template columns (Chinese headers) -> field names.
COLUMNS: dict[str, str] = {
    "户主身份证号": "head_id_number",
    "社区代码": "community_code",
    "家庭住址": "address",
    "类别": "category",
    "家庭月收入": "monthly_income",
    "低保金": "dibao_monthly",
    "致贫原因": "causes",
    "批次": "cohort",
    "纳入日期": "enrolled_on",
    "姓名": "name",
    "身份证号": "id_number",
    "与户主关系": "relation",
    "文化程度": "education",
    "劳动能力": "work_ability",
    "就业状态": "employment_status",
    "残疾等级": "disability_level",
    "慢病大病": "chronic_illness",
    "技能": "skills",
    "养老保险": "pension_insured",
    "医疗保险": "medical_insured",
    "联系电话": "phone",
}
HEADERS = {name: header for header, name in COLUMNS.items()}
REQUIRED = (
    "户主身份证号",
    "社区代码",
    "家庭住址",
    "类别",
    "家庭月收入",
    "批次",
    "纳入日期",
    "姓名",
    "身份证号",
    "与户主关系",
    "劳动能力",
    "就业状态",
)
HOUSEHOLD_FIELDS = (
    "community_code",
    "address",
    "category",
    "monthly_income",
    "dibao_monthly",
    "causes",
    "cohort",
    "enrolled_on",
)

# Chinese spellings accepted beside the codes.
VOCABULARY: dict[str, dict[str, str]] = {
    "category": {"低保": "dibao", "特困": "tekun", "低收入": "low_income", "低保边缘": "low_income"},
    "relation": {
        "户主": "head",
        "配偶": "spouse",
        "子女": "child",
        "父母": "parent",
        "孙子女": "grandchild",
        "祖父母": "grandparent",
        "兄弟姐妹": "sibling",
        "其他": "other",
    },
    "work_ability": {"全部": "full", "完全": "full", "部分": "partial", "无": "none", "丧失": "none"},
    "employment_status": {
        "就业": "employed",
        "已就业": "employed",
        "失业": "unemployed",
        "未就业": "unemployed",
        "在校": "student",
        "学生": "student",
        "退休": "retired",
        "无法就业": "unable",
    },
    "education": {
        "无": "none",
        "文盲": "none",
        "小学": "primary",
        "初中": "junior_high",
        "高中": "senior_high",
        "中专": "vocational",
        "职高": "vocational",
        "大专": "college",
        "本科": "bachelor",
        "研究生": "postgraduate",
    },
    "causes": {
        "疾病": "illness",
        "因病": "illness",
        "残疾": "disability",
        "因残": "disability",
        "失业": "unemployment",
        "缺劳力": "lack_of_labour",
        "因学": "education",
        "老年": "elderly",
        "农转非": "migrant_from_rural",
        "两劳人员": "released_prisoner",
        "戒毒": "drug_rehabilitation",
        "其他": "other",
    },
}
_TRUE = {"是", "有", "true", "yes", "y", "1"}
_FALSE = {"否", "无", "false", "no", "n", "0", ""}
_LIST_SEPARATORS = str.maketrans({"、": ";", "，": ";", ",": ";", "；": ";", " ": ";"})


class ImportFileError(ValueError):
    """The file cannot be imported at all (wrong type, missing columns): 422 before the job starts."""

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


# --- reading ------------------------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _decodes(head: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=False)  # a cut last character is fine
    except UnicodeDecodeError:
        return False
    return True


def file_type_of(file_name: str, head: bytes) -> str:
    """`xlsx`, `csv` (UTF-8) or `csv-gb18030` (what Excel saves as CSV on Chinese Windows), by name and content."""
    lowered = file_name.lower()
    if lowered.endswith(".xlsx") and head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if lowered.endswith(".csv") and b"\x00" not in head:
        if _decodes(head, "utf-8-sig"):
            return "csv"
        if _decodes(head, "gb18030"):
            return "csv-gb18030"
    raise ImportFileError(
        "Only XLSX and CSV (UTF-8 or GB 18030) files of the import template are accepted.",
        [FieldError("file", "not an XLSX or CSV file")],
    )


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ImportFileError("The XLSX file cannot be read.", [FieldError("file", str(error)[:200])]) from None
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [_cell_text(value) for value in values]
    finally:
        workbook.close()


def _csv_rows(path: Path, encoding: str) -> Iterator[list[str]]:
    with path.open(encoding=encoding, newline="") as handle:
        for values in csv.reader(handle):
            yield [value.strip() for value in values]


@dataclass(frozen=True)
class Row:
    number: int  # the spreadsheet row number (the header is row 1)
    values: dict[str, str]


def read_rows(path: Path, file_type: str) -> tuple[list[str], Generator[Row, None, None]]:
    """The header and a stream of rows; ImportFileError when required columns are missing."""
    if file_type == "xlsx":
        raw = _xlsx_rows(path)
    else:
        raw = _csv_rows(path, "gb18030" if file_type == "csv-gb18030" else "utf-8-sig")
    try:
        header = next(raw)
    except StopIteration:
        raise ImportFileError("The file is empty.", [FieldError("file", "no header row")]) from None
    except UnicodeDecodeError:
        raise ImportFileError("A CSV file must be UTF-8.", [FieldError("file", "not UTF-8")]) from None
    header = [name.strip() for name in header]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportFileError(
            "The file lacks required columns of the template.",
            [FieldError(f"columns.{name}", "missing column") for name in missing],
        )
    positions = {COLUMNS[name]: index for index, name in enumerate(header) if name in COLUMNS}

    def rows() -> Generator[Row, None, None]:
        for number, values in enumerate(raw, start=2):
            if not any(values):
                continue
            yield Row(
                number,
                {field: values[index] if index < len(values) else "" for field, index in positions.items()},
            )

    return header, rows()


@dataclass
class HouseholdRows:
    key: str
    rows: list[Row]


def group_households(rows: Iterator[Row], on_out_of_order: Callable[[HouseholdRows], None]) -> Iterator[HouseholdRows]:
    """Consecutive rows with the same head's ID number form a household; a key that comes back after another
    household started is reported (its later rows form a household that will be rejected)."""
    finished: set[str] = set()
    current: HouseholdRows | None = None
    for row in rows:
        key = row.values.get("head_id_number", "").upper()
        if current is not None and key == current.key:
            current.rows.append(row)
            continue
        if current is not None:
            finished.add(current.key)
            yield current
        current = HouseholdRows(key, [row])
        if key in finished:
            on_out_of_order(current)
    if current is not None:
        yield current


# --- validation ---------------------------------------------------------------------------------------------------


@dataclass
class Rejection:
    rows: list[int]
    reasons: list[str]

    def as_report(self) -> dict[str, Any]:
        return {"rows": self.rows, "reasons": self.reasons}


@dataclass
class CheckedMember:
    row: int
    body: MemberCreate
    id_number: str
    birth_date: dt.date
    sex: str
    id_hash: str
    name_hash: str


@dataclass
class CheckedHousehold:
    rows: list[int]
    body: HouseholdCreate
    members: list[CheckedMember]
    head_hash: str
    fresh: FreshRows | None = None  # the COPY rows, should it turn out to be new


def _vocabulary(field_name: str, value: str) -> str:
    return VOCABULARY.get(field_name, {}).get(value, value)


def _boolean(value: str) -> bool | str:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return value


def _list(field_name: str, value: str) -> list[str]:
    return [_vocabulary(field_name, part) for part in value.translate(_LIST_SEPARATORS).split(";") if part]


def _member_document(values: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": values.get("name", ""),
        "id_number": values.get("id_number", ""),
        "relation": _vocabulary("relation", values.get("relation", "")),
        "work_ability": _vocabulary("work_ability", values.get("work_ability", "")),
        "employment_status": _vocabulary("employment_status", values.get("employment_status", "")),
    }
    if values.get("education"):
        document["education"] = _vocabulary("education", values["education"])
    if values.get("disability_level"):
        document["disability_level"] = values["disability_level"]
    for flag in ("chronic_illness", "pension_insured", "medical_insured"):
        if flag in values:
            document[flag] = _boolean(values[flag])
    if values.get("skills"):
        document["skills"] = _list("skills", values["skills"])
    if values.get("phone"):
        document["phone"] = values["phone"]
    return document


def _household_document(values: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "community_code": values.get("community_code", ""),
        "address": values.get("address", ""),
        "category": _vocabulary("category", values.get("category", "")),
        "monthly_income": values.get("monthly_income", "") or "0",
        "cohort": values.get("cohort", ""),
        "enrolled_on": values.get("enrolled_on", ""),
    }
    if values.get("dibao_monthly"):
        document["dibao_monthly"] = values["dibao_monthly"]
    if values.get("causes"):
        document["causes"] = _list("causes", values["causes"])
    return document


def _reason(error: Mapping[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ())]
    field_name = location[-1] if location else "row"
    header = HEADERS.get(field_name, field_name)
    return f"{header}: {error.get('msg', 'invalid')}"


def check_household(group: HouseholdRows, vault: PersonalDataVault) -> CheckedHousehold | Rejection:
    """Validate one household's rows (no I/O): every row's problems, or the household ready to apply."""
    rows = group.rows
    numbers = [row.number for row in rows]
    reasons: list[str] = []
    first = rows[0].values
    for row in rows[1:]:
        differing = [HEADERS[name] for name in HOUSEHOLD_FIELDS if row.values.get(name, "") != first.get(name, "")]
        if differing:
            reasons.append(
                f"row {row.number}: household columns differ from row {rows[0].number}: {', '.join(differing)}"
            )
    document = _household_document(first)
    document["members"] = [_member_document(row.values) for row in rows]
    try:
        body = HouseholdCreate.model_validate(document)
    except ValidationError as error:
        for item in error.errors():
            location = item.get("loc", ())
            if len(location) >= 2 and location[0] == "members" and isinstance(location[1], int):
                reasons.append(f"row {rows[location[1]].number}: {_reason(item)}")
            else:
                reasons.append(f"row {rows[0].number}: {_reason(item)}")
        return Rejection(numbers, reasons)
    members: list[CheckedMember] = []
    seen: dict[str, int] = {}
    for row, member in zip(rows, body.members, strict=True):
        try:
            number = validate_id_number(member.id_number)
        except InvalidIdNumber as error:
            reasons.append(f"row {row.number}: 身份证号: {error.reason}")
            continue
        if number.value in seen:
            reasons.append(f"row {row.number}: 身份证号: the same person as row {seen[number.value]}")
            continue
        seen[number.value] = row.number
        members.append(
            CheckedMember(
                row=row.number,
                body=member,
                id_number=number.value,
                birth_date=number.birth_date,
                sex=number.sex,
                id_hash=vault.id_hash(number.value),
                name_hash=vault.name_hash(member.name),
            )
        )
    head = next((m for m in members if m.body.relation == "head"), None)
    if head is not None and head.id_number != group.key:
        reasons.append(f"row {head.row}: 户主身份证号 is not the ID number of the member whose relation is head")
    if reasons:
        return Rejection(numbers, reasons)
    assert head is not None
    return CheckedHousehold(numbers, body, members, head.id_hash)


# --- the job ------------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    rows_read: int = 0
    households_read: int = 0
    enrolled: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REPORTED_REJECTIONS:
            self.rejections.append(rejection.as_report())

    def progress(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "households_read": self.households_read,
            "households_applied": self.enrolled + self.updated + self.unchanged,
            "households_enrolled": self.enrolled,
            "households_updated": self.updated,
            "households_unchanged": self.unchanged,
            "households_rejected": self.rejected,
            "rejected": self.rejections,
            "progressed_at": utcnow(),
        }


@dataclass(frozen=True)
class Existing:
    person_id: uuid.UUID
    household_id: uuid.UUID
    active: bool
    community_code: str
    head_person_id: uuid.UUID | None


async def _existing(session: AsyncSession, hashes: Sequence[str]) -> dict[str, Existing]:
    if not hashes:
        return {}
    rows = await session.execute(
        sa.select(
            persons_table.c.id_hash,
            persons_table.c.id,
            persons_table.c.household_id,
            persons_table.c.active,
            households_table.c.community_code,
            households_table.c.head_person_id,
        )
        .join(households_table, households_table.c.id == persons_table.c.household_id)
        .where(persons_table.c.id_hash == sa.any_(sa.cast(sa.literal(list(hashes), ARRAY(sa.Text)), ARRAY(sa.Text))))
    )
    return {
        row.id_hash: Existing(row.id, row.household_id, row.active, row.community_code, row.head_person_id)
        for row in rows
    }


@dataclass
class Plan:
    """What one batch will do."""

    fresh: list[CheckedHousehold] = field(default_factory=list)  # new households of new persons: COPY
    enrol: list[CheckedHousehold] = field(default_factory=list)  # new households reusing persons: service
    existing: list[tuple[CheckedHousehold, uuid.UUID]] = field(default_factory=list)  # compare, maybe update


def _plan(
    checked: Sequence[CheckedHousehold],
    existing: dict[str, Existing],
    principal: Principal,
    communities: set[str],
    tally: Tally,
) -> Plan:
    plan = Plan()
    for household in checked:
        reasons: list[str] = []
        if household.body.community_code not in communities or not principal.in_scope(household.body.community_code):
            reasons.append(
                f"row {household.rows[0]}: 社区代码: {household.body.community_code} is not a known community"
            )
        head = existing.get(household.head_hash)
        target = (
            head.household_id if head is not None and head.active and head.head_person_id == head.person_id else None
        )
        if head is not None and head.active and target is None:
            reasons.append(f"row {household.members[0].row}: 户主身份证号: the head is a member of another household")
        if target is not None and head is not None and not principal.in_scope(head.community_code):
            reasons.append(f"row {household.rows[0]}: 户主身份证号: the household belongs to another org")
        for member in household.members:
            known = existing.get(member.id_hash)
            if known is not None and known.active and known.household_id != target:
                reasons.append(f"row {member.row}: 身份证号: already an active member of another household")
        if reasons:
            tally.reject(Rejection(household.rows, reasons))
            continue
        if target is not None:
            plan.existing.append((household, target))
        elif any(member.id_hash in existing for member in household.members):
            plan.enrol.append(household)
        else:
            plan.fresh.append(household)
    return plan


# --- applying -----------------------------------------------------------------------------------------------------


COPY_COLUMNS: dict[str, tuple[str, ...]] = {
    "households": (
        "id",
        "street_code",
        "community_code",
        "address_enc",
        "status",
        "category",
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
        "version",
    ),
    "persons": (
        "id",
        "household_id",
        "active",
        "member_since",
        "relation",
        "name_enc",
        "id_number_enc",
        "phone_enc",
        "id_hash",
        "name_hash",
        "birth_date",
        "sex",
        "education",
        "work_ability",
        "employment_status",
        "disability_level",
        "chronic_illness",
        "skills",
        "pension_insured",
        "medical_insured",
        "version",
    ),
    "status_history": ("id", "household_id", "on", "action", "from_status", "to_status", "reason", "actor"),
    "income_records": ("id", "household_id", "recorded_on", "monthly_income", "active_members", "per_capita_income"),
    "audit_log": ("id", "at", "actor", "action", "subject_type", "subject_id", "detail"),
    "aggregate_versions": ("aggregate_type", "aggregate_id", "seq"),
    "outbox": ("event_id", "event_type", "subject", "aggregate_type", "aggregate_id", "seq", "envelope"),
}


def _outbox_row(event_type: str, aggregate_type: str, subject: str, data: dict[str, Any], at: str) -> tuple[Any, ...]:
    """One outbox row of a new aggregate (seq 1), its envelope written as the relay publishes it."""
    event_id = new_id()
    envelope = {
        "specversion": "1.0",
        "id": str(event_id),
        "type": event_type,
        "source": "uplift/registry",
        "subject": subject,
        "time": at,
        "datacontenttype": "application/json",
        "correlationid": None,
        "causationid": None,
        "data": data,
    }
    return (event_id, event_type, subject, aggregate_type, subject, 1, to_json(envelope).decode())


@dataclass
class FreshRows:
    """The rows and events that enrol one new household of new persons (prepared off the event loop)."""

    tables: dict[str, list[tuple[Any, ...]]]


def prepare_fresh(
    checked: CheckedHousehold,
    vault: PersonalDataVault,
    history: ParameterHistory,
    *,
    actor: str,
    job_id: uuid.UUID,
) -> FreshRows:
    """Everything COPY writes for a new household: rows, history, income, audit, versions and events.

    The snapshots are written as JSON directly (the contract models are too slow for 350,000 events); the import
    tests parse these events with `contracts.parse_payload`, so they cannot drift from the catalogue.
    """
    body = checked.body
    household_id = new_id()
    household_text = str(household_id)
    params = history.in_force(body.enrolled_on)
    now = utcnow()
    at = now.isoformat().replace("+00:00", "Z")
    enrolled_on = body.enrolled_on.isoformat()
    tables: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COPY_COLUMNS}
    person_events = []
    works = []
    head_id: uuid.UUID | None = None
    for member in checked.members:
        person_id = new_id()
        member_body = member.body
        since = member_body.member_since or body.enrolled_on
        skills = sorted(set(member_body.skills))
        if member_body.relation == "head":
            head_id = person_id
        works.append(
            MemberWork(
                member.birth_date, cast(Sex, member.sex), member_body.work_ability, member_body.employment_status
            )
        )
        tables["persons"].append(
            (
                person_id,
                household_id,
                True,
                since,
                member_body.relation,
                vault.seal(member_body.name, NAME),
                vault.seal(member.id_number, ID_NUMBER),
                vault.seal_optional(member_body.phone, PHONE),
                member.id_hash,
                member.name_hash,
                member.birth_date,
                member.sex,
                member_body.education,
                member_body.work_ability,
                member_body.employment_status,
                member_body.disability_level,
                member_body.chronic_illness,
                skills,
                member_body.pension_insured,
                member_body.medical_insured,
                1,
            )
        )
        person_text = str(person_id)
        snapshot = {
            "person_id": person_text,
            "seq": 1,
            "household_id": household_text,
            "member_since": since.isoformat(),
            "id_hash": member.id_hash,
            "birth_year": member.birth_date.year,
            "sex": member.sex,
            "work_ability": member_body.work_ability,
            "employment_status": member_body.employment_status,
            "disability_level": member_body.disability_level,
            "chronic_illness": member_body.chronic_illness,
            "education": member_body.education,
            "skills": skills,
            "pension_insured": member_body.pension_insured,
            "medical_insured": member_body.medical_insured,
            "active": True,
        }
        tables["aggregate_versions"].append(("person", person_text, 1))
        person_events.append(
            _outbox_row(contracts.PersonAdded.event_type, "person", person_text, {"seq": 1, "person": snapshot}, at)
        )
    size = len(checked.members)
    income = HouseholdIncome(body.monthly_income, Decimal("0.00"))
    zero_employment = is_zero_employment(works, body.enrolled_on, params)
    causes = sorted(set(body.causes))
    tables["households"].append(
        (
            household_id,
            body.community_code[:9],
            body.community_code,
            vault.seal(body.address, ADDRESS),
            "enrolled",
            body.category,
            body.cohort,
            body.enrolled_on,
            body.monthly_income,
            Decimal("0.00"),
            income.monthly,
            body.dibao_monthly,
            causes,
            size,
            zero_employment,
            False,
            head_id,
            1,
        )
    )
    tables["status_history"].append(
        (new_id(), household_id, body.enrolled_on, "enrol", None, "enrolled", "import", actor)
    )
    per_capita = income.per_capita(size)
    if per_capita is not None:
        tables["income_records"].append(
            (new_id(), household_id, body.enrolled_on, income.monthly, size, per_capita)
        )
    tables["audit_log"].append(
        (
            new_id(),
            now,
            actor,
            "household.enrolled",
            "household",
            household_text,
            json.dumps({"import_id": str(job_id), "persons": size}),
        )
    )
    snapshot = {
        "household_id": household_text,
        "seq": 1,
        "status": "enrolled",
        "category": body.category,
        "street_code": body.community_code[:9],
        "community_code": body.community_code,
        "cohort": body.cohort,
        "enrolled_on": enrolled_on,
        "size": size,
        "monthly_income": format_money(income.monthly),
        "dibao_monthly": format_money(body.dibao_monthly),
        "causes": causes,
        "relapsed": False,
        "zero_employment": zero_employment,
        "transition": None,
        "exit": None,
        "helper": None,
    }
    tables["aggregate_versions"].append(("household", household_text, 1))
    tables["outbox"].append(
        _outbox_row(
            contracts.HouseholdEnrolled.event_type, "household", household_text, {"seq": 1, "household": snapshot}, at
        )
    )
    tables["outbox"].extend(person_events)
    return FreshRows(tables)


async def _copy_fresh(uow: UnitOfWork, prepared: Sequence[FreshRows]) -> None:
    """Enrol new households of new persons with COPY, table by table (parents first)."""
    connection = await uow.session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    for table, columns in COPY_COLUMNS.items():
        records = [record for rows in prepared for record in rows.tables[table]]
        if records:
            await driver.copy_records_to_table(table, schema_name="registry", columns=list(columns), records=records)


@dataclass(frozen=True)
class MemberState:
    person_id: uuid.UUID
    version: int
    fields: dict[str, Any]


_MEMBER_COMPARED = (
    "name",
    "phone",
    "relation",
    "education",
    "work_ability",
    "employment_status",
    "disability_level",
    "chronic_illness",
    "skills",
    "pension_insured",
    "medical_insured",
)


async def _apply_existing(
    uow: UnitOfWork,
    vault: PersonalDataVault,
    checked: CheckedHousehold,
    household_id: uuid.UUID,
    principal: Principal,
    *,
    dry_run: bool,
) -> str:
    """Compare with the registry; update what differs. Returns `unchanged` or `updated`."""
    session = uow.session
    household = await session.get(Household, household_id, with_for_update=not dry_run)
    assert household is not None
    body = checked.body
    wanted: dict[str, Any] = {
        "community_code": body.community_code,
        "address": body.address,
        "category": body.category,
        "recorded_income": body.monthly_income,
        "dibao_monthly": body.dibao_monthly,
        "causes": sorted(set(body.causes)),
        "cohort": body.cohort,
    }
    current = {
        "community_code": household.community_code,
        "address": vault.open_optional(household.address_enc, ADDRESS),
        "category": household.category,
        "recorded_income": household.recorded_income,
        "dibao_monthly": household.dibao_monthly,
        "causes": sorted(household.causes),
        "cohort": household.cohort,
    }
    household_changes = {name: value for name, value in wanted.items() if current[name] != value}
    members = await household_service.active_members(session, household_id)
    by_hash = {person.id_hash: person for person in members}
    member_changes: list[tuple[Person, dict[str, Any]]] = []
    additions = [member for member in checked.members if member.id_hash not in by_hash]
    listed = {member.id_hash for member in checked.members}
    removals = [person for person in members if person.id_hash not in listed]
    for member in checked.members:
        person = by_hash.get(member.id_hash)
        if person is None:
            continue
        stored = {
            "name": vault.open(person.name_enc, NAME),
            "phone": vault.open_optional(person.phone_enc, PHONE),
            "relation": person.relation,
            "education": person.education,
            "work_ability": person.work_ability,
            "employment_status": person.employment_status,
            "disability_level": person.disability_level,
            "chronic_illness": person.chronic_illness,
            "skills": sorted(person.skills),
            "pension_insured": person.pension_insured,
            "medical_insured": person.medical_insured,
        }
        sent = {name: getattr(member.body, name) for name in _MEMBER_COMPARED}
        sent["skills"] = sorted(set(sent["skills"]))
        differing = {name: value for name, value in sent.items() if stored[name] != value}
        if differing:
            member_changes.append((person, differing))
    if not (household_changes or member_changes or additions or removals):
        return "unchanged"
    if dry_run:
        return "updated"
    if household_changes:
        await household_service.update_household(
            uow, vault, household, HouseholdUpdate.model_validate(household_changes), principal=principal
        )
    for member in additions:
        await household_service.add_member(uow, vault, household, member.body, principal=principal)
    for person, differing in member_changes:
        await household_service.update_member(
            uow, vault, household, person, MemberUpdate.model_validate(differing), principal=principal
        )
    for person in removals:
        await household_service.remove_member(uow, household, person, principal=principal)
    return "updated"


async def _apply_batch(
    runtime: Runtime,
    job_id: uuid.UUID,
    batch: Sequence[CheckedHousehold],
    *,
    vault: PersonalDataVault,
    principal: Principal,
    communities: set[str],
    in_file: dict[str, int],
    tally: Tally,
    dry_run: bool,
) -> None:
    # Duplicates within the file: a person already seen in an earlier household rejects this one.
    unique: list[CheckedHousehold] = []
    for household in batch:
        repeated = [m for m in household.members if m.id_hash in in_file]
        if repeated:
            tally.reject(
                Rejection(
                    household.rows,
                    [f"row {m.row}: 身份证号: also in the household of row {in_file[m.id_hash]}" for m in repeated],
                )
            )
            continue
        for member in household.members:
            in_file[member.id_hash] = household.rows[0]
        unique.append(household)
    async with runtime.unit_of_work() as uow:
        session = uow.session
        existing = await _existing(session, [m.id_hash for h in unique for m in h.members])
        plan = _plan(unique, existing, principal, communities, tally)
        if not dry_run and plan.fresh:
            await _copy_fresh(uow, [household.fresh for household in plan.fresh if household.fresh is not None])
        tally.enrolled += len(plan.fresh)
        for household in plan.enrol:
            if not dry_run:
                await household_service.enrol(uow, vault, household.body, principal=principal)
            tally.enrolled += 1
        for household, target in plan.existing:
            outcome = await _apply_existing(uow, vault, household, target, principal, dry_run=dry_run)
            if outcome == "updated":
                tally.updated += 1
            else:
                tally.unchanged += 1
        await session.execute(sa.update(imports_table).where(imports_table.c.id == job_id).values(**tally.progress()))
        await uow.commit()


async def known_communities(session: AsyncSession) -> set[str]:
    rows = await session.scalars(sa.select(org_units_table.c.code).where(org_units_table.c.kind == "community"))
    return set(rows)


@dataclass(frozen=True)
class BatchContext:
    """What checking and preparing a batch needs besides the rows."""

    pii_key: str
    pii_key_id: str
    pii_old_keys: str
    lookup_key: str
    history: ParameterHistory
    actor: str
    job_id: uuid.UUID
    dry_run: bool


LATE_ROWS = "rows of a household must be consecutive; this head's ID number came earlier"


def check_batch(
    context: BatchContext, groups: Sequence[tuple[HouseholdRows, bool]]
) -> list[CheckedHousehold | Rejection]:
    """Validate a batch and prepare its COPY rows (pure CPU, no I/O: runs in a thread)."""
    vault = vault_from_keys(context.pii_key, context.pii_key_id, context.pii_old_keys, context.lookup_key)
    checked: list[CheckedHousehold | Rejection] = []
    for group, late in groups:
        if late:
            checked.append(Rejection([row.number for row in group.rows], [LATE_ROWS]))
            continue
        household = check_household(group, vault)
        if isinstance(household, CheckedHousehold) and not context.dry_run:
            household.fresh = prepare_fresh(
                household, vault, context.history, actor=context.actor, job_id=context.job_id
            )
        checked.append(household)
    return checked


async def run_import(
    runtime: Runtime, job_id: uuid.UUID, path: Path, file_type: str, principal: Principal, *, dry_run: bool
) -> None:
    """The background job: stream, validate, apply in batches, record progress; the file is removed after.

    Reading, validation and encryption of the next batch run in a thread while PostgreSQL writes the current
    one. (Worker processes were tried: on a 2-core machine shared with PostgreSQL their start-up and the
    pickling cost more than they saved.)
    """
    settings = runtime.settings
    vault = vault_for(settings)
    tally = Tally()
    try:
        async with runtime.sessions() as session:
            communities = await known_communities(session)
            history = await parameter_history(session)
            await session.execute(
                sa.update(imports_table)
                .where(imports_table.c.id == job_id)
                .values(status="running", progressed_at=utcnow())
            )
            await session.commit()
        context = BatchContext(
            settings.pii_key,
            settings.pii_key_id,
            settings.pii_old_keys,
            settings.lookup_key,
            history,
            principal.sub,
            job_id,
            dry_run,
        )
        out_of_order: list[HouseholdRows] = []
        _, rows = read_rows(path, file_type)
        groups = group_households(rows, out_of_order.append)
        in_file: dict[str, int] = {}

        def read_batch() -> list[tuple[HouseholdRows, bool]]:
            taken = list(itertools.islice(groups, BATCH_HOUSEHOLDS))
            batch = [(group, any(group is late for late in out_of_order)) for group in taken]
            out_of_order.clear()
            tally.rows_read += sum(len(group.rows) for group in taken)
            tally.households_read += len(taken)
            return batch

        def next_batch() -> list[CheckedHousehold | Rejection]:
            return check_batch(context, read_batch())

        upcoming = asyncio.ensure_future(asyncio.to_thread(next_batch))
        while True:
            checked = await upcoming
            if not checked:
                break
            upcoming = asyncio.ensure_future(asyncio.to_thread(next_batch))
            for item in checked:
                if isinstance(item, Rejection):
                    tally.reject(item)
            good = [item for item in checked if isinstance(item, CheckedHousehold)]
            await _apply_batch(
                runtime,
                job_id,
                good,
                vault=vault,
                principal=principal,
                communities=communities,
                in_file=in_file,
                tally=tally,
                dry_run=dry_run,
            )
        status, error = "succeeded", None
    except ImportFileError as failure:
        status, error = "failed", str(failure)
    except Exception as failure:  # the job reports its failure; the stack goes to the log
        log.exception("import_failed", import_id=str(job_id))
        status, error = "failed", f"{type(failure).__name__}: the import stopped; households before it were applied"
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    async with runtime.sessions() as session:
        await session.execute(
            sa.update(imports_table)
            .where(imports_table.c.id == job_id)
            .values(status=status, error=error, finished_at=utcnow(), **tally.progress())
        )
        await session.commit()


async def mark_if_stalled(session: AsyncSession, job_id: uuid.UUID) -> None:
    """Fail a queued or running job whose process stopped beating (restart, crash): it will not finish."""
    await session.execute(
        sa.update(imports_table)
        .where(
            imports_table.c.id == job_id,
            imports_table.c.status.in_(("queued", "running")),
            imports_table.c.progressed_at < utcnow() - STALLED_AFTER,
        )
        .values(
            status="failed",
            error="interrupted: the service stopped during the import; batches before were applied, import again",
            finished_at=utcnow(),
        )
    )
    await session.commit()


def check_file(path: Path, file_name: str) -> str:
    """The file's type, after checking it has the template's columns (422 before any job starts)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    try:
        file_type = file_type_of(file_name, head)
        header, rows = read_rows(path, file_type)
        del header
        rows.close()
    except ImportFileError as error:
        raise Unprocessable(str(error), errors=error.errors or [FieldError("file", str(error))]) from None
    return file_type

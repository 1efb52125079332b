"""Households and org units as pure rules: division codes, the income model, zero-employment households.

No I/O here; the service passes in what it loaded and the parameters in force on the date concerned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from uplift.registry.domain.lifecycle import per_capita_income
from uplift.registry.domain.months import completed_years
from uplift.registry.domain.parameters import Parameters, Sex

OrgKind = Literal["district", "street", "community", "grid", "department"]

# National statistical division codes: district 6 digits, street 9, community 12; a grid extends its
# community's code. Departments choose a code of their own.
_CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    "district": re.compile(r"[0-9]{6}"),
    "street": re.compile(r"[0-9]{9}"),
    "community": re.compile(r"[0-9]{12}"),
    "grid": re.compile(r"[0-9]{13,18}"),
    "department": re.compile(r"[A-Z0-9-]{2,16}"),
}
_PARENT_KIND: dict[str, str | None] = {
    "district": None,
    "street": "district",
    "community": "street",
    "grid": "community",
    "department": "district",
}
_PARENT_PREFIX_LENGTH = {"street": 6, "community": 9, "grid": 12}


def org_code_problem(kind: OrgKind, code: str) -> str | None:
    """Why `code` cannot be the code of an org unit of `kind`, or None when it can."""
    if not _CODE_PATTERNS[kind].fullmatch(code):
        shapes = {
            "district": "6 digits",
            "street": "9 digits",
            "community": "12 digits",
            "grid": "13 to 18 digits starting with its community's code",
            "department": "2 to 16 of A-Z, 0-9 and -",
        }
        return f"a {kind} code is {shapes[kind]}"
    return None


def parent_kind_of(kind: OrgKind) -> str | None:
    """The kind of org unit a unit of `kind` hangs under (a department under the district, optionally)."""
    return _PARENT_KIND[kind]


def parent_problem(kind: OrgKind, code: str, parent_code: str | None, parent_kind: str | None) -> str | None:
    """Why `parent_code` (of kind `parent_kind`, None when it does not exist) cannot be the parent."""
    expected_kind = _PARENT_KIND[kind]
    if expected_kind is None:
        return None if parent_code is None else "a district has no parent"
    if parent_code is None:
        return None if kind == "department" else f"a {kind} needs its {expected_kind} as parent_code"
    if parent_kind is None:
        return f"org unit {parent_code} does not exist"
    if parent_kind != expected_kind:
        return f"the parent of a {kind} is a {expected_kind}, {parent_code} is a {parent_kind}"
    prefix_length = _PARENT_PREFIX_LENGTH.get(kind)
    if prefix_length is not None and code[:prefix_length] != parent_code:
        return f"code {code} does not start with its parent's code {parent_code}"
    return None


# --- income model (DOMAIN.md 2) ------------------------------------------------------------------------


@dataclass(frozen=True)
class HouseholdIncome:
    """Monthly non-transfer income: what the operator records plus the wages of active placements."""

    recorded: Decimal
    placement_wages: Decimal

    @property
    def monthly(self) -> Decimal:
        return self.recorded + self.placement_wages

    def per_capita(self, active_members: int) -> Decimal | None:
        """Per active member, rounded half-up; None for a household without active members."""
        return per_capita_income(self.monthly, active_members) if active_members > 0 else None


@dataclass(frozen=True)
class MemberWork:
    """What the zero-employment rule looks at for one active member."""

    birth_date: date
    sex: Sex
    work_ability: str
    employment_status: str


def is_zero_employment(members: Iterable[MemberWork], on: date, params: Parameters) -> bool:
    """零就业家庭: a working-age member able to work, and no member employed."""
    able = False
    for member in members:
        if member.employment_status == "employed":
            return False
        age = completed_years(member.birth_date, on)
        if member.work_ability in ("full", "partial") and params.is_working_age(age, member.sex):
            able = True
    return able

"""Indicator scopes: the district, a street, a community (by code) or `department:{code}`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from uplift.metrics.domain.errors import ScopeError

DEPARTMENT_PREFIX = "department:"
# National statistical division codes: district 6 digits, street 9, community 12 (DOMAIN.md section 1).
_ORG_KIND_BY_LENGTH = {6: "district", 9: "street", 12: "community"}
_ORG_CODE = re.compile(r"[0-9]+")
_DEPARTMENT_CODE = re.compile(r"[A-Z0-9-]{2,16}")


class ScopeKind(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    code: str

    @classmethod
    def department(cls, code: str) -> Scope:
        return parse_scope(DEPARTMENT_PREFIX + code)

    def covers_community(self, community_code: str) -> bool:
        """Whether a household in `community_code` is in this geographic scope (the district holds all)."""
        if self.kind is ScopeKind.DEPARTMENT:
            raise ScopeError("a department scope is not a place; it selects households by pairing")
        if self.kind is ScopeKind.DISTRICT:
            return True
        return community_code.startswith(self.code)

    def __str__(self) -> str:
        return DEPARTMENT_PREFIX + self.code if self.kind is ScopeKind.DEPARTMENT else self.code


def _reject(text: str) -> Scope:
    raise ScopeError(
        f"scope {text!r} is not a district (6 digits), street (9), community (12) code or department:{{code}}"
    )


def parse_scope(text: str) -> Scope:
    """`420102` (district), `420102001` (street), `420102001001` (community) or `department:D042`."""
    if text.startswith(DEPARTMENT_PREFIX):
        code = text[len(DEPARTMENT_PREFIX) :]
        if not _DEPARTMENT_CODE.fullmatch(code):
            raise ScopeError(f"department code {code!r} must be 2 to 16 of A-Z, 0-9 and '-'")
        return Scope(ScopeKind.DEPARTMENT, code)
    if _ORG_CODE.fullmatch(text) and len(text) in _ORG_KIND_BY_LENGTH:
        return Scope(ScopeKind(_ORG_KIND_BY_LENGTH[len(text)]), text)
    return _reject(text)

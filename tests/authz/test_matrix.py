"""The authorisation matrix: every operation of every service's OpenAPI document, called by every role, by an
integrator with and without its perms, and with no token, answers as `docs/authz.md` says.

What counts is 401/403 against anything else: a caller that may call an operation gets a 2xx or a domain answer
(404 for the random ids used here, 409, 422 for the minimal bodies, 428 for a missing If-Match), never 401/403 and
never a 5xx; a role that may not gets 403; no token gets 401 (health probes are public).

The operations come from each app's OpenAPI document (built at collection time), the expectations from the table in
`docs/authz.md`; both directions are checked: every operation has a row, and every row names an operation (a row for
an operation a service does not implement yet is skipped as "not built yet").
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from uplift.common.testkit import RunningService, auth, run_service, service_settings

pytestmark = pytest.mark.integration

SERVICES = ("registry", "matching", "medical", "metrics")
AUTHZ_DOC = Path(__file__).resolve().parents[2] / "docs" / "authz.md"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")

DISTRICT = "420102"
STREET = "420102001"
COMMUNITY = "420102001001"
DEPARTMENT = "D042"
ROLES = (
    "district_admin",
    "street_operator",
    "community_worker",
    "cadre",
    "department_admin",
    "employer",
    "medical_operator",
    "analyst",
)
ALL_PERMS = frozenset(
    {
        "registry:read",
        "registry:write",
        "matching:read",
        "matching:write",
        "claims:read",
        "claims:write",
        "metrics:read",
        "pii:read",
    }
)
ANONYMOUS = "anonymous"
BARE_INTEGRATOR = "integrator"  # an integrator token without perms


# --------------------------------------------------------------------------------------------- the authz table


@dataclass(frozen=True)
class Rule:
    """One row of docs/authz.md."""

    service: str
    method: str
    path: str
    roles: frozenset[str]
    any_caller: bool
    public: bool
    perm_sets: tuple[frozenset[str], ...]  # each alternative opens the operation to an integrator
    scoped: str

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


def _strip_notes(cell: str) -> str:
    """`district_admin, cadre (chosen: why)` -> `district_admin, cadre`: notes in parentheses are for readers."""
    return re.sub(r"\([^)]*\)", "", cell).strip()


def parse_rules(text: str) -> dict[tuple[str, str, str], Rule]:
    rules: dict[tuple[str, str, str], Rule] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] not in SERVICES:
            continue
        service, method, path, roles_cell, perms_cell, scoped = cells
        roles_text = _strip_notes(roles_cell)
        roles = frozenset(role.strip() for role in roles_text.split(",") if role.strip())
        perms_text = _strip_notes(perms_cell)
        perm_sets = tuple(
            frozenset(perm.strip() for perm in alternative.split("+"))
            for alternative in perms_text.split(" or ")
            if alternative.strip() and alternative.strip() != "-"
        )
        unknown = roles - set(ROLES) - {"any", "public"}
        assert not unknown, f"docs/authz.md names unknown roles {sorted(unknown)} in: {line}"
        key = (service, method.upper(), path)
        assert key not in rules, f"docs/authz.md lists {key} twice"
        rules[key] = Rule(
            service=service,
            method=method.upper(),
            path=path,
            roles=roles - {"any", "public"},
            any_caller="any" in roles,
            public="public" in roles,
            perm_sets=perm_sets,
            scoped=scoped,
        )
    return rules


RULES = parse_rules(AUTHZ_DOC.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ the OpenAPI documents


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def openapi_document(service: str) -> dict[str, Any]:
    """The service's OpenAPI document; building it touches neither the database nor NATS."""
    main = importlib.import_module(f"uplift.{service}.main")
    app = main.create_app(service_settings(service, "postgresql://collect@127.0.0.1:9/collect", "nats://127.0.0.1:9"))
    document: dict[str, Any] = app.openapi()
    return document


def openapi_operations() -> list[Operation]:
    operations = []
    for service in SERVICES:
        for path, item in openapi_document(service)["paths"].items():
            for method in HTTP_METHODS:
                if method in item:
                    operations.append(Operation(service, method.upper(), path, item[method]))
    return operations


OPERATIONS = openapi_operations()
OPERATION_KEYS = {(op.service, op.method, op.path) for op in OPERATIONS}


# ------------------------------------------------------------------------------------------------------ callers


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None  # None: no token
    perms: frozenset[str] = frozenset()

    def headers(self) -> dict[str, str]:
        if self.role is None:
            return {}
        claims: dict[str, Any] = {}
        org: str | None = None
        if self.role == "district_admin":
            org = DISTRICT
        elif self.role == "street_operator":
            org = STREET
        elif self.role == "community_worker":
            org = COMMUNITY
        elif self.role == "cadre":
            org = STREET
            claims["cadre_id"] = str(uuid.uuid4())
        elif self.role == "department_admin":
            org = DEPARTMENT
        elif self.role == "employer":
            claims["employer_id"] = str(uuid.uuid4())
        return auth(self.role, org, tuple(sorted(self.perms)), **claims)


def callers_for(rule: Rule | None) -> list[Caller]:
    callers = [Caller(ANONYMOUS, None), *(Caller(role, role) for role in ROLES), Caller(BARE_INTEGRATOR, "integrator")]
    perm_sets = rule.perm_sets if rule else ()
    for perm_set in perm_sets:
        callers.append(Caller("integrator+" + "+".join(sorted(perm_set)), "integrator", perm_set))
    # Every perm except those that open the operation: a read scope never opens a write, pii:read opens nothing.
    other_perms = ALL_PERMS.difference(*perm_sets)
    callers.append(Caller("integrator+every-other-perm", "integrator", other_perms))
    return callers


def expectation(rule: Rule, caller: Caller) -> str:
    """'allowed', 'forbidden' (403) or 'unauthenticated' (401)."""
    if rule.public:
        return "allowed"
    if caller.role is None:
        return "unauthenticated"
    if rule.any_caller or caller.role in rule.roles:
        return "allowed"
    if caller.role == "integrator" and any(perm_set <= caller.perms for perm_set in rule.perm_sets):
        return "allowed"
    return "forbidden"


# Cases where the service answers differently from docs/authz.md: real bugs, reported to the service owners.
# Key: (service, method, path, caller name).
KNOWN_BUGS: dict[tuple[str, str, str, str], str] = {}


def matrix_cases() -> Iterator[Any]:
    for operation in OPERATIONS:
        rule = RULES.get((operation.service, operation.method, operation.path))
        if rule is None:
            continue  # reported by test_every_operation_has_a_row
        for caller in callers_for(rule):
            marks = []
            reason = KNOWN_BUGS.get((operation.service, operation.method, operation.path, caller.name))
            if reason is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            yield pytest.param(operation, rule, caller, id=f"{operation.id} as {caller.name}", marks=marks)


# ----------------------------------------------------------------------------------------------- the requests

# Values for path and query parameters by name; anything else falls back to its schema type.
PARAMETER_VALUES: dict[str, Any] = {
    "code": "420102999",
    "year": 2026,
    "period": "2026",
    "name": "exit_rate",
    "scope": DISTRICT,
    "from": "2026-01",
    "to": "2026-06",
}
# Bodies for operations whose empty body would do real work across the shared database.
BODY_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/registry/v1/pairings:auto"): {"scope_code": "420102999"},
}


def parameter_value(parameter: dict[str, Any]) -> Any:
    name = parameter["name"]
    if name in PARAMETER_VALUES:
        return PARAMETER_VALUES[name]
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("type") == "integer":
        return 1
    if schema.get("format") == "date":
        return "2026-01-01"
    return "x"


def build_request(operation: Operation) -> dict[str, Any]:
    path = operation.path
    query: dict[str, Any] = {}
    for parameter in operation.spec.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(parameter_value(parameter)))
        elif parameter["in"] == "query" and parameter.get("required"):
            query[parameter["name"]] = parameter_value(parameter)
    request: dict[str, Any] = {"method": operation.method, "url": path, "params": query}
    body = operation.spec.get("requestBody")
    if body is not None:
        content = body.get("content", {})
        if "multipart/form-data" in content:
            request["files"] = {"file": ("households.csv", b"", "text/csv")}
        else:
            request["json"] = BODY_OVERRIDES.get((operation.method, operation.path), {})
    return request


# ------------------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
async def services(migrated_database_url: str, nats_url: str) -> AsyncIterator[dict[str, RunningService]]:
    async with AsyncExitStack() as stack:
        running: dict[str, RunningService] = {}
        for service in SERVICES:
            main = importlib.import_module(f"uplift.{service}.main")
            app = main.create_app(service_settings(service, migrated_database_url, nats_url))
            running[service] = await stack.enter_async_context(run_service(app=app))
        yield running


@pytest.mark.parametrize(("operation", "rule", "caller"), list(matrix_cases()))
async def test_the_answer_matches_the_authz_table(
    services: dict[str, RunningService], operation: Operation, rule: Rule, caller: Caller
) -> None:
    client = services[operation.service].client
    request = build_request(operation)
    response = await client.request(**request, headers=caller.headers())
    expected = expectation(rule, caller)
    shown = f"{operation.method} {request['url']} as {caller.name} -> {response.status_code} {response.text[:300]}"
    if expected == "unauthenticated":
        assert response.status_code == 401, shown
    elif expected == "forbidden":
        assert response.status_code == 403, shown
    else:
        assert response.status_code not in (401, 403), shown
        assert response.status_code < 500, shown


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.id for op in OPERATIONS])
def test_every_operation_has_a_row(operation: Operation) -> None:
    assert (operation.service, operation.method, operation.path) in RULES, (
        f"{operation.id} is in the OpenAPI document but has no row in docs/authz.md"
    )


@pytest.mark.parametrize("rule", list(RULES.values()), ids=[" ".join(key) for key in RULES])
def test_every_row_is_an_operation(rule: Rule) -> None:
    if (rule.service, rule.method, rule.path) not in OPERATION_KEYS:
        pytest.skip(f"not built yet: {rule.service} {rule.method} {rule.path}")


def test_the_table_covers_every_service() -> None:
    assert {rule.service for rule in RULES.values()} == set(SERVICES)
    assert len(RULES) >= len(OPERATIONS) > 0

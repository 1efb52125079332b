"""The problem responses of a service's OpenAPI document.

Every error a service sends is RFC 9457 `application/problem+json` (`uplift.common.errors`), but FastAPI
documents none of them, only a 422 `HTTPValidationError` that is never sent. `install_problem_documentation`
rewrites the document FastAPI builds (once per build) so that it says what the service really answers:

- one `Problem` schema (with `ProblemFieldError` for its `errors`) under `components.schemas`;
- on each operation, the problem statuses it can answer with, as `application/problem+json` referencing it:
  - those its dependencies declare with `@may_raise(...)`: 401 (and 403 for `require`) and 503 from the auth
    dependencies, 503 from the database ones, 400 from `page_params` (a cursor not ours), 412 and 428 from
    `IF_MATCH_REQUIRED`, 412 from `IF_MATCH_CHECKED`;
  - 404 when the path has a parameter (absent, or outside the caller's org scope: the two look alike);
  - 400 (a body that does not parse) and 422 when it takes a body, 422 when it takes parameters (the problem
    form replaces FastAPI's `HTTPValidationError`);
  - 409 on an authenticated POST: the `IdempotencyMiddleware` answers 409 when its `Idempotency-Key` was used
    with another request or is still in flight; the document shows that header;
  - what the route declares itself with `responses=` (a lifecycle conflict, a 404 of an org scope named in the
    body or the query): given the problem content (and a description) when the route gave none;
- 503 names `Retry-After`, 401 `WWW-Authenticate`.

Successful responses are left exactly as FastAPI documents them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from uplift.common.errors import PROBLEM_BASE, PROBLEM_JSON

_PROBLEM_STATUSES = "__uplift_problem_statuses__"
_Callable = TypeVar("_Callable", bound=Callable[..., Any])


def may_raise(*statuses: int) -> Callable[[_Callable], _Callable]:
    """Mark a request dependency as answering with these problem statuses: every operation that depends on it
    declares them in the OpenAPI document."""

    def mark(function: _Callable) -> _Callable:
        setattr(function, _PROBLEM_STATUSES, frozenset(statuses) | declared_statuses(function))
        return function

    return mark


def declared_statuses(function: object) -> frozenset[int]:
    """The statuses `function` was marked with by `may_raise` (none when unmarked)."""
    marked: frozenset[int] = getattr(function, _PROBLEM_STATUSES, frozenset())
    return marked


PROBLEM_REF = "#/components/schemas/Problem"

PROBLEM_FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemFieldError",
    "type": "object",
    "description": "One invalid field: where it is (`members[0].id_number`) and what is wrong with it.",
    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    "required": ["field", "message"],
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": (
        "RFC 9457 problem details, sent as `application/problem+json` with every error. An error may add "
        "members of its own beside those listed (e.g. `quota` and `load` of a helper at its quota, `violations` "
        "of a policy year, `line` and `column` of an eligibility expression)."
    ),
    "properties": {
        "type": {
            "type": "string",
            "format": "uri",
            "description": "What kind of problem this is.",
            "examples": [PROBLEM_BASE + "not-found"],
        },
        "title": {"type": "string", "description": "The status' short name, e.g. `Not Found`."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status."},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "instance": {"type": "string", "description": "The path of the request."},
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ProblemFieldError"},
            "description": "The fields at fault (validation errors and some conflicts).",
        },
        "allowed": {
            "type": "array",
            "items": {"type": "string"},
            "description": "409 of a lifecycle: the actions (or target statuses) allowed from the current status.",
        },
        "current_status": {"type": "string", "description": "409 of a household's lifecycle: its status now."},
        "current": {"type": "string", "description": "409 of an application's lifecycle: its status now."},
        "status_now": {"type": "string", "description": "409 of an alert or claim: its status now."},
        "current_etag": {"type": "string", "description": "412: the ETag of the current version."},
        "idempotency": {
            "type": "string",
            "description": "409 of an Idempotency-Key: which case it is (e.g. `body_mismatch`, `in_progress`).",
        },
    },
    "required": ["type", "title", "status", "detail", "instance"],
    "additionalProperties": True,
}

DESCRIPTIONS: dict[int, str] = {
    400: "The body is not well-formed (not JSON, or a form that does not parse) or a cursor is not one we issued.",
    401: "The bearer token is missing, malformed, expired or not for this service.",
    403: "The caller's roles and permissions do not admit this operation.",
    404: "No such resource, or it lies outside the caller's org scope (the two look alike).",
    409: "The resource's state does not allow this now.",
    412: "If-Match names another version than the current one: read the resource again.",
    422: "The request is invalid; `errors` names the fields at fault.",
    428: "This update needs an If-Match header with the ETag you read.",
    503: "The service's database (or the identity provider's signing keys) is unavailable: try again later.",
}
IDEMPOTENCY_CONFLICT = "its Idempotency-Key was used with another request, or that request is still in flight"

RESPONSE_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'The scheme to authenticate with: `Bearer`, with `error="invalid_token"` for an unusable '
            "token.",
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before trying again (sent when the database is unavailable).",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}

IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes a retried POST safe: the same key with the same body returns the first answer "
        "(`Idempotent-Replayed: true`); with another body, or while the first is still in flight, 409 (the "
        "problem's `detail` says which). Keys are the caller's own (scoped by the token's subject)."
    ),
    "schema": {"type": "string"},
}

# What FastAPI writes where it did not get a description of ours.
_GENERATED_DESCRIPTIONS = frozenset({"", "Validation Error", "Additional Response"})
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install_problem_documentation(app: FastAPI) -> None:
    """Make `app.openapi()` (and so `/openapi.json`) document the problem responses of every operation."""
    build = app.openapi
    documented: list[dict[str, Any]] = []  # the document last rewritten (FastAPI rebuilds when routes change)

    def openapi() -> dict[str, Any]:
        document = build()
        if not documented or documented[0] is not document:
            document_problems(document, app.routes)
            documented[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def document_problems(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Rewrite `document` (built by FastAPI from `routes`) in place: see the module docstring."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    schemas["ProblemFieldError"] = copy.deepcopy(PROBLEM_FIELD_ERROR_SCHEMA)
    paths = document.get("paths", {})
    for context in iter_route_contexts(routes):
        if not isinstance(context.original_route, APIRoute) or not context.include_in_schema:
            continue
        path_item = paths.get(context.path_format)
        if path_item is None:
            continue
        declared = dependency_statuses(context.dependant)
        for method in context.methods or ():
            operation = path_item.get(method.lower())
            if operation is not None:
                _document_operation(operation, method.upper(), declared)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if not _is_referenced(document, f"#/components/schemas/{name}"):
            schemas.pop(name, None)


def dependency_statuses(dependant: Dependant) -> frozenset[int]:
    """The statuses declared with `may_raise` by the endpoint and every dependency it pulls in."""
    statuses = set(declared_statuses(dependant.call))
    for sub in dependant.dependencies:
        statuses |= dependency_statuses(sub)
    return frozenset(statuses)


def _document_operation(operation: dict[str, Any], method: str, declared: Iterable[int]) -> None:
    statuses = set(declared)
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    authenticated = bool(operation.get("security"))
    if authenticated:
        statuses.add(401)
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if operation.get("requestBody") is not None:
        statuses |= {400, 422}
    if parameters:
        statuses.add(422)
    if any(_is_header(parameter, "If-Match") for parameter in parameters):
        statuses.add(412)
    idempotent = method == "POST" and authenticated
    if idempotent:
        statuses.add(409)
        if not any(_is_header(parameter, "Idempotency-Key") for parameter in parameters):
            parameters.append(copy.deepcopy(IDEMPOTENCY_KEY_PARAMETER))
    if not parameters:
        del operation["parameters"]

    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in statuses:
        responses.setdefault(str(status), {})
    for key, response in responses.items():
        if key.isdigit() and int(key) >= 400:
            _problem_response(int(key), response, idempotent=idempotent)
    operation["responses"] = dict(sorted(responses.items()))


def _problem_response(status: int, response: dict[str, Any], *, idempotent: bool) -> None:
    content = response.get("content")
    if content is None or _is_fastapi_validation(content):
        content = response["content"] = {}
    if not content:
        content[PROBLEM_JSON] = {"schema": {"$ref": PROBLEM_REF}}
    description = response.get("description") or ""
    if description in _GENERATED_DESCRIPTIONS or description == _phrase(status):
        description = DESCRIPTIONS.get(status, _phrase(status))
    if status == 409 and idempotent and "Idempotency-Key" not in description:
        description = f"{description.rstrip('.')}; or {IDEMPOTENCY_CONFLICT}."
    response["description"] = description
    if PROBLEM_JSON in content and status in RESPONSE_HEADERS:
        headers = response.setdefault("headers", {})
        for name, header in RESPONSE_HEADERS[status].items():
            headers.setdefault(name, copy.deepcopy(header))


def _is_fastapi_validation(content: dict[str, Any]) -> bool:
    schemas = [media.get("schema", {}).get("$ref") for media in content.values()]
    return bool(schemas) and all(
        ref in {f"#/components/schemas/{name}" for name in _FASTAPI_VALIDATION_SCHEMAS} for ref in schemas
    )


def _is_header(parameter: dict[str, Any], name: str) -> bool:
    return parameter.get("in") == "header" and str(parameter.get("name", "")).lower() == name.lower()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _is_referenced(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_is_referenced(value, ref) for value in node.values())
    if isinstance(node, list):
        return any(_is_referenced(item, ref) for item in node)
    return False

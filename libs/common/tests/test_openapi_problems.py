"""The OpenAPI document of a service app declares the problem responses its operations really send.

Built without a database or NATS: `app.openapi()` and the error handlers of a route without database
dependencies need neither (the lifespan is not run).
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from uplift.common.app import ReadSessionDep, ServiceDefinition, create_service_app
from uplift.common.auth import CurrentPrincipal, Principal, require
from uplift.common.concurrency import IF_MATCH_CHECKED, IF_MATCH_REQUIRED, require_if_match
from uplift.common.errors import PROBLEM_JSON, Conflict, NotFound
from uplift.common.pagination import Page, PageParams, make_page, page_params
from uplift.common.testkit import auth, new_platform, service_settings

PROBLEM = {"$ref": "#/components/schemas/Problem"}
NAME = "docs"
V1 = f"/{NAME}/v1"

Operator = Annotated[Principal, Depends(require("street_operator", "district_admin"))]


class Thing(BaseModel):
    id: str
    name: str


class ThingPatch(BaseModel):
    name: str


def build_router() -> APIRouter:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def read_thing(thing_id: str, _: Operator) -> Thing:
        if thing_id != "a1":
            raise NotFound(f"No thing {thing_id}.")
        return Thing(id=thing_id, name="first")

    @router.patch("/things/{thing_id}", dependencies=[IF_MATCH_REQUIRED])
    async def patch_thing(thing_id: str, body: ThingPatch, request: Request, _: Operator) -> Thing:
        require_if_match(request, 1)
        return Thing(id=thing_id, name=body.name)

    @router.delete(
        "/things/{thing_id}",
        status_code=204,
        dependencies=[IF_MATCH_CHECKED],
        responses={409: {"description": "The thing is in use."}},
    )
    async def delete_thing(thing_id: str, _: Operator) -> None:
        raise Conflict("The thing is in use.", allowed=["archive"], current_status="in_use")

    @router.post("/things", status_code=201)
    async def create_thing(body: ThingPatch, _: Operator, session: ReadSessionDep) -> Thing:
        return Thing(id="new", name=body.name)

    @router.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"sub": principal.sub}

    @router.get("/numbers", response_model=Page[int])
    async def numbers(page: Annotated[PageParams, Depends(page_params)]) -> Any:
        return make_page([], page.limit, lambda n: [n])

    return router


@pytest.fixture(scope="module")
def app() -> FastAPI:
    definition = ServiceDefinition(
        name=NAME, title="docs", description="docs", routers=[build_router()], platform=new_platform(NAME)
    )
    return create_service_app(definition, service_settings(NAME, "postgresql://nobody@127.0.0.1:9/none", "nats://x:9"))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    built: dict[str, Any] = app.openapi()
    return built


def responses(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]["responses"]
    return found


def problem_statuses(document: dict[str, Any], path: str, method: str) -> set[int]:
    """The statuses of the operation documented as `application/problem+json` with the Problem schema."""
    return {
        int(status)
        for status, response in responses(document, path, method).items()
        if response.get("content", {}).get(PROBLEM_JSON, {}).get("schema") == PROBLEM
    }


def header_parameters(document: dict[str, Any], path: str, method: str) -> dict[str, dict[str, Any]]:
    parameters = document["paths"][path][method].get("parameters", [])
    return {p["name"]: p for p in parameters if p["in"] == "header"}


def test_an_authenticated_operation_declares_401_403_and_its_404_422_503_as_problems(
    document: dict[str, Any],
) -> None:
    read = responses(document, f"{V1}/things/{{thing_id}}", "get")
    assert problem_statuses(document, f"{V1}/things/{{thing_id}}", "get") == {401, 403, 404, 422, 503}
    assert set(read) == {"200", "401", "403", "404", "422", "503"}
    assert "WWW-Authenticate" in read["401"]["headers"]
    assert read["503"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "Validation Error" not in read["422"]["description"]
    assert "application/json" not in read["422"]["content"]


def test_any_caller_has_no_403_and_an_anonymous_operation_no_401(document: dict[str, Any]) -> None:
    assert problem_statuses(document, f"{V1}/me", "get") == {401, 503}
    # page_params answers 400 for a cursor not ours; nothing here authenticates or opens a session.
    assert problem_statuses(document, f"{V1}/numbers", "get") == {400, 422}


def test_if_match_is_declared_with_412_and_428_only_where_it_is_required(document: dict[str, Any]) -> None:
    thing = f"{V1}/things/{{thing_id}}"
    assert "If-Match" in header_parameters(document, thing, "patch")
    assert {400, 412, 422, 428} <= problem_statuses(document, thing, "patch")
    assert "If-Match" in header_parameters(document, thing, "delete")
    deleted = problem_statuses(document, thing, "delete")
    assert 412 in deleted and 428 not in deleted
    assert "If-Match" not in header_parameters(document, thing, "get")
    assert not {412, 428} & problem_statuses(document, thing, "get")


def test_a_route_declared_conflict_keeps_its_description_and_gets_the_problem_content(
    document: dict[str, Any],
) -> None:
    conflict = responses(document, f"{V1}/things/{{thing_id}}", "delete")["409"]
    assert conflict["description"] == "The thing is in use."
    assert conflict["content"] == {PROBLEM_JSON: {"schema": PROBLEM}}


def test_a_post_declares_the_idempotency_key_and_its_409(document: dict[str, Any]) -> None:
    created = responses(document, f"{V1}/things", "post")
    assert problem_statuses(document, f"{V1}/things", "post") == {400, 401, 403, 409, 422, 503}
    assert "Idempotency-Key" in created["409"]["description"]
    assert header_parameters(document, f"{V1}/things", "post")["Idempotency-Key"]["required"] is False
    assert "Idempotency-Key" not in header_parameters(document, f"{V1}/things/{{thing_id}}", "patch")


def test_health_declares_no_problems_and_readiness_its_json_503(document: dict[str, Any]) -> None:
    assert set(responses(document, f"/{NAME}/healthz", "get")) == {"200"}
    ready = responses(document, f"/{NAME}/readyz", "get")
    assert set(ready) == {"200", "503"}
    assert set(ready["503"]["content"]) == {"application/json"}


def test_the_problem_schema_replaces_fastapis_validation_error(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail", "instance"]
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ProblemFieldError"}
    assert problem["properties"]["allowed"]["type"] == "array"


def test_successful_responses_are_those_fastapi_documents(app: FastAPI, document: dict[str, Any]) -> None:
    plain = get_openapi(title=app.title, version=app.version, routes=app.routes)
    compared = 0
    for path, operations in plain["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status < "400":
                    assert document["paths"][path][method]["responses"][status] == response, (path, method)
                    compared += 1
    assert compared >= 9
    assert document["components"]["schemas"]["Thing"] == plain["components"]["schemas"]["Thing"]


async def test_the_problems_sent_match_the_document(app: FastAPI, document: dict[str, Any]) -> None:
    validator = Draft202012Validator({**PROBLEM, "components": document["components"]})
    transport = httpx.ASGITransport(app=app)
    admin = auth("district_admin")
    async with httpx.AsyncClient(transport=transport, base_url="http://docs") as client:
        served = (await client.get(f"/{NAME}/openapi.json")).json()
        sent = {
            401: await client.get(f"{V1}/things/a1"),
            403: await client.get(f"{V1}/things/a1", headers=auth("analyst")),
            404: await client.get(f"{V1}/things/b2", headers=admin),
            409: await client.delete(f"{V1}/things/a1", headers=admin),
            412: await client.patch(f"{V1}/things/a1", json={"name": "x"}, headers={**admin, "If-Match": '"7"'}),
            422: await client.patch(f"{V1}/things/a1", json={"name": 3}, headers={**admin, "If-Match": '"1"'}),
            428: await client.patch(f"{V1}/things/a1", json={"name": "x"}, headers=admin),
        }
    assert served == document
    for status, response in sent.items():
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        operation = "get" if response.request.method == "GET" else response.request.method.lower()
        assert status in problem_statuses(document, f"{V1}/things/{{thing_id}}", operation)
        body = response.json()
        assert not list(validator.iter_errors(body)), body
    assert sent[409].json()["allowed"] == ["archive"]
    assert sent[412].json()["current_etag"] == '"1"'
    assert [error["field"] for error in sent[422].json()["errors"]] == ["name"]


def test_a_route_added_later_is_documented_too() -> None:
    definition = ServiceDefinition(name="late", title="late", description="late", platform=new_platform("late"))
    app = create_service_app(definition, service_settings("late", "postgresql://nobody@127.0.0.1:9/none", "nats://x:9"))
    assert "/late/v1/later/{item_id}" not in app.openapi()["paths"]
    router = APIRouter()

    @router.get("/later/{item_id}")
    async def later(item_id: int, _: Operator) -> dict[str, int]:
        return {"id": item_id}

    app.include_router(router, prefix="/late/v1")
    assert problem_statuses(app.openapi(), "/late/v1/later/{item_id}", "get") == {401, 403, 404, 422, 503}


@pytest.mark.parametrize("service", ["registry", "matching", "medical", "metrics"])
def test_the_services_documents(service: str) -> None:
    main = importlib.import_module(f"uplift.{service}.main")
    settings = service_settings(service, "postgresql://nobody@127.0.0.1:9/none", "nats://127.0.0.1:9")
    document = main.create_app(settings).openapi()
    assert problem_statuses(document, f"/{service}/healthz", "get") == set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            declared = problem_statuses(document, path, method)
            if operation.get("security"):
                assert {401, 503} <= declared, (method, path)
            if "If-Match" in header_parameters(document, path, method):
                assert 412 in declared, (method, path)
            for status, response in operation["responses"].items():
                if status >= "400" and path != f"/{service}/readyz":
                    assert status in {str(s) for s in declared}, (method, path, status)
    if service == "registry":
        household = "/registry/v1/households/{household_id}"
        assert {412, 428} <= problem_statuses(document, household, "patch")
        assert 428 not in problem_statuses(document, "/registry/v1/cadres/{cadre_id}", "patch")
        assert 409 in problem_statuses(document, household + "/members/{person_id}", "delete")
        assert 403 not in problem_statuses(document, "/registry/v1/org-units", "get")

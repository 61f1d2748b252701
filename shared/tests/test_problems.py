"""RFC 9457 problem details under /v1, the error shapes elsewhere unchanged."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field
from pymongo.errors import OperationFailure

from tdu_shared.access import Forbidden, Unauthorized
from tdu_shared.http import BodyLimit, limit_requests
from tdu_shared.problems import PROBLEM_JSON, Problem, install_problem_details, problem_responses


class Body(BaseModel):
    name: str = Field(max_length=5)
    tags: list[Annotated[str, Field(max_length=3)]] = Field(default_factory=list, max_length=2)


def app() -> FastAPI:
    app = FastAPI()
    limit_requests(app, 1024)  # the platform's own 422 and 413 handlers, wrapped below
    router = APIRouter()
    for prefix in ("/v1/things", "/things"):

        @router.post(prefix, responses=problem_responses(422))
        async def create(body: Body, limit: Annotated[int, Query(le=10)] = 1) -> dict[str, str]:
            return {"name": body.name}

        @router.get(prefix + "/{thing}")
        async def get(thing: str) -> dict[str, str]:
            if thing == "missing":
                raise HTTPException(404, "chose inconnue")
            if thing == "anonymous":
                raise Unauthorized("authentification requise")
            if thing == "forbidden":
                raise Forbidden("hors de votre périmètre")
            if thing == "conflict":
                raise Problem(409, "déjà fait", headers={"Retry-After": "5"})
            if thing == "busy":
                raise OperationFailure("database is locked (5) (SQLITE_BUSY)", code=1)
            if thing == "broken":
                raise OperationFailure("unknown operator: $foo", code=2)
            return {"thing": thing}

    app.include_router(router)

    async def unauthorized(_: object, exc: Exception) -> httpx.Response:
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})  # type: ignore[return-value]

    app.add_exception_handler(Unauthorized, unauthorized)  # type: ignore[arg-type]
    install_problem_details(app)
    return app


async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://t") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_v1_errors_are_problem_details_with_the_status_title_and_detail() -> None:
    missing = await call("GET", "/v1/things/missing")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM_JSON
    assert missing.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "chose inconnue",
        "instance": "/v1/things/missing",
    }
    anonymous = await call("GET", "/v1/things/anonymous")
    assert (anonymous.status_code, anonymous.json()["detail"]) == (401, "authentification requise")
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    forbidden = await call("GET", "/v1/things/forbidden")
    assert (forbidden.json()["status"], forbidden.json()["title"]) == (403, "Forbidden")
    conflict = await call("GET", "/v1/things/conflict")
    assert conflict.status_code == 409 and conflict.headers["retry-after"] == "5"
    unknown_route = await call("GET", "/v1/nowhere")
    assert unknown_route.status_code == 404 and unknown_route.headers["content-type"] == PROBLEM_JSON


async def test_a_422_names_each_refused_field() -> None:
    answer = await call("POST", "/v1/things?limit=99", json={"name": "too long", "tags": ["abcd"]})
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert (problem["status"], problem["detail"]) == (422, "3 champs refusés")
    fields = {(e["in"], e["field"], e["pointer"], e["type"]) for e in problem["errors"]}
    assert fields == {
        ("body", "name", "#/name", "string_too_long"),
        ("body", "tags.0", "#/tags/0", "string_too_long"),
        ("query", "limit", None, "less_than_equal"),
    }
    assert "too long" not in answer.text  # nothing the caller sent is quoted back


async def test_other_paths_keep_their_error_shapes() -> None:
    missing = await call("GET", "/things/missing")
    assert (
        missing.json() == {"detail": "chose inconnue"}
        and missing.headers["content-type"] == "application/json"
    )
    invalid = await call("POST", "/things", json={"name": "too long"})
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["body", "name"]
    anonymous = await call("GET", "/things/anonymous")
    assert anonymous.json() == {"detail": "authentification requise"}


async def test_a_body_too_large_is_a_problem_under_v1_only() -> None:
    limited = BodyLimit(app(), max_bytes=10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://t") as client:
        v1 = await client.post("/v1/things", content=b"x" * 100, headers={"content-type": "application/json"})
        other = await client.post("/things", content=b"x" * 100, headers={"content-type": "application/json"})
    assert v1.status_code == other.status_code == 413
    assert v1.headers["content-type"] == PROBLEM_JSON and v1.json()["status"] == 413
    assert "type" not in other.json()


def test_the_openapi_document_describes_problem_responses() -> None:
    document = app().openapi()
    schemas = document["components"]["schemas"]
    assert {"ProblemDetails", "FieldError"} <= set(schemas)
    v1 = document["paths"]["/v1/things/{thing}"]["get"]["responses"]["422"]
    assert list(v1["content"]) == [PROBLEM_JSON]  # FastAPI's own 422 replaced under /v1
    other = document["paths"]["/things/{thing}"]["get"]["responses"]["422"]
    assert list(other["content"]) == ["application/json"]
    example = document["paths"]["/v1/things"]["post"]["responses"]["422"]["content"][PROBLEM_JSON]["example"]
    assert example["status"] == 422 and example["errors"]


async def test_a_store_busy_for_a_moment_is_a_503_to_retry_not_a_500() -> None:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        v1, other = await client.get("/v1/things/busy"), await client.get("/things/busy")
        broken = await client.get("/things/broken")
    assert v1.status_code == other.status_code == 503
    assert v1.headers["retry-after"] == other.headers["retry-after"] == "1"
    assert v1.headers["content-type"] == PROBLEM_JSON and "SQLITE" not in v1.text + other.text
    assert broken.status_code == 500  # a store error that is not about being busy stays an error

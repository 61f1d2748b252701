"""Error bodies of the versioned HTTP APIs: RFC 9457 problem details, for paths under ``/v1`` only.

Every error a ``/v1`` operation answers is ``application/problem+json``::

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "1 champ refusé", "instance": "/v1/webhooks",
     "errors": [{"field": "callback_url", "in": "body", "pointer": "#/callback_url",
                 "detail": "https obligatoire", "type": "callback_url_refused"}]}

Other paths keep the error shapes they had (``{"detail": ...}``), so existing clients see no change.

- :class:`Problem`: raise it from a route for an error with a detail, a type, field ``errors`` or headers of
  your own (rendered as a problem on any path).
- :func:`install_problem_details`: wraps the app's handlers of HTTP errors, validation errors (422 with
  ``errors`` per field), :class:`~tdu_shared.access.Unauthorized` (401, with ``WWW-Authenticate``),
  :class:`~tdu_shared.access.Forbidden` (403), too-large events, the store or broker unavailable for a
  moment (503 with ``Retry-After``) and unexpected errors (500), so that a
  path under one of ``prefixes`` answers a problem and any other path what the handler it wraps answers.
  :meth:`tdu_shared.runtime.ServiceRuntime.http_app` calls it for ``/v1`` on every service.
- :func:`problem_responses`: OpenAPI ``responses=`` entries for an operation's errors, with examples.
- :func:`error_response`: for middlewares answering before routing (body too large, rate limit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tdu_shared.access.principal import Forbidden, Unauthorized
from tdu_shared.envelope import EventTooLarge
from tdu_shared.kafka import unavailable

PROBLEM_JSON = "application/problem+json"
PREFIXES: tuple[str, ...] = ("/v1",)
"""Paths whose errors are problem details (a prefix matches itself and what is under it)."""
WWW_AUTHENTICATE = 'Bearer realm="traitdunion"'

Handler = Callable[[Request, Any], Awaitable[Response]]


class FieldError(BaseModel):
    """One refused input of a 422."""

    model_config = ConfigDict(populate_by_name=True)

    field: str = Field(description="The input, dotted for nested ones (`basins.0`).")
    in_: str = Field(alias="in", description="Where it was: body, query, path or header.")
    pointer: str | None = Field(None, description="JSON pointer into the body (RFC 6901), for body fields.")
    detail: str = Field(description="Why it was refused.")
    type: str = Field(description="Kind of error (`missing`, `string_too_long`, `callback_url_refused`...).")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error of a ``/v1`` operation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "abonnement wh_0123456789abcdef inconnu",
                    "instance": "/v1/webhooks/wh_0123456789abcdef",
                }
            ]
        }
    )

    type: str = Field(
        "about:blank", description="URI naming the kind of problem; about:blank: the status says it."
    )
    title: str = Field(description="Short summary of the kind of problem (the HTTP reason for about:blank).")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, for a person (French).")
    instance: str | None = Field(None, description="The path of the request.")
    errors: list[FieldError] | None = Field(None, description="Each refused input (422 only).")


class Problem(Exception):
    """An error answered as problem details: ``raise Problem(404, "abonnement inconnu")``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type: str = "about:blank",
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _phrase(status)
        self.type = type
        self.errors = [dict(e) for e in errors] if errors is not None else None
        self.headers = dict(headers or {})

    @classmethod
    def field(cls, field: str, detail: str, *, kind: str = "value_error", status: int = 422) -> Problem:
        """A refused body field, as a 422 naming it (``errors`` with one entry)."""
        return cls(
            status,
            f"{field} : {detail}",
            errors=[field_error(field, detail, kind)],
        )

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        body["detail"] = self.detail
        if instance is not None:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def response(self, instance: str | None = None) -> JSONResponse:
        return JSONResponse(
            self.body(instance), status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


def field_error(field: str, detail: str, kind: str = "value_error", where: str = "body") -> dict[str, Any]:
    pointer = "#/" + "/".join(field.split(".")) if where == "body" else None
    return {"field": field, "in": where, "pointer": pointer, "detail": detail, "type": kind}


def under(path: str, prefixes: Sequence[str] = PREFIXES) -> bool:
    """Whether errors of ``path`` are problem details."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def error_response(
    path: str,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    prefixes: Sequence[str] = PREFIXES,
) -> JSONResponse:
    """For middlewares that answer before routing: a problem under ``prefixes``, else ``{"detail": ...}``."""
    if under(path, prefixes):
        return Problem(status, detail, headers=headers).response(path)
    return JSONResponse({"detail": detail}, status_code=status, headers=dict(headers or {}))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def validation_problem(exc: RequestValidationError) -> Problem:
    """422 with one entry per refused input; quotes nothing the caller sent."""
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else "body"
        field = ".".join(loc[1:] if loc and loc[0] == where else loc) or where
        errors.append(field_error(field, str(error.get("msg", "")), str(error.get("type", "")), where))
    count = len(errors)
    return Problem(
        422, f"{count} champ{'s' if count > 1 else ''} refusé{'s' if count > 1 else ''}", errors=errors
    )


def problem_of(exc: Exception) -> Problem:
    """The problem an exception answers under a problem-details prefix."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, RequestValidationError):
        return validation_problem(exc)
    if isinstance(exc, Unauthorized):
        return Problem(401, str(exc), headers={"WWW-Authenticate": WWW_AUTHENTICATE})
    if isinstance(exc, Forbidden):
        return Problem(403, str(exc))
    if isinstance(exc, EventTooLarge):
        return Problem(422, exc.reason, errors=[field_error("body", exc.reason, "too_large", "body")])
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
        return Problem(exc.status_code, detail, headers=exc.headers)
    if unavailable(exc):
        return Problem(503, UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_S})
    return Problem(500, "erreur interne : l'incident est enregistré, réessayez plus tard")


UNAVAILABLE = "service momentanément indisponible, réessayez dans un instant"
RETRY_AFTER_S = "1"


async def _plain_server_error(_: Request, exc: Exception) -> Response:
    if unavailable(exc):  # the store or the broker, for a moment: the caller may send the request again
        return JSONResponse({"detail": UNAVAILABLE}, 503, headers={"Retry-After": RETRY_AFTER_S})
    return PlainTextResponse("Internal Server Error", status_code=500)


async def _problem_anywhere(request: Request, exc: Exception) -> Response:
    return problem_of(exc).response(request.url.path)


async def _detail_401(_: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, 401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


async def _detail_403(_: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, 403)


async def _detail_too_large(_: Request, exc: Exception) -> Response:
    reason = exc.reason if isinstance(exc, EventTooLarge) else str(exc)
    return JSONResponse({"detail": [{"loc": ["body"], "type": "too_large", "msg": reason}]}, 422)


DEFAULTS: dict[type[Exception], Handler] = {
    StarletteHTTPException: http_exception_handler,
    RequestValidationError: request_validation_exception_handler,
    Unauthorized: _detail_401,
    Forbidden: _detail_403,
    EventTooLarge: _detail_too_large,
    Exception: _plain_server_error,
    Problem: _problem_anywhere,
}
"""What a path outside the prefixes answers when the app had no handler of its own for that error."""


def install_problem_details(app: FastAPI, prefixes: Sequence[str] = PREFIXES) -> None:
    """Answer problem details for errors of paths under ``prefixes``; leave other paths' errors as they were.

    Call it once the app's own handlers are added (it wraps the handler registered for each kind of error,
    or FastAPI's default). :class:`Problem` is answered as a problem on any path.
    """
    kinds: list[type[Exception]] = [
        StarletteHTTPException,
        RequestValidationError,
        Unauthorized,
        Forbidden,
        EventTooLarge,
        Problem,
        Exception,
    ]
    for kind in kinds:
        previous = cast(Handler | None, app.exception_handlers.get(kind) or DEFAULTS.get(kind))
        if previous is None:
            continue
        app.add_exception_handler(kind, _wrapped(previous, tuple(prefixes)))
    _with_problem_schemas(app, prefixes)


def _wrapped(previous: Handler, prefixes: tuple[str, ...]) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if under(request.url.path, prefixes):
            return problem_of(exc).response(request.url.path)
        return await previous(request, exc)

    return handler


def problem_responses(
    *statuses: int,
    examples: Mapping[int, str] | None = None,
    field_errors: Sequence[Mapping[str, Any]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries: each status answers :class:`ProblemDetails` (``problem+json``), with
    an example whose detail is ``examples[status]`` (a generic one otherwise); the 422 example lists
    ``field_errors`` (made with :func:`field_error`)."""
    described = {
        400: "Bad request",
        401: "No credential, or a malformed, forged, expired or revoked one",
        403: "The caller's role, region or basins do not allow this",
        404: "Not found (or not the caller's)",
        409: "Conflicts with the current state",
        413: "Request body too large",
        422: "Refused input: `errors` names each field and why",
        429: "Too many requests",
        503: "Unavailable for now",
    }
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        example: dict[str, Any] = {
            "type": "about:blank",
            "title": _phrase(status),
            "status": status,
            "detail": (examples or {}).get(status) or described.get(status, _phrase(status)),
        }
        if status == 422:
            example["errors"] = [dict(e) for e in field_errors or [GENERIC_FIELD_ERROR]]
        responses[status] = {
            "description": described.get(status, _phrase(status)),
            "content": {PROBLEM_JSON: {"schema": {"$ref": SCHEMA_REF}, "example": example}},
        }
    return responses


GENERIC_FIELD_ERROR = field_error(
    "limit", "Input should be less than or equal to 200", "less_than_equal", "query"
)
SCHEMA_REF = "#/components/schemas/ProblemDetails"


def _with_problem_schemas(app: FastAPI, prefixes: Sequence[str]) -> None:
    """The app's OpenAPI document holds ``ProblemDetails`` (and ``FieldError``) for the ``$ref`` of
    :func:`problem_responses`."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        document = original()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "ProblemDetails" not in schemas:
            schema = ProblemDetails.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            for name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            schemas["ProblemDetails"] = schema
        for path, operations in document.get("paths", {}).items():
            if not under(path, prefixes):
                continue
            for operation in operations.values():
                validation = operation.get("responses", {}).get("422")
                if validation is not None and PROBLEM_JSON not in validation.get("content", {}):
                    # FastAPI's own 422 ({"detail": [...]}): what a problem-details path answers instead
                    operation["responses"]["422"] = problem_responses(422, examples={422: "1 champ refusé"})[
                        422
                    ]
        return document

    app.openapi = openapi  # type: ignore[method-assign]

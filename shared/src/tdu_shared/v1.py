"""The partners' API, versioned: ``/v1/...`` operations that are the services' own operations, published
under a stable path, for partner keys only, each with an example.

A service lists which of its operations partners may call (:class:`PartnerOperation`); :func:`mirror`
mounts each again under its ``/v1`` path (same code, same validation, same answers), and
:func:`partner_rules` gives each the rule of the operation it mirrors, narrowed to partner keys (public
operations stay public). The internal paths stay for the services' own pages. ``tdu_dev.partner_api``
merges the ``/v1`` operations of every service into the one OpenAPI document partners read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from tdu_shared.access.policy import CONVERTER, PARTNER, Rule

PREFIX = "/v1"
TAG = "partners v1"


@dataclass(frozen=True)
class PartnerOperation:
    method: str
    path: str
    """The service's own path; partners call ``/v1`` + ``public`` (default: the same path)."""
    request_example: Any = None
    response_example: Any = None
    public: str | None = None
    description: str | None = None

    @property
    def v1_path(self) -> str:
        return PREFIX + (self.public or self.path)


def _plain(path: str) -> str:
    """'/sessions/{session_id:path}' as OpenAPI and the policy write it: '/sessions/{session_id}'."""
    return CONVERTER.sub(r"{\1}", path)


def _route(source: APIRouter, method: str, path: str) -> APIRoute:
    for route in source.routes:
        if (
            isinstance(route, APIRoute)
            and _plain(route.path) == _plain(path)
            and method in (route.methods or ())
        ):
            return route
    raise LookupError(f"no operation {method} {path} to publish under {PREFIX}")


def mirror(source: APIRouter, operations: Iterable[PartnerOperation]) -> APIRouter:
    """``source``'s operations again under their ``/v1`` paths, with their examples in the OpenAPI."""
    v1 = APIRouter(tags=[TAG])
    for op in operations:
        route = _route(source, op.method, op.path)
        extra: dict[str, Any] = {}
        if op.request_example is not None:
            content_type = "application/xml" if isinstance(op.request_example, str) else "application/json"
            extra["requestBody"] = {"content": {content_type: {"example": op.request_example}}}
        status = str(route.status_code or 200)
        responses: dict[int | str, dict[str, Any]] = {**route.responses}
        if op.response_example is not None:
            responses[status] = {
                **responses.get(status, {}),
                "content": {"application/json": {"example": op.response_example}},
            }
        v1.add_api_route(
            op.v1_path,
            route.endpoint,
            methods=[op.method],
            response_model=route.response_model,
            status_code=route.status_code,
            summary=route.summary,
            description=op.description or route.description,
            responses=responses,
            response_class=route.response_class,
            openapi_extra={**(route.openapi_extra or {}), **extra} if extra else route.openapi_extra,
            name=f"v1:{route.name}",
            operation_id=f"v1_{op.method.lower()}_{_slug(_plain(op.public or op.path))}",
        )
    return v1


def partner_rules(rules: Sequence[Rule], operations: Iterable[PartnerOperation]) -> tuple[Rule, ...]:
    """For each ``/v1`` operation, the rule of the operation it mirrors: public stays public, otherwise
    partner keys only (with the capability that rule asks of them)."""
    by_key = {(r.method, _plain(r.path)): r for r in rules}
    out = []
    for op in operations:
        rule = by_key[(op.method, _plain(op.path))]
        path = _plain(op.v1_path)
        if rule.public:
            out.append(Rule(op.method, path, public=True, scope=rule.scope))
            continue
        grants = frozenset(g for g in rule.allow if g.role == PARTNER)
        if not grants:
            raise ValueError(f"{op.method} {op.path} is not open to partner keys: it cannot be in {PREFIX}")
        out.append(Rule(op.method, path, grants, rule.scope))
    return tuple(out)


def _slug(path: str) -> str:
    return "_".join(p.strip("{}").replace("-", "_") for p in path.split("/") if p)

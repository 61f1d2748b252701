"""HTTP API: read the catalogue (sessions by basin, ROME fiche, funding, start date) and upload LHEO files."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from datetime import date
from typing import IO, Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from tdu_shared.access import Forbidden
from tdu_shared.access.policy import Caller
from tdu_shared.contracts.journeys import Role
from tdu_shared.contracts.trainings import SessionState
from tdu_shared.http import MAX_PAGE
from trainings.domain.report import ImportReport
from trainings.ports import SessionQuery, SessionRepository

SOURCE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"

Importer = Callable[[IO[bytes], str, bool], Awaitable[ImportReport]]


class SessionPage(BaseModel):
    items: list[SessionState] = Field(description="Sessions of this page, by start date.")
    page: int = Field(description="Page number, from 1.")
    size: int = Field(description="Page size.")
    total: int = Field(description="Sessions matching the filters, all pages together.")


class ViolationOut(BaseModel):
    line: int | None
    message: str


class ViolationsOut(BaseModel):
    count: int = Field(description="Violations of the LHEO 2.3 schema found.")
    first: list[ViolationOut] = Field(description="The first ones (up to 100).")


class ImportError_(BaseModel):
    message: str
    line: int | None = Field(description="Line of the file where reading stopped.")


class ImportSummary(BaseModel):
    source: str = Field(description="Catalogue source this file is a snapshot of.")
    formations: int
    actions: int
    sessions: int = Field(description="Sessions accepted.")
    funded_sessions: int = Field(description="Accepted sessions funded by the Region (code-financeur 2).")
    rejected: int = Field(description="Sessions refused.")
    reasons: dict[str, int] = Field(description="Refused sessions per reason.")
    complete: bool = Field(
        description="The file was read to its end (only then are missing sessions withdrawn)."
    )
    error: ImportError_ | None = None
    violations: ViolationsOut | None = None
    published: int
    updated: int
    unchanged: int
    withdrawn: int


async def spool(request: Request, max_bytes: int) -> IO[bytes]:
    """The request body in a temporary file (on disk beyond 16 MB), refused beyond ``max_bytes``."""
    body = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (closed by the caller)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            body.close()
            raise HTTPException(413, f"fichier trop volumineux (plus de {max_bytes // 1024 // 1024} Mo)")
        body.write(chunk)
    body.seek(0)
    return body


def build_router(repository: SessionRepository, importer: Importer, *, max_upload_mb: int = 512) -> APIRouter:
    router = APIRouter(tags=["sessions"])

    @router.get("/sessions", response_model=SessionPage, summary="List active sessions, filtered and paged")
    async def list_sessions(
        basin: Annotated[
            str | None, Query(max_length=10, description="Employment basin code (4410 = Metz).")
        ] = None,
        rome: Annotated[
            str | None, Query(pattern=r"^[A-Na-n]\d{4}$", description="ROME 4 fiche (K2303).")
        ] = None,
        funded: Annotated[bool | None, Query(description="Only region-funded (true) or not (false).")] = None,
        start_after: Annotated[date | None, Query(description="Sessions starting after this day.")] = None,
        source: Annotated[
            str | None, Query(pattern=SOURCE_PATTERN, max_length=64, description="Catalogue source.")
        ] = None,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
        size: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    ) -> SessionPage:
        query = SessionQuery(basin, rome.upper() if rome else None, funded, start_after, source, page, size)
        items, total = await repository.search(query)
        return SessionPage(items=items, page=page, size=size, total=total)

    @router.get("/sessions/{session_id:path}", response_model=SessionState, summary="One active session")
    async def get_session(session_id: Annotated[str, Path(max_length=500)]) -> SessionState:
        session = await repository.get(session_id)
        if session is None:
            raise HTTPException(404, f"session inconnue ou retirée : {session_id}")
        return session

    @router.post(
        "/imports",
        response_model=ImportSummary,
        tags=["imports"],
        summary="Import an LHEO 2.2/2.3 catalogue (request body: the XML file) as a snapshot of its source",
        responses={
            422: {"description": "Invalid parameters, or the file breaks (line given); nothing withdrawn."}
        },
        openapi_extra={"requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    )
    async def upload(
        request: Request,
        source: Annotated[
            str,
            Query(pattern=SOURCE_PATTERN, max_length=64, description="Catalogue source (snapshot scope)."),
        ],
        caller: Caller,
        validate: Annotated[bool, Query(description="Also check the file against the LHEO 2.3 XSD.")] = False,
    ) -> Any:
        if caller.role == Role.PARTNER_SYSTEM and not caller.may("catalogue:write", source):
            raise Forbidden(f"la clé de {caller.subject} ne peut pas importer la source {source}")
        body = await spool(request, max_upload_mb * 1024 * 1024)
        try:
            report = await importer(body, source, validate)
        finally:
            body.close()
        summary = report.summary()
        if not report.complete:
            raise HTTPException(422, {"message": "catalogue illisible : rien n'a été retiré", **summary})
        return summary

    return router

"""HTTP API for front ends and partners.

The caller is who their credential says (``Authorization: Bearer``: a partner key or a session token; see
``journeys.access`` for who may call what). Commands carry an idempotency key (``Idempotency-Key`` header or
``command_id`` in the body). 401: no valid credential; 403: wrong role, not a party to the journey, or
outside the caller's basins; 409: transition not allowed now (with ``allowed_actions``) or offer not
eligible; 422: invalid body or a broken rule.
"""

# No ``from __future__ import annotations`` here: the action routes are built in a loop and FastAPI must
# see their request models as real classes.

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from journeys import handlers
from journeys.domain.kpis import Period
from journeys.domain.model import Actor, Journey
from journeys.domain.transitions import (
    ACTION_PATHS,
    Action,
    GuardRefused,
    RoleRefused,
    TransitionRefused,
    allowed_actions,
    check_party,
    check_scope,
)
from journeys.handlers import CONTACT_FIELDS, NotFound, OfferNotEligible, Ports
from journeys.ports import AuditEntry, Conflict, JourneyQuery, Publisher
from journeys.readmodels import BadCursor
from tdu_shared.access import Forbidden, Principal, Unauthorized
from tdu_shared.access.keys import KeyRing
from tdu_shared.access.policy import Caller
from tdu_shared.contracts import journeys as contracts
from tdu_shared.contracts.journeys import JourneyCommand, JourneyState, OnJourney, Role
from tdu_shared.http import MAX_PAGE
from tdu_shared.problems import PROBLEM_JSON, Problem, field_error, under

ENVELOPE_FIELDS = {"command_id", "actor_role", "actor_id", "journey_id"}


def actor_of(caller: Caller) -> Actor:
    """The caller as the journey's history names them: the person's id, the operator, the partner."""
    if caller.role is None:
        raise Unauthorized("authentification requise")
    return Actor(caller.role, caller.subject)


ActorDep = Annotated[Actor, Depends(actor_of)]


def limited_to(caller: Principal) -> frozenset[str] | None:
    """The basins an operator or a partner key is limited to (parties are checked as parties)."""
    return caller.basins if caller.role in (Role.BASIN_OPERATOR, Role.PARTNER_SYSTEM) else None


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=200, description="Idempotency key (or command_id in the body)."
    ),
]
JourneyId = Annotated[str, Path(max_length=100, description="Id of the journey.")]
PersonId = Annotated[str, Path(max_length=100, description="Opaque id of the person.")]


def request_model(command: type[JourneyCommand]) -> type[BaseModel]:
    """The command's own fields (its validation included); the actor comes from the headers."""
    own: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in command.model_fields.items()
        if name not in ENVELOPE_FIELDS
    }
    return create_model(
        f"{command.__name__}Request",
        __config__=ConfigDict(extra="forbid"),
        command_id=(str | None, Field(None, min_length=1, max_length=200, description="Idempotency key.")),
        **own,
    )


class StepView(BaseModel):
    at: datetime
    action: str
    from_state: JourneyState | None = None
    to_state: JourneyState
    actor_role: Role | None = None
    actor_id: str | None = None
    details: dict[str, Any]


class JourneyView(BaseModel):
    """A journey as the API shows it: ids only, never a person's name, e-mail or phone."""

    journey_id: str
    revision: int
    state: JourneyState
    offer_id: str
    offer_title: str | None = None
    region: str
    basin: str | None = None
    seeker_id: str
    employer_id: str | None = None
    session_id: str | None = None
    provider_id: str | None = None
    immersion_starts_on: date | None = None
    immersion_ends_on: date | None = None
    immersion_place: str | None = None
    immersion_outcome: str | None = None
    promise_signed: bool
    commitment_signed: bool
    planned_start: date | None = None
    training_started_on: date | None = None
    training_completed_on: date | None = None
    contract_start: date | None = None
    contract_type: str | None = None
    contract_months: int | None = None
    follow_ups: dict[str, bool]
    abandoned_at_step: JourneyState | None = None
    abandon_reason: str | None = None
    abandoned_by: Role | None = None
    created_at: datetime
    updated_at: datetime
    history: list[StepView]
    allowed_actions: list[str] = Field(description="Actions the caller may take now.")
    replayed: bool = Field(False, description="True when this answer is for a repeated command.")

    @classmethod
    def of(cls, journey: Journey, actor: Actor, replayed: bool = False) -> "JourneyView":
        data = {k: v for k, v in vars(journey).items() if k not in ("sessions", "history")}
        steps = [StepView(**vars(s)) for s in journey.history]
        return cls(
            **data,
            history=steps,
            allowed_actions=allowed_actions(journey.state, actor.role),
            replayed=replayed,
        )


class JourneyPage(BaseModel):
    items: list[JourneyView]
    total: int
    page: int
    page_size: int
    next_cursor: str | None = Field(
        None,
        description="Pass as `cursor` for the next page (stable while journeys are added); none at the end.",
    )


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(None, min_length=1, max_length=100)
    last_name: str | None = Field(None, min_length=1, max_length=100)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=20)
    postal_code: str | None = Field(None, pattern=r"^\d{5}$")
    education_level: str | None = Field(None, max_length=20)
    jobseeker_status: str | None = Field(None, max_length=20)
    consent_email: bool | None = None
    consent_sms: bool | None = None

    @field_validator("first_name", "last_name", "postal_code", "consent_email", "consent_sms")
    @classmethod
    def _kept(cls, value: object) -> object:
        """Left out, a field keeps its value; these cannot be erased with ``null`` (phone and e-mail can)."""
        if value is None:
            raise ValueError("ne peut pas être effacé : omettre le champ pour le garder")
        return value


def _command_id(body: BaseModel, header: str | None) -> str:
    key = getattr(body, "command_id", None) or header
    if not key:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "command_id"],
                    "type": "missing",
                    "msg": "command_id (ou l'en-tête Idempotency-Key) est obligatoire",
                }
            ],
        )
    return str(key)


def _build(
    command: type[JourneyCommand], body: BaseModel, actor: Actor, key: str, **extra: Any
) -> JourneyCommand:
    try:
        return command(
            **body.model_dump(exclude={"command_id"}),
            command_id=key,
            actor_role=actor.role,
            actor_id=actor.actor_id,
            **extra,
        )
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_context=False)) from None


async def _self_or_operator(caller: Principal, person_id: str, ports: Ports, action: str) -> None:
    """The person themselves, or an operator of a basin where the person has a journey (recorded in the
    audit log, with the person's basins, whose operators may read the entry)."""
    if caller.role != Role.BASIN_OPERATOR:
        if caller.subject != person_id:
            raise Forbidden("seule la personne concernée ou un opérateur de son bassin peut faire cela")
        return
    basins = await _basins_of(person_id, ports)
    if caller.basins is not None and not (caller.basins & basins):
        raise Forbidden(f"personne {person_id} : aucun parcours dans vos bassins")
    entry = AuditEntry(
        str(uuid.uuid4()), ports.clock.now(), caller.subject, action, person_id, tuple(sorted(basins))
    )
    await ports.audit.record(entry)


async def _journey_for(journey_id: str, actor: Actor, caller: Principal, ports: Ports) -> Journey:
    """The journey, if the caller is party to it or an operator or partner key of its basin."""
    journey = await ports.journeys.get(journey_id)
    if journey is None:
        raise NotFound(f"parcours {journey_id} inconnu")
    check_party(journey, actor)
    check_scope(journey.basin, limited_to(caller))
    return journey


async def _basins_of(person_id: str, ports: Ports) -> set[str]:
    """The basins of the journeys a person is party to (as seeker, employer or provider)."""
    basins: set[str] = set()
    for side in ("seeker_id", "employer_id", "provider_id"):
        found = await ports.read_models.page(JourneyQuery(**{side: person_id}), 0, 200, ports.journeys)
        basins |= {j.basin for j in found.items if j.basin}
    return basins


class ApplicantView(BaseModel):
    """What the employer sees of an applicant to their offer: the profile and the note they wrote."""

    person_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    postal_code: str | None
    education_level: str | None
    jobseeker_status: str | None
    message: str | None = Field(description="The applicant's note to the employer.")


class AuditView(BaseModel):
    at: datetime
    operator: str = Field(description="Who (the operator's sign-in).")
    action: str = Field(description="read, change or erase.")
    person_id: str
    basins: list[str] = Field(description="The person's basins then.")


class PartnerKeyView(BaseModel):
    key_id: str = Field(description="Public part of the key (never its secret).")
    partner: str
    label: str | None
    basins: list[str] = Field(description="Basins it may read and act on; empty: every basin of the region.")
    capabilities: list[str]
    issued_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None


def partner_keys_router(ring: KeyRing) -> APIRouter:
    """The partner keys that reach an operator's basins, as the ``access.keys`` topic says (made, rotated
    and revoked with ``tdu-access keys``)."""
    api = APIRouter(tags=["access"])

    @api.get(
        "/partner-keys",
        response_model=list[PartnerKeyView],
        summary="Partner keys valid in the operator's basins (revoked ones too), newest issuer first",
    )
    async def list_keys(
        caller: Caller, basin: Annotated[str | None, Query(max_length=10)] = None
    ) -> list[PartnerKeyView]:
        scope = caller.only_basin(basin)
        shown = []
        for known in ring.known():
            issued, revoked = known.issued, known.revoked
            if issued is None or issued.region != caller.region:
                continue
            if scope is not None and issued.basins and scope not in issued.basins:
                continue
            shown.append(
                PartnerKeyView(
                    key_id=issued.key_id,
                    partner=issued.partner,
                    label=issued.label,
                    basins=sorted(issued.basins),
                    capabilities=sorted(issued.capabilities),
                    issued_by=issued.issued_by,
                    expires_at=issued.expires_at,
                    revoked_at=revoked.revoked_at if revoked else None,
                    revoked_by=revoked.revoked_by if revoked else None,
                    revoke_reason=revoked.reason if revoked else None,
                )
            )
        return sorted(shown, key=lambda k: (k.revoked_at is not None, k.partner, k.key_id))

    return api


def router(ports: Ports, publisher: Publisher, max_page_size: int = 200) -> APIRouter:
    api = APIRouter(tags=["journeys"])
    application_model = request_model(contracts.SubmitApplication)

    @api.post(
        "/journeys",
        status_code=201,
        response_model=JourneyView,
        summary="Apply to an eligible offer (seeker profile in the body)",
    )
    async def apply(
        body: Annotated[application_model, Body()],  # type: ignore[valid-type]
        actor: ActorDep,
        caller: Caller,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        command = _build(contracts.SubmitApplication, body, actor, _command_id(body, idempotency_key))
        result = await handlers.execute(command, ports, within=limited_to(caller))
        view = JourneyView.of(result.journey, actor, result.replayed)
        return JSONResponse(view.model_dump(mode="json"), status_code=200 if result.replayed else 201)

    for action, path in ACTION_PATHS.items():
        _add_action(api, ports, action, path)

    @api.get("/journeys/{journey_id}", response_model=JourneyView, summary="A journey with its history")
    async def read(journey_id: JourneyId, actor: ActorDep, caller: Caller) -> JourneyView:
        return JourneyView.of(await _journey_for(journey_id, actor, caller, ports), actor)

    @api.get("/journeys", response_model=JourneyPage, summary="Journeys per basin, employer or seeker, paged")
    async def list_journeys(
        actor: ActorDep,
        caller: Caller,
        basin: Annotated[str | None, Query(max_length=10)] = None,
        employer_id: Annotated[str | None, Query(max_length=100)] = None,
        seeker_id: Annotated[str | None, Query(max_length=100)] = None,
        state: JourneyState | None = None,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
        page_size: Annotated[int, Query(ge=1, le=max_page_size)] = 50,
        cursor: Annotated[
            str | None,
            Query(max_length=500, description="`next_cursor` of the previous page (then `page` is ignored)."),
        ] = None,
    ) -> JourneyPage:
        if limited_to(caller) is not None:
            basin = caller.only_basin(basin)
        query = JourneyQuery(
            basin=basin, employer_id=employer_id, seeker_id=seeker_id, state=state.value if state else None
        )
        own = {Role.SEEKER: "seeker_id", Role.EMPLOYER: "employer_id", Role.TRAINING_PROVIDER: "provider_id"}
        if actor.role in own:  # parties only ever see their own journeys
            query = JourneyQuery(**{**vars(query), own[actor.role]: actor.actor_id})
        try:
            found = await ports.read_models.page(
                query, (page - 1) * page_size, page_size, ports.journeys, cursor
            )
        except BadCursor as exc:
            raise HTTPException(
                422, [{"loc": ["query", "cursor"], "type": "value_error", "msg": str(exc)}]
            ) from None
        return JourneyPage(
            items=[JourneyView.of(j, actor) for j in found.items],
            total=found.total,
            page=page,
            page_size=page_size,
            next_cursor=found.next_cursor,
        )

    @api.get(
        "/journeys/{journey_id}/applicant",
        response_model=ApplicantView,
        summary="The applicant's profile and note: for the employer of the offer, the seeker, an operator",
    )
    async def read_applicant(journey_id: JourneyId, actor: ActorDep, caller: Caller) -> ApplicantView:
        journey = await _journey_for(journey_id, actor, caller, ports)
        if caller.role == Role.BASIN_OPERATOR:
            await _self_or_operator(caller, journey.seeker_id, ports, "read")
        contact = await ports.contacts.get(journey.seeker_id)
        if contact is None:
            raise NotFound("données du candidat effacées ou pas encore reçues")
        profile = {k: v for k, v in vars(contact).items() if k in ApplicantView.model_fields}
        return ApplicantView(**profile, message=contact.messages.get(journey_id))

    @api.get("/kpis", summary="KPIs of the region and of each basin over a period (default: this year)")
    async def read_kpis(
        caller: Caller,
        basin: Annotated[str | None, Query(max_length=10)] = None,
        start: Annotated[
            date | None, Query(alias="from", description="First day (default 1 January).")
        ] = None,
        end: Annotated[
            date | None, Query(alias="to", description="Day after the last (default today+1).")
        ] = None,
    ) -> dict[str, Any]:
        period = period_of(start, end, ports.clock.now())
        return await handlers.compute_kpis(ports, period, caller.only_basin(basin))

    @api.get("/contacts/{person_id}", summary="A person's contact details (the person or an operator)")
    async def read_contact(person_id: PersonId, caller: Caller) -> dict[str, Any]:
        await _self_or_operator(caller, person_id, ports, "read")
        contact = await ports.contacts.get(person_id)
        if contact is None:
            raise NotFound(f"personne {person_id} inconnue")
        return vars(contact)

    @api.patch("/contacts/{person_id}", summary="Change a person's details or consent")
    async def change_contact(person_id: PersonId, body: ContactUpdate, caller: Caller) -> dict[str, Any]:
        await _self_or_operator(caller, person_id, ports, "change")
        changes = body.model_dump(exclude_unset=True)
        contact = await handlers.update_contact(
            person_id, {k: v for k, v in changes.items() if k in CONTACT_FIELDS}, ports, publisher
        )
        return vars(contact)

    @api.delete("/contacts/{person_id}", summary="Erase a person's personal data (journeys stay, anonymised)")
    async def erase(person_id: PersonId, caller: Caller) -> dict[str, Any]:
        await _self_or_operator(caller, person_id, ports, "erase")
        count = await handlers.erase_person(person_id, ports, publisher)
        return {"erased": person_id, "journeys_anonymised": count}

    @api.get(
        "/audit",
        response_model=list[AuditView],
        summary="Operators' reads and changes of personal data, newest first (operators of the basin)",
    )
    async def read_audit(
        caller: Caller,
        basin: Annotated[str | None, Query(max_length=10)] = None,
        person_id: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[AuditView]:
        entries = await ports.audit.entries(caller.only_basin(basin), person_id, limit)
        return [AuditView(**{**vars(e), "basins": list(e.basins)}) for e in entries]

    return api


def _add_action(api: APIRouter, ports: Ports, action: Action, path: str) -> None:
    command_class: type[OnJourney] = getattr(contracts, action.value)
    model = request_model(command_class)

    async def endpoint(
        journey_id: JourneyId,
        body: Annotated[model, Body()],  # type: ignore[valid-type]
        actor: ActorDep,
        caller: Caller,
        idempotency_key: IdempotencyKey = None,
    ) -> JourneyView:
        command = _build(
            command_class, body, actor, _command_id(body, idempotency_key), journey_id=journey_id
        )
        result = await handlers.execute(command, ports, within=limited_to(caller))
        return JourneyView.of(result.journey, actor, result.replayed)

    api.add_api_route(
        f"/journeys/{{journey_id}}/{path}",
        endpoint,
        methods=["POST"],
        response_model=JourneyView,
        summary=f"{action.value} ({command_class.__doc__ or action.value})".strip(),
        name=action.value,
    )


MAX_KPI_DAYS = 3653
"""The longest KPI period (ten years): a request sums one counter document per basin and month."""


def period_of(start: date | None, end: date | None, now: datetime) -> Period:
    """Whole UTC days: from ``start`` (default 1 January) to the day before ``end`` (default: today).
    A period that ends before it starts, or longer than ten years, is refused (422 naming the field)."""
    today = now.astimezone(UTC).date()
    start = start or date(today.year, 1, 1)
    end = end or today + timedelta(days=1)
    if end <= start:
        raise _query_refused("to", "doit être postérieur à from")
    if (end - start).days > MAX_KPI_DAYS:
        raise _query_refused("from", "période de dix ans au plus")
    return Period(datetime.combine(start, time(0, tzinfo=UTC)), datetime.combine(end, time(0, tzinfo=UTC)))


def _query_refused(name: str, reason: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": reason, "input": None}]
    )


def install_error_handlers(app: FastAPI) -> None:
    """Domain refusals become clear HTTP answers (problem details under ``/v1``)."""

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        if under(request.url.path):
            return _problem(request.url.path, exc)
        if isinstance(exc, TransitionRefused):
            return JSONResponse({"detail": exc.reason, "allowed_actions": exc.allowed}, status_code=409)
        if isinstance(exc, GuardRefused):
            return JSONResponse(
                {"detail": [{"loc": ["body"], "type": "rule", "msg": exc.reason}]}, status_code=422
            )
        status = {RoleRefused: 403, NotFound: 404, OfferNotEligible: 409, Conflict: 409}[type(exc)]
        return JSONResponse({"detail": str(exc)}, status_code=status)

    for error in (TransitionRefused, GuardRefused, RoleRefused, NotFound, OfferNotEligible, Conflict):
        app.add_exception_handler(error, refused)


def _problem(path: str, exc: Exception) -> JSONResponse:
    """A domain refusal as RFC 9457 problem details; a refused move names the actions allowed now."""
    if isinstance(exc, TransitionRefused):
        body = Problem(409, exc.reason, type="urn:traitdunion:transition-refused").body(path)
        body["allowed_actions"] = exc.allowed
        return JSONResponse(body, status_code=409, media_type=PROBLEM_JSON)
    if isinstance(exc, GuardRefused):
        return Problem(
            422, exc.reason, type="urn:traitdunion:rule", errors=[field_error("body", exc.reason, "rule")]
        ).response(path)
    status = {RoleRefused: 403, NotFound: 404, OfferNotEligible: 409, Conflict: 409}[type(exc)]
    return Problem(status, str(exc)).response(path)

"""HTTP API: unsubscribe links, inbound SMS (STOP), and the delivery log for operators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from notifications import handlers
from notifications.oidc import OperatorSignIn, SignInRefused
from notifications.ports import ContactStore, DeliveryStore, TransientFailure
from notifications.signin import LinkRefused, SignInDesk
from tdu_shared.access import Forbidden, Unauthorized
from tdu_shared.access.policy import Caller
from tdu_shared.contracts.journeys import Role

PAGE = """<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Trait d'Union</title></head>
<body style="font-family: Arial, sans-serif; max-width: 600px; margin: 3em auto;">
<h1>{title}</h1><p>{text}</p></body></html>"""


class InboundSms(BaseModel):
    sender: str = Field(min_length=3, max_length=20, description="Phone number the SMS came from.")
    content: str = Field(max_length=1000, description="Text of the SMS ('STOP' opts the number out).")


class InboundSmsResult(BaseModel):
    stop: bool = Field(description="True when the SMS asked to stop.")
    opted_out: int = Field(description="How many contacts with this number were opted out of SMS.")


class UnsubscribeResult(BaseModel):
    channel: Literal["email", "sms"]
    unsubscribed: bool


class SignInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(
        max_length=254,
        pattern=r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$",
        description="Your e-mail.",
    )
    role: Literal["seeker", "employer", "training_provider"] = Field(
        "seeker", description="As whom: seeker, employer (the offer's contact address), training provider."
    )


class SignInSent(BaseModel):
    message: str = Field(description="What happens now (the same whether the address is known or not).")


class LinkToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=100, description="The `jeton` of the e-mailed link.")


class SessionOut(BaseModel):
    session: str = Field(description="Credential for `Authorization: Bearer`.")
    role: str
    person_id: str = Field(description="Your opaque id on the platform.")
    expires_at: datetime


class OperatorSessionOut(BaseModel):
    session: str = Field(description="Credential for `Authorization: Bearer`.")
    email: str
    basins: list[str] | None = Field(description="Basins of the operator; null: every basin of the region.")
    expires_at: datetime


class DeliveryView(BaseModel):
    delivery_id: str
    journey_id: str | None
    event_type: str
    recipient_id: str
    recipient_role: str
    channel: str
    template: str
    status: str
    reason: str | None
    attempts: int
    created_at: datetime
    due_at: datetime | None


def view(doc: dict[str, Any]) -> DeliveryView:
    return DeliveryView(
        delivery_id=doc["_id"],
        journey_id=doc.get("journey_id"),
        event_type=doc["event"]["event_type"],
        recipient_id=doc["recipient_id"],
        recipient_role=doc["audience"],
        channel=doc["channel"],
        template=doc["template"],
        status=doc["status"],
        reason=doc.get("reason"),
        attempts=doc.get("attempts", 0),
        created_at=doc["created_at"],
        due_at=doc.get("due_at"),
    )


def sign_in_router(desk: SignInDesk) -> APIRouter:
    api = APIRouter(tags=["sign-in"])

    @api.post("/sign-in", status_code=202, summary="E-mail me a sign-in link (seekers, employers, providers)")
    async def ask_for_link(body: SignInRequest) -> SignInSent:
        try:
            await desk.request(body.email, Role(body.role))
        except TransientFailure:
            raise HTTPException(
                503, "l'envoi des e-mails est interrompu : réessayez dans une minute", {"Retry-After": "60"}
            ) from None
        return SignInSent(
            message="Si cette adresse est connue, un lien de connexion vient d'y être envoyé "
            f"(valable {int(desk.link_ttl.total_seconds() // 60)} minutes)."
        )

    @api.post(
        "/sign-in/session",
        summary="Exchange a sign-in link's token for a session (once)",
        responses={401: {"description": "Unknown, used or expired link"}},
    )
    async def open_session(body: LinkToken) -> SessionOut:
        try:
            used, session, expires_at = await desk.exchange(body.token)
        except LinkRefused as exc:
            raise Unauthorized(str(exc)) from None
        return SessionOut(session=session, role=used.role, person_id=used.person_id, expires_at=expires_at)

    return api


def operator_sign_in_router(oidc: OperatorSignIn | None) -> APIRouter:
    api = APIRouter(tags=["sign-in"])

    def configured() -> OperatorSignIn:
        if oidc is None:
            raise HTTPException(503, "connexion des opérateurs non configurée (OIDC_ISSUER)")
        return oidc

    @api.get(
        "/sign-in/operator",
        status_code=302,
        response_class=RedirectResponse,
        summary="Operators: sign in with ProConnect (redirects to the identity provider)",
        responses={302: {"description": "To the identity provider"}, 503: {"description": "Not configured"}},
    )
    async def operator_sign_in(
        login_hint: Annotated[str | None, Query(max_length=254, description="The agent's e-mail.")] = None,
    ) -> RedirectResponse:
        return RedirectResponse(await configured().authorize_url(login_hint), status_code=302)

    @api.get(
        "/sign-in/operator/callback",
        summary="Where the identity provider sends the operator back: a session for their basins",
        responses={401: {"description": "Refused by the provider"}, 403: {"description": "Not an operator"}},
    )
    async def operator_callback(
        code: Annotated[str | None, Query(max_length=500)] = None,
        state: Annotated[str | None, Query(max_length=500)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
    ) -> OperatorSessionOut:
        if error or not code or not state:
            raise Unauthorized(f"connexion refusée par le fournisseur d'identité : {error or 'code absent'}")
        try:
            session, email, basins, expires_at = await configured().session(code, state)
        except SignInRefused as exc:
            if exc.status == 403:
                raise Forbidden(str(exc)) from None
            raise Unauthorized(str(exc)) from None
        return OperatorSessionOut(
            session=session, email=email, basins=sorted(basins) if basins else None, expires_at=expires_at
        )

    return api


def router(
    contacts: ContactStore, deliveries: DeliveryStore, link_secret: str, inbound_sms_key: str | None
) -> APIRouter:
    api = APIRouter(tags=["notifications"])

    @api.get("/unsubscribe", response_class=HTMLResponse, summary="Unsubscribe link of every e-mail")
    async def unsubscribe_page(token: Annotated[str, Query(max_length=500)]) -> HTMLResponse:
        named = await handlers.unsubscribe(token, link_secret, contacts)
        if named is None:
            return HTMLResponse(
                PAGE.format(
                    title="Lien invalide", text="Ce lien de désinscription est invalide ou incomplet."
                ),
                400,
            )
        what = "e-mails" if named[1].value == "email" else "SMS"
        return HTMLResponse(
            PAGE.format(
                title="Désinscription enregistrée", text=f"Vous ne recevrez plus de {what} de Trait d'Union."
            )
        )

    @api.post("/unsubscribe", summary="One-click unsubscribe (List-Unsubscribe-Post)")
    async def unsubscribe_one_click(token: Annotated[str, Query(max_length=500)]) -> UnsubscribeResult:
        named = await handlers.unsubscribe(token, link_secret, contacts)
        if named is None:
            raise HTTPException(400, "lien de désinscription invalide")
        return UnsubscribeResult(channel=named[1].value, unsubscribed=True)

    @api.post("/sms/inbound", summary="Inbound SMS webhook: STOP opts the sender out of SMS")
    async def inbound_sms(
        body: InboundSms,
        api_key: Annotated[str | None, Header(alias="api-key", max_length=200)] = None,
    ) -> InboundSmsResult:
        if inbound_sms_key is not None and api_key != inbound_sms_key:
            raise HTTPException(401, "clé d'API invalide")
        opted_out = await handlers.on_inbound_sms(body.sender, body.content, contacts)
        return InboundSmsResult(
            stop=" ".join(body.content.split()).upper() in handlers.STOP_WORDS, opted_out=len(opted_out)
        )

    @api.get("/deliveries", summary="Latest deliveries, by recipient or journey")
    async def list_deliveries(
        caller: Caller,
        recipient_id: Annotated[str | None, Query(max_length=100)] = None,
        journey_id: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[DeliveryView]:
        docs = await deliveries.list(recipient_id=recipient_id, journey_id=journey_id, limit=limit)
        return [view(d) for d in docs if caller.covers(d["event"].get("basin"))]

    return api

"""HTTP API: offers by basin, ROME and status; partner and employer submissions; the blacklist."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal
from uuid import uuid4

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field, model_validator

from offers.domain.model import InvalidRecord
from offers.handlers import Deps, blacklist
from offers.ports import Doc, OfferQuery, Publisher
from offers.schema import OfferForm, PartnerOffer, partner_offer_id
from offers.translate import prepare
from tdu_shared.access import Forbidden
from tdu_shared.access.policy import Caller
from tdu_shared.contracts.journeys import Role
from tdu_shared.contracts.offers import OfferState, OfferSubmitted
from tdu_shared.envelope import new_envelope
from tdu_shared.http import MAX_PAGE
from tdu_shared.kafka import Outgoing
from tdu_shared.topics import OFFERS_SUBMITTED


class OfferView(BaseModel):
    status: Literal["published", "withdrawn"] = Field(description="Published, or withdrawn (see the reason).")
    withdrawn_reason: str | None = Field(None, description="Why the offer was withdrawn.")
    notes: list[str] = Field(
        description="Why the offer is kept out of matching or flagged (e.g. 'unlocated')."
    )
    offer: OfferState = Field(description="The public offer (no personal data).")


class OfferPage(BaseModel):
    items: list[OfferView]
    total: int = Field(description="Offers matching the filters.")
    page: int
    size: int


class Accepted(BaseModel):
    offer_ids: list[str] = Field(description="Ids the offers will have once processed.")


class BlacklistEntry(BaseModel):
    offer_id: str | None = Field(None, max_length=100, description="Offer id to keep out.")
    employer_email: str | None = Field(
        None,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$",
        description="Employer e-mail to keep out.",
    )

    @model_validator(mode="after")
    def one_of_them(self) -> BlacklistEntry:
        if not (self.offer_id or self.employer_email):
            raise ValueError("donnez offer_id ou employer_email")
        return self


class Withdrawn(BaseModel):
    withdrawn: list[str] = Field(description="Offers withdrawn now by this entry.")


def view_of(doc: Doc) -> OfferView:
    return OfferView(
        status=doc["status"],
        withdrawn_reason=doc.get("withdrawn_reason"),
        notes=doc.get("notes", []),
        offer=OfferState.model_validate(doc["state"]),
    )


def build_router(deps: Deps, publisher: Publisher) -> APIRouter:
    router = APIRouter(tags=["offers"])

    async def submit(items: Sequence[tuple[str, str | None, dict[str, Any], str]]) -> None:
        outgoing = []
        for source, partner, record, offer_id in items:
            try:
                basin = prepare(source, record, partner, deps.geo, deps.rome).state.basin
            except InvalidRecord:  # the consumer dead-letters it with the reason
                basin = None
            payload = OfferSubmitted(source=source, partner=partner, record=record)
            envelope = new_envelope(
                payload, producer=partner or "employer-form", region=deps.region, basin=basin
            )
            outgoing.append(Outgoing(OFFERS_SUBMITTED, offer_id, envelope))
        await publisher.publish_many(outgoing)

    @router.get("/offers", summary="Offers by basin, ROME code or fiche, and status, newest first")
    async def list_offers(
        basin: Annotated[str | None, Query(max_length=10, description="Basin code, e.g. 4410")] = None,
        rome: Annotated[str | None, Query(pattern=r"^[A-N]\d{4}$", description="ROME code or fiche")] = None,
        status_: Annotated[
            Literal["published", "withdrawn"] | None, Query(alias="status", description="Offer status")
        ] = "published",
        page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
        size: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> OfferPage:
        docs, total = await deps.store.find_offers(OfferQuery(basin, rome, status_, page, size))
        return OfferPage(items=[view_of(d) for d in docs], total=total, page=page, size=size)

    @router.get("/offers/{offer_id}", summary="One offer", responses={404: {"description": "Unknown offer"}})
    async def get_offer(offer_id: Annotated[str, Path(max_length=100)]) -> OfferView:
        doc = await deps.store.get_offer(offer_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"offre inconnue : {offer_id}")
        return view_of(doc)

    @router.post("/partners/{partner}/offers", status_code=202, summary="Offers from a partner system")
    async def partner_offers(
        partner: Annotated[str, Path(pattern=r"^[a-z0-9-]{2,30}$", description="Partner code")],
        offers: Annotated[list[PartnerOffer], Field(min_length=1, max_length=1000)],
        caller: Caller,
    ) -> Accepted:
        if caller.role == Role.PARTNER_SYSTEM and caller.subject != partner:
            raise Forbidden(f"la clé de {caller.subject} ne peut pas publier le flux de {partner}")
        items = [
            (
                "partner",
                partner,
                o.model_dump(mode="json", exclude_none=True),
                partner_offer_id(partner, o.id),
            )
            for o in offers
        ]
        await submit(items)
        return Accepted(offer_ids=[i[3] for i in items])

    @router.post("/employer-offers", status_code=202, summary="An offer written in the employer form")
    async def employer_offer(form: OfferForm, caller: Caller) -> Accepted:
        if caller.role == Role.EMPLOYER:
            if form.contact_email not in (None, caller.email):
                raise Forbidden(
                    "l'adresse de contact de l'offre doit être celle avec laquelle vous êtes connecté"
                )
            form = form.model_copy(update={"contact_email": caller.email})
        offer_id = f"employer:{uuid4().hex}"
        record = {**form.model_dump(mode="json", exclude_none=True), "id": offer_id}
        await submit([("employer", None, record, offer_id)])
        return Accepted(offer_ids=[offer_id])

    @router.post("/blacklist", summary="Keep an offer or an employer out (withdraws what is published)")
    async def add_to_blacklist(entry: BlacklistEntry) -> Withdrawn:
        return Withdrawn(withdrawn=await blacklist(entry.offer_id, entry.employer_email, deps))

    return router

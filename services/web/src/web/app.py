"""The pages: FastAPI routes rendering Jinja2 templates in the State design system (DSFR).

Core paths work without JavaScript: every action is a form posted to this service, which calls the
service that owns the data with the signed-in person's credential and answers with a page (or a redirect
to one). JavaScript only adds suggestions to the search form.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from tdu_shared.http import BodyLimit, RateLimit
from web import charts
from web.backend import VISITOR, Answer, Backend, Unavailable
from web.journeys import FORMS, NEXT_STEP, STATES, ActionForm, day, timeline
from web.places import Resolved, resolve_occupation, resolve_place, suggest_communes, suggest_occupations
from web.session import (
    HOME_OF,
    NEXT_COOKIE,
    ROLES,
    SignedIn,
    csrf_ok,
    end_session,
    keep_session,
    safe_next,
    signed_in,
)
from web.settings import Settings

SECTIONS = {
    "seeker": "/parcours",
    "employer": "/employeur/parcours",
    "training_provider": "/organisme/parcours",
    "basin_operator": "/operateur/parcours",
}
"""Where each person's journey page lives (the e-mails link there)."""
RADII = (10, 20, 30, 50, 100)
PAGE_SIZE = 10


def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["jour"] = day
    env.filters["etat"] = lambda state: STATES.get(str(state), str(state))
    env.filters["km"] = lambda km: "" if km is None else f"{km:.1f} km".replace(".", ",")
    env.globals.update(ROLES=ROLES, STATES=STATES, RADII=RADII)
    return env


def create_app(settings: Settings, backend: Backend | None = None) -> FastAPI:
    backend = backend or Backend(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await backend.close()

    app = FastAPI(
        title="Trait d'Union — pages web",
        description="Pages for seekers, employers, training providers and basin operators.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_kb * 1024)
    if settings.rate_limit_per_minute:
        app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    if settings.dsfr_dir.is_dir():
        app.mount("/dsfr", StaticFiles(directory=settings.dsfr_dir), name="dsfr")
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    env = templates()
    app.state.backend = backend

    @app.middleware("http")
    async def visitor(request: Request, call_next: Any) -> Response:
        forwarded = request.headers.get("x-forwarded-for") if settings.trust_forwarded_for else None
        address = (
            forwarded.split(",")[0].strip()
            if forwarded
            else (request.client.host if request.client else None)
        )
        token = VISITOR.set(address)
        try:
            response: Response = await call_next(request)
            return response
        finally:
            VISITOR.reset(token)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        person = signed_in(request)
        page = env.get_template(name).render(request=request, person=person, **context)
        return HTMLResponse(page, status_code=status)

    def message(request: Request, title: str, text: str, status: int = 200, **extra: Any) -> HTMLResponse:
        return render(request, "message.html.j2", status, title=title, text=text, **extra)

    def sign_in_first(request: Request, role: str) -> RedirectResponse:
        """To the sign-in of ``role``, then back to this page (a GET page; a form's page for a POST)."""
        here = request.url.path if request.method == "GET" else request.url.path.rsplit("/", 1)[0]
        suite = here + (f"?{request.url.query}" if request.url.query and request.method == "GET" else "")
        if role == "basin_operator":
            return RedirectResponse(f"/connexion/operateur?{urlencode({'suite': suite})}", status_code=303)
        return RedirectResponse(f"/connexion?{urlencode({'role': role, 'suite': suite})}", status_code=303)

    def remember_next(response: Response, suite: str | None) -> None:
        """Where to go once signed in (the sign-in link may open in another tab: a cookie, not the URL)."""
        target = safe_next(suite)
        if target:
            response.set_cookie(
                NEXT_COOKIE,
                target,
                max_age=3600,
                httponly=True,
                secure=settings.secure_cookies,
                samesite="lax",
            )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return message(
                request,
                "Page introuvable",
                "Cette adresse ne mène à aucune page de Trait d'Union. Vérifiez-la, ou repartez de "
                "l'accueil.",
                404,
            )
        return message(
            request,
            "Demande refusée",
            "Cette page ne s'ouvre pas de cette façon. Repartez de l'accueil ou de la page précédente.",
            exc.status_code,
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: Exception) -> HTMLResponse:
        return message(
            request,
            "Adresse incomplète ou invalide",
            "Un des paramètres de cette adresse n'est pas valide. Repartez de la page précédente.",
            400,
        )

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Exception) -> HTMLResponse:
        return message(
            request,
            "Service momentanément indisponible",
            "Une partie de Trait d'Union ne répond pas en ce moment. Rien n'est perdu : réessayez dans "
            "quelques minutes.",
            503,
        )

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        missing = [] if settings.dsfr_dir.is_dir() else [f"design system absent ({settings.dsfr_dir})"]
        return JSONResponse({"ready": not missing, "problems": missing}, 503 if missing else 200)

    # ------------------------------------------------------------ seekers: search and offers

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        return render(request, "home.html.j2", form={"rayon": "30"})

    @app.get("/api/communes", include_in_schema=False)
    async def communes(q: str = "") -> list[dict[str, str]]:
        return [{"code": c.value, "label": c.label} for c in suggest_communes(q[:60])]

    @app.get("/api/metiers", include_in_schema=False)
    async def occupations(q: str = "") -> list[dict[str, str]]:
        return [{"code": c.value, "label": c.label} for c in suggest_occupations(q[:60])]

    @app.get("/recherche", response_class=HTMLResponse)
    async def search(
        request: Request, lieu: str = "", rayon: str = "30", metier: str = "", page: int = 1
    ) -> HTMLResponse:
        form = {"lieu": lieu[:100], "rayon": rayon, "metier": metier[:100]}
        radius = int(rayon) if rayon.isdigit() and int(rayon) in RADII else 30
        place, occupation = resolve_place(lieu[:100]), resolve_occupation(metier[:100])
        errors = {k: r for k, r in (("lieu", place), ("metier", occupation)) if r.error}
        if errors:
            return render(request, "home.html.j2", 422, form=form, resolved=errors)
        page = max(1, min(page, 500))
        params = {**place.params, **occupation.params, "radius_km": radius}
        found = await backend.call(
            "matching",
            "GET",
            "/search",
            params={**params, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE},
        )
        if found.status == 503:
            return message(request, "Recherche en cours de chargement", "Réessayez dans un instant.", 503)
        if not found.ok:
            return render(
                request, "home.html.j2", 422, form=form, resolved={"lieu": Resolved(error=found.detail())}
            )
        results: list[dict[str, Any]] = found.body["results"]
        nearest: list[dict[str, Any]] = []
        if not results and radius < max(RADII):
            wider = await backend.call(
                "matching", "GET", "/search", params={**params, "radius_km": max(RADII), "limit": 3}
            )
            nearest = wider.body["results"] if wider.ok else []
        where = urlencode({"lieu": lieu, "rayon": radius, "metier": metier})
        return render(
            request,
            "results.html.j2",
            form=form,
            place=place,
            occupation=occupation,
            radius=radius,
            results=results,
            nearest=nearest,
            page=page,
            has_more=found.body["has_more"],
            where=where,
            place_query=urlencode(place.params),
        )

    async def offer_context(offer_id: str, place_params: dict[str, str]) -> dict[str, Any] | None:
        hit = await backend.call(
            "matching", "GET", f"/search/offers/{quote(offer_id, safe='')}", params=place_params
        )
        if not hit.ok:
            return None
        detail = await backend.call("offers", "GET", f"/offers/{quote(offer_id, safe='')}")
        return {"hit": hit.body, "detail": detail.body if detail.ok else {}}

    def place_of(request: Request) -> dict[str, str]:
        params = request.query_params
        return {k: params[k] for k in ("commune", "postal_code") if params.get(k)}

    @app.get("/offres/{offer_id}", response_class=HTMLResponse)
    async def offer(request: Request, offer_id: str) -> HTMLResponse:
        found = await offer_context(offer_id, place_of(request))
        if found is None:
            return message(
                request,
                "Offre indisponible",
                "Cette offre n'est plus proposée avec une formation financée (pourvue, retirée, ou sans "
                "session à venir).",
                404,
                link=("/", "Chercher d'autres offres"),
            )
        return render(request, "offer.html.j2", **found, form={}, errors={}, key=secrets.token_urlsafe(16))

    @app.post("/offres/{offer_id}/candidature", response_class=HTMLResponse)
    async def apply(request: Request, offer_id: str) -> Response:
        person = signed_in(request)
        form = await form_of(request)
        if person is None or person.role != "seeker":
            return RedirectResponse(f"/connexion?role=seeker&suite=/offres/{quote(offer_id)}", 303)
        if not csrf_ok(person, form.get("csrf")):
            return message(request, "Formulaire expiré", "Rechargez la page et recommencez.", 400)
        body = {
            "offer_id": offer_id,
            "first_name": form.get("first_name", "").strip(),
            "last_name": form.get("last_name", "").strip(),
            "email": person.email,
            "phone": form.get("phone", "").strip() or None,
            "postal_code": form.get("postal_code", "").strip(),
            "education_level": form.get("education_level") or None,
            "jobseeker_status": form.get("jobseeker_status") or None,
            "consent_email": form.get("consent_email") == "on",
            "consent_sms": form.get("consent_sms") == "on",
            "message": form.get("message", "").strip() or None,
        }
        errors = (
            {}
            if form.get("notice") == "on"
            else {"notice": "Cochez la case pour confirmer avoir lu la notice."}
        )
        if not errors:
            answer = await backend.call(
                "journeys",
                "POST",
                "/journeys",
                session=person.token,
                json=body,
                headers={"Idempotency-Key": form.get("cle") or secrets.token_urlsafe(16)},
            )
            if answer.ok:
                return RedirectResponse(f"/parcours/{answer.body['journey_id']}?fait=candidature", 303)
            errors = answer.field_errors() or {"formulaire": answer.detail()}
            if answer.status == 409:
                errors = {
                    "formulaire": "Cette offre n'accepte pas encore de candidature : réessayez dans un "
                    f"instant. ({answer.detail()})"
                }
        found = await offer_context(offer_id, {})
        if found is None:
            return message(request, "Offre indisponible", "Cette offre n'est plus proposée.", 404)
        return render(request, "offer.html.j2", 422, **found, form=form, errors=errors, key=form.get("cle"))

    # ------------------------------------------------------------ signing in

    @app.get("/connexion", response_class=HTMLResponse)
    async def sign_in_page(
        request: Request, role: str = "seeker", suite: str = "", jeton: str = ""
    ) -> HTMLResponse:
        if jeton:
            return render(request, "signin_token.html.j2", token=jeton[:500])
        return render(
            request,
            "signin.html.j2",
            role=role if role in ROLES else "seeker",
            suite=safe_next(suite) or "",
            errors={},
            form={},
        )

    @app.post("/connexion", response_class=HTMLResponse)
    async def ask_link(request: Request) -> HTMLResponse:
        form = await form_of(request)
        role = form.get("role", "seeker")
        if role not in ROLES or role == "basin_operator":
            role = "seeker"
        answer = await backend.call(
            "notifications", "POST", "/sign-in", json={"email": form.get("email", "").strip(), "role": role}
        )
        if not answer.ok:
            errors = answer.field_errors() or {"email": answer.detail()}
            if "email" not in errors:
                errors = {"email": "Adresse e-mail invalide."} if answer.status == 422 else errors
            return render(
                request,
                "signin.html.j2",
                422,
                role=role,
                suite=form.get("suite", ""),
                errors=errors,
                form=form,
            )
        page = render(
            request, "signin_sent.html.j2", email=form.get("email", ""), text=answer.body.get("message")
        )
        remember_next(page, form.get("suite"))
        return page

    @app.post("/connexion/jeton", response_class=HTMLResponse)
    async def open_session(request: Request) -> Response:
        form = await form_of(request)
        answer = await backend.call(
            "notifications", "POST", "/sign-in/session", json={"token": form.get("jeton", "")}
        )
        if not answer.ok:
            return render(
                request,
                "signin.html.j2",
                401,
                role="seeker",
                suite="",
                form={},
                errors={"lien": answer.detail() if answer.status == 401 else "Lien invalide."},
            )
        role = answer.body["role"]
        target = safe_next(request.cookies.get(NEXT_COOKIE)) or HOME_OF.get(role, "/")
        response = RedirectResponse(target, status_code=303)
        keep_session(
            response, answer.body["session"], _epoch(answer.body["expires_at"]), settings.secure_cookies
        )
        response.delete_cookie(NEXT_COOKIE)
        return response

    @app.get("/connexion/operateur", response_class=HTMLResponse)
    async def operator_sign_in(request: Request, email: str = "", suite: str = "") -> Response:
        if not email:
            return render(request, "signin_operator.html.j2", suite=safe_next(suite) or "")
        started = await backend.call(
            "notifications", "GET", "/sign-in/operator", params={"login_hint": email[:254]}
        )
        if started.status != 302:
            return message(request, "Connexion impossible", started.detail(), 503)
        response = RedirectResponse(started.headers["location"], status_code=303)
        remember_next(response, suite)
        return response

    @app.get("/connexion/operateur/retour", response_class=HTMLResponse)
    async def operator_back(request: Request) -> Response:
        answer = await backend.call(
            "notifications", "GET", "/sign-in/operator/callback", params=dict(request.query_params)
        )
        if not answer.ok:
            return message(
                request, "Connexion refusée", answer.detail(), answer.status if answer.status < 500 else 503
            )
        response = RedirectResponse(safe_next(request.cookies.get(NEXT_COOKIE)) or "/operateur", 303)
        response.delete_cookie(NEXT_COOKIE)
        keep_session(
            response, answer.body["session"], _epoch(answer.body["expires_at"]), settings.secure_cookies
        )
        return response

    @app.post("/deconnexion")
    async def sign_out() -> RedirectResponse:
        response = RedirectResponse("/", status_code=303)
        end_session(response)
        return response

    # ------------------------------------------------------------ journeys, for each party

    async def my_journeys(request: Request, role: str) -> Response:
        person = signed_in(request)
        if person is None or person.role != role:
            return sign_in_first(request, role)
        asked = request.query_params.get("page", "1")
        page = max(1, min(int(asked), 1000)) if asked.isdigit() else 1
        found = await backend.call(
            "journeys", "GET", "/journeys", session=person.token, params={"page": page, "page_size": 20}
        )
        if found.status == 401:
            return sign_in_first(request, role)
        items = found.body["items"] if found.ok else []
        return render(
            request,
            "journeys_list.html.j2",
            items=items,
            section=SECTIONS[role],
            page=page,
            total=found.body.get("total", 0) if found.ok else 0,
            error=None if found.ok else found.detail(),
        )

    @app.get("/parcours", response_class=HTMLResponse)
    async def seeker_journeys(request: Request) -> Response:
        return await my_journeys(request, "seeker")

    @app.get("/employeur", response_class=HTMLResponse)
    async def employer_journeys(request: Request) -> Response:
        return await my_journeys(request, "employer")

    @app.get("/organisme", response_class=HTMLResponse)
    async def provider_journeys(request: Request) -> Response:
        return await my_journeys(request, "training_provider")

    async def journey_page(
        request: Request,
        journey_id: str,
        role: str,
        errors: dict[str, dict[str, str]] | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        person = signed_in(request)
        if person is None or person.role != role:
            return sign_in_first(request, role)
        found = await backend.call(
            "journeys", "GET", f"/journeys/{quote(journey_id, safe='')}", session=person.token
        )
        if found.status == 401:
            return sign_in_first(request, role)
        if found.status in (403, 404):
            return message(
                request,
                "Parcours introuvable",
                "Ce parcours n'existe pas ou ne vous concerne pas. Vérifiez que vous êtes connecté "
                "avec la bonne adresse.",
                found.status,
            )
        journey = found.body
        applicant = None
        if role in ("employer", "basin_operator"):
            seen = await backend.call(
                "journeys", "GET", f"/journeys/{quote(journey_id, safe='')}/applicant", session=person.token
            )
            applicant = seen.body if seen.ok else None
        forms = sorted(
            (FORMS[a] for a in journey["allowed_actions"] if a in FORMS), key=lambda f: f.secondary
        )
        sessions: list[dict[str, Any]] = []
        if any(f.action == "SignTrainingCommitment" for f in forms):  # its form lists the sessions
            hit = await backend.call(
                "matching", "GET", f"/search/offers/{quote(journey['offer_id'], safe='')}"
            )
            sessions = hit.body["sessions"] if hit.ok else []
        return render(
            request,
            "journey.html.j2",
            status,
            journey=journey,
            applicant=applicant,
            forms=forms,
            sessions=sessions,
            steps=timeline(journey),
            next_step=NEXT_STEP.get(role, {}).get(journey["state"]),
            section=SECTIONS[role],
            done=STATES.get(journey["state"]) if request.query_params.get("fait") else None,
            errors=errors or {},
            values=values or {},
            key=secrets.token_urlsafe(16),
        )

    async def act(request: Request, journey_id: str, role: str, path: str) -> Response:
        person = signed_in(request)
        if person is None or person.role != role:
            return sign_in_first(request, role)
        form_spec: ActionForm | None = next((f for f in FORMS.values() if f.path == path), None)
        if form_spec is None:
            return message(request, "Action inconnue", f"« {path} » n'est pas une action de parcours.", 404)
        form = await form_of(request)
        if not csrf_ok(person, form.get("csrf")):
            return message(request, "Formulaire expiré", "Rechargez la page et recommencez.", 400)
        missing = {
            f.name: "Champ obligatoire."
            for f in form_spec.fields
            if f.required and not form.get(f.name, "").strip()
        }
        if not missing:
            answer = await backend.call(
                "journeys",
                "POST",
                f"/journeys/{quote(journey_id, safe='')}/{path}",
                session=person.token,
                json=form_spec.body(form),
                headers={"Idempotency-Key": form.get("cle") or secrets.token_urlsafe(16)},
            )
            if answer.ok:
                return RedirectResponse(f"{SECTIONS[role]}/{quote(journey_id)}?fait={path}", 303)
            missing = answer.field_errors() or {"formulaire": answer.detail()}
        return await journey_page(request, journey_id, role, {form_spec.action: missing}, form, 422)

    for role, section in SECTIONS.items():
        _journey_routes(app, section, role, journey_page, act)

    # ------------------------------------------------------------ personal data, consent, unsubscribe

    @app.get("/mes-donnees", response_class=HTMLResponse)
    async def my_data(request: Request) -> Response:
        person = signed_in(request)
        if person is None or person.role == "basin_operator":
            return sign_in_first(request, "seeker")
        contact = await backend.call(
            "journeys", "GET", f"/contacts/{quote(person.subject, safe='')}", session=person.token
        )
        return render(
            request,
            "my_data.html.j2",
            contact=contact.body if contact.ok else None,
            saved=request.query_params.get("fait"),
        )

    @app.post("/mes-donnees", response_class=HTMLResponse)
    async def change_consent(request: Request) -> Response:
        person = signed_in(request)
        form = await form_of(request)
        if person is None or not csrf_ok(person, form.get("csrf")):
            return sign_in_first(request, "seeker")
        body = {
            "consent_email": form.get("consent_email") == "on",
            "consent_sms": form.get("consent_sms") == "on",
        }
        answer = await backend.call(
            "journeys",
            "PATCH",
            f"/contacts/{quote(person.subject, safe='')}",
            session=person.token,
            json=body,
        )
        if not answer.ok:
            return message(request, "Modification impossible", answer.detail(), answer.status)
        return RedirectResponse("/mes-donnees?fait=consentement", 303)

    @app.post("/mes-donnees/effacer", response_class=HTMLResponse)
    async def erase_me(request: Request) -> Response:
        person = signed_in(request)
        form = await form_of(request)
        if person is None or not csrf_ok(person, form.get("csrf")):
            return sign_in_first(request, "seeker")
        if form.get("confirmer") != "on":
            return message(
                request,
                "Effacement non confirmé",
                "Cochez la case de confirmation pour effacer vos données.",
                422,
                link=("/mes-donnees", "Retour"),
            )
        answer = await backend.call(
            "journeys", "DELETE", f"/contacts/{quote(person.subject, safe='')}", session=person.token
        )
        if not answer.ok:
            return message(request, "Effacement impossible", answer.detail(), answer.status)
        response = message(
            request,
            "Données effacées",
            "Vos données personnelles sont effacées de Trait d'Union. Vos parcours restent, anonymes, "
            "dans les statistiques.",
        )
        end_session(response)
        return response

    @app.get("/desinscription", response_class=HTMLResponse)
    async def unsubscribe_page(request: Request, jeton: str = "") -> HTMLResponse:
        return render(request, "unsubscribe.html.j2", token=jeton[:500], done=None)

    @app.post("/desinscription", response_class=HTMLResponse)
    async def unsubscribe(request: Request) -> HTMLResponse:
        form = await form_of(request)
        answer = await backend.call(
            "notifications", "POST", "/unsubscribe", params={"token": form.get("jeton", "")}
        )
        if not answer.ok:
            return message(
                request, "Lien invalide", "Ce lien de désinscription est invalide ou incomplet.", 400
            )
        return render(request, "unsubscribe.html.j2", token="", done=answer.body.get("channel"))

    @app.get("/donnees-personnelles", response_class=HTMLResponse)
    async def privacy(request: Request) -> HTMLResponse:
        return render(request, "privacy.html.j2")

    # ------------------------------------------------------------ basin operators

    def operator_basin(request: Request, person: SignedIn) -> str | None:
        asked = request.query_params.get("bassin")
        if asked and (not person.basins or asked in person.basins):
            return asked
        return person.basins[0] if person.basins else asked

    async def kpis_of(person: SignedIn, basin: str | None, request: Request) -> Answer:
        params = {
            "basin": basin,
            "from": request.query_params.get("du"),
            "to": request.query_params.get("au"),
        }
        return await backend.call("journeys", "GET", "/kpis", session=person.token, params=params)

    @app.get("/operateur", response_class=HTMLResponse)
    async def dashboard(request: Request) -> Response:
        person = signed_in(request)
        if person is None or person.role != "basin_operator":
            return sign_in_first(request, "basin_operator")
        basin = operator_basin(request, person)
        answer = await kpis_of(person, basin, request)
        if answer.status == 401:
            return sign_in_first(request, "basin_operator")
        if not answer.ok:
            return message(request, "Indicateurs indisponibles", answer.detail(), answer.status)
        scope = answer.body["basins"].get(basin) if basin else answer.body["region"]
        return render(
            request,
            "dashboard.html.j2",
            basin=basin,
            kpis=scope,
            period=answer.body["period"],
            charts=charts.dashboard(scope) if scope else None,
            query=request.url.query,
        )

    @app.get("/operateur/indicateurs.csv")
    async def dashboard_csv(request: Request) -> Response:
        person = signed_in(request)
        if person is None or person.role != "basin_operator":
            return sign_in_first(request, "basin_operator")
        basin = operator_basin(request, person)
        answer = await kpis_of(person, basin, request)
        if not answer.ok:
            return message(request, "Indicateurs indisponibles", answer.detail(), answer.status)
        scope = answer.body["basins"].get(basin) if basin else answer.body["region"]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["indicateur", "detail", "valeur"])
        for row in charts.rows(scope or {}):
            writer.writerow(row)
        name = f"indicateurs-{basin or 'region'}.csv"
        return Response(
            out.getvalue().encode("utf-8-sig"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/operateur/parcours", response_class=HTMLResponse)
    async def basin_journeys(request: Request, etat: str = "", page: int = 1) -> Response:
        person = signed_in(request)
        if person is None or person.role != "basin_operator":
            return sign_in_first(request, "basin_operator")
        basin = operator_basin(request, person)
        page = max(1, min(page, 1000))
        found = await backend.call(
            "journeys",
            "GET",
            "/journeys",
            session=person.token,
            params={"basin": basin, "state": etat if etat in STATES else None, "page": page, "page_size": 25},
        )
        if not found.ok:
            return message(request, "Parcours indisponibles", found.detail(), found.status)
        return render(
            request,
            "operator_journeys.html.j2",
            items=found.body["items"],
            total=found.body["total"],
            page=page,
            etat=etat,
            basin=basin,
            section=SECTIONS["basin_operator"],
        )

    @app.get("/operateur/cles", response_class=HTMLResponse)
    async def partner_keys(request: Request) -> Response:
        person = signed_in(request)
        if person is None or person.role != "basin_operator":
            return sign_in_first(request, "basin_operator")
        basin = operator_basin(request, person)
        found = await backend.call(
            "journeys", "GET", "/partner-keys", session=person.token, params={"basin": basin}
        )
        if not found.ok:
            return message(request, "Clés indisponibles", found.detail(), found.status)
        return render(request, "partner_keys.html.j2", keys=found.body, basin=basin)

    return app


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's fields, as text."""
    return {k: str(v) for k, v in (await request.form()).items()}


def _journey_routes(app: FastAPI, section: str, role: str, page: Any, act: Any) -> None:
    async def show(request: Request, journey_id: str) -> Response:
        return await page(request, journey_id, role)  # type: ignore[no-any-return]

    async def post(request: Request, journey_id: str, path: str) -> Response:
        return await act(request, journey_id, role, path)  # type: ignore[no-any-return]

    app.add_api_route(
        f"{section}/{{journey_id}}",
        show,
        methods=["GET"],
        response_class=HTMLResponse,
        name=f"journey-{role}",
    )
    app.add_api_route(
        f"{section}/{{journey_id}}/{{path}}",
        post,
        methods=["POST"],
        response_class=HTMLResponse,
        name=f"act-{role}",
    )


def _epoch(value: Any) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()

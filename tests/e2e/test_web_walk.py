"""A newcomer's walk through the web pages, in headless Chromium, with the whole platform running.

With only a browser and the mail catcher's folder: search near Metz, open the offer, get a sign-in link
by e-mail and apply (a missing field is first reported next to it); the employer opens the e-mail about
the application, signs in through the link, reads the applicant's profile and message, schedules an
immersion, records it went well and signs the hiring promise; the seeker signs the training commitment;
the training provider signs in and confirms the start; the Metz operator signs in through the ProConnect
stand-in and finds the journey in the basin's dashboard and list. Every page is screenshotted (test
artifact) and checked with axe-core: no serious or critical violation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tdu_dev.infra.local import Endpoints
from tdu_dev.infra.paths import Paths
from tdu_dev.infra.platform import SERVICES, WEB, Platform, wait_for
from tdu_dev.testing.browser import Pages, chromium
from tdu_dev.testing.platform import running_platform

from .fixtures import EMPLOYER_EMAIL, OFFER_ID, PROVIDER_EMAIL, Outbox, import_catalogue_and_offers

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

SEEKER_EMAIL = "lea.bernard@exemple.fr"
OPERATOR_EMAIL = "operateur.metz@traitdunion.eu"
ARTIFACTS = Path(os.environ.get("TDU_TEST_ARTIFACTS", Paths.discover().cache / "test-artifacts")) / "web"
EXPECT_MS = 15_000


@pytest.fixture(scope="module")
def platform(infrastructure: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(
        infrastructure, tmp_path_factory.mktemp("outbox"), services=(*SERVICES, WEB)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def link_in_mail(outbox: Outbox, to: str, subject: str, pattern: str, after: int = 0) -> str:
    """The first link matching ``pattern`` in the newest e-mail to ``to`` about ``subject``."""

    def found() -> str | None:
        for mail in reversed(outbox.mails()[after:]):
            if to in mail["to"] and subject in mail["subject"]:
                hit = re.search(pattern, outbox.text(mail))
                return hit.group(0) if hit else None
        return None

    link: str = wait_for(found, 30, f"an e-mail to {to} about {subject!r} with a link")
    return link


def sign_in_by_link(page: Page, outbox: Outbox, pages: Pages, email: str, who: str) -> None:
    """On the sign-in form the page shows: ask for a link, open it from the e-mail, confirm."""
    already = len(outbox.mails())
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_role("button", name="Recevoir mon lien de connexion").click()
    expect(page.get_by_role("heading", name="Consultez votre messagerie")).to_be_visible()
    link = link_in_mail(outbox, email, "lien de connexion", r"http://\S+/connexion\?jeton=[\w-]+", already)
    page.goto(link)
    pages.check(page, f"{who}-connexion")
    page.get_by_role("button", name="Me connecter").click()


def fill_and_send(page: Page, form_title: str, values: dict[str, str], button: str) -> None:
    section = page.locator("section", has=page.get_by_role("heading", name=form_title))
    for label, value in values.items():
        if value == "check":
            # the design system draws its own box over the input: a person clicks the label
            section.get_by_label(label).check(force=True)
        else:
            section.get_by_label(label).fill(value)
    section.get_by_role("button", name=button).click()


def test_a_newcomer_walks_from_the_search_to_the_operator_dashboard(
    platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    expect.set_options(timeout=EXPECT_MS)
    import_catalogue_and_offers(platform, tmp_path, "web")
    web, outbox, pages = platform.url(WEB), Outbox(platform), Pages(ARTIFACTS)
    today = date.today()

    # The seeker: home, then the search near Metz, typed and sent from the keyboard.
    seeker = browser.new_context(locale="fr-FR").new_page()
    seeker.goto(web)
    pages.check(seeker, "accueil")
    seeker.keyboard.press("Tab")
    assert seeker.evaluate("document.activeElement.textContent") == "Aller au contenu"
    seeker.get_by_label("Commune ou code postal").fill("Metz")
    seeker.get_by_label("Commune ou code postal").press("Enter")
    offer_link = seeker.get_by_role("link", name="Agent de propreté (H/F)")

    def listed() -> bool:
        if offer_link.count():
            return True
        seeker.reload()
        return False

    wait_for(listed, 90, "the offer in the search near Metz", interval=2)
    expect(seeker.get_by_text("Centre de formation de Woippy")).to_be_visible()
    pages.check(seeker, "candidat-resultats")
    offer_link.click()
    expect(seeker.get_by_role("heading", name="Les formations financées qui y mènent")).to_be_visible()
    pages.check(seeker, "candidat-offre")

    # Apply: a sign-in link first, back on the offer, a missing field reported next to it, then sent.
    sign_in_by_link(seeker, outbox, pages, SEEKER_EMAIL, "candidat")
    expect(seeker).to_have_url(re.compile(f"/offres/{OFFER_ID}"))
    seeker.get_by_label("Prénom").fill("Léa")
    seeker.get_by_label("Code postal").fill("57000")
    seeker.get_by_label("Message à l'employeur").fill(
        "Bonjour, je voudrais apprendre ce métier près de Metz."
    )
    seeker.get_by_label("J'ai lu comment mes données sont utilisées").check(force=True)
    seeker.get_by_role("button", name="Envoyer ma candidature").click()
    expect(seeker.locator("#last_name-erreur")).to_be_visible()
    pages.check(seeker, "candidat-erreur-formulaire")
    seeker.get_by_label("Nom", exact=True).fill("Bernard")

    def applied() -> bool:
        if "/parcours/" in seeker.url:
            return True
        if not seeker.get_by_label("J'ai lu comment mes données sont utilisées").is_checked():
            seeker.get_by_label("J'ai lu comment mes données sont utilisées").check(force=True)
        seeker.get_by_role("button", name="Envoyer ma candidature").click()
        seeker.wait_for_load_state("load")
        return "/parcours/" in seeker.url

    wait_for(applied, 60, "the application to be accepted", interval=2)
    journey_id = seeker.url.split("/parcours/")[1].split("?")[0]
    expect(seeker.get_by_text("Candidature envoyée").first).to_be_visible()
    pages.check(seeker, "candidat-parcours")

    # The employer: from the e-mail about the application, signed in by link, answers on the page.
    employer = browser.new_context(locale="fr-FR").new_page()
    employer.goto(
        link_in_mail(outbox, EMPLOYER_EMAIL, "Nouvelle candidature", r"http://\S+/employeur/parcours/\S+")
    )
    expect(employer.get_by_label("Employeur (adresse de contact de votre offre)")).to_be_checked()
    sign_in_by_link(employer, outbox, pages, EMPLOYER_EMAIL, "employeur")
    expect(employer).to_have_url(re.compile(f"/employeur/parcours/{journey_id}"))
    expect(employer.get_by_text("Léa Bernard")).to_be_visible()
    expect(employer.get_by_text("je voudrais apprendre ce métier")).to_be_visible()
    pages.check(employer, "employeur-candidature")
    fill_and_send(
        employer,
        "Proposer une immersion",
        {
            "Premier jour": str(today + timedelta(days=5)),
            "Dernier jour": str(today + timedelta(days=7)),
            "Lieu": "12 rue Serpenoise, Metz",
        },
        "Planifier l'immersion",
    )
    expect(employer.get_by_text("Immersion prévue").first).to_be_visible()
    pages.check(employer, "employeur-immersion-prevue")
    fill_and_send(employer, "Résultat de l'immersion", {"Oui": "check"}, "Enregistrer le résultat")
    expect(employer.get_by_role("heading", name="Signer la promesse d'embauche")).to_be_visible()
    fill_and_send(
        employer,
        "Signer la promesse d'embauche",
        {
            "Poste proposé": "Agent de propreté",
            "CDI": "check",
            "Date d'embauche prévue (après la formation)": str(today + timedelta(days=200)),
        },
        "Signer la promesse",
    )
    expect(employer.get_by_text("Promesse d'embauche signée").first).to_be_visible()
    pages.check(employer, "employeur-promesse-signee")

    # The seeker, still signed in, opens the e-mail about the promise and signs the commitment.
    seeker.goto(link_in_mail(outbox, SEEKER_EMAIL, "Promesse d'embauche signée", r"http://\S+/parcours/\S+"))
    expect(seeker.get_by_role("heading", name="Signer mon engagement en formation")).to_be_visible()
    pages.check(seeker, "candidat-engagement")
    seeker.get_by_role("button", name="Je m'engage à suivre cette formation").click()
    expect(seeker.get_by_text("Promesse et engagement signés").first).to_be_visible()

    # The training provider confirms the start.
    provider = browser.new_context(locale="fr-FR").new_page()
    provider.goto(
        link_in_mail(outbox, PROVIDER_EMAIL, "Engagement en formation", r"http://\S+/organisme/parcours/\S+")
    )
    sign_in_by_link(provider, outbox, pages, PROVIDER_EMAIL, "organisme")
    expect(provider).to_have_url(re.compile(f"/organisme/parcours/{journey_id}"))
    fill_and_send(
        provider,
        "Confirmer le démarrage de la formation",
        {"Premier jour de formation": str(today + timedelta(days=60))},
        "Confirmer le démarrage",
    )
    expect(provider.get_by_text("Formation commencée").first).to_be_visible()
    pages.check(provider, "organisme-formation-commencee")

    # The Metz operator signs in with ProConnect (the stand-in) and finds the journey.
    operator = browser.new_context(locale="fr-FR").new_page()
    operator.goto(f"{web}/operateur")
    operator.get_by_label("Adresse e-mail professionnelle").fill(OPERATOR_EMAIL)
    operator.get_by_role("button", name="S'identifier avec ProConnect").click()
    expect(operator.get_by_role("heading", name="Tableau de bord du bassin 4410")).to_be_visible()
    expect(operator.locator(".tdu-chiffres")).to_contain_text("1 parcours")
    expect(operator.get_by_role("img", name="Parcours par étape atteinte")).to_be_visible()
    pages.check(operator, "operateur-tableau-de-bord")
    csv = operator.request.get(f"{web}/operateur/indicateurs.csv")
    assert csv.ok and "parcours par étape;Formation commencée;1" in csv.text()
    operator.get_by_role("link", name="Voir les parcours du bassin").click()
    operator.get_by_role("link", name="Agent de propreté (H/F)").click()
    expect(operator.get_by_text("Léa Bernard")).to_be_visible()
    expect(operator.get_by_role("heading", name="Corriger une étape")).to_be_visible()
    pages.check(operator, "operateur-parcours")

    # ... and the partner keys that reach the basin (made with the operators' tdu-access command).
    platform.partner_key("mission-locale-metz", ["journeys:read", "kpis:read"], ["4410"])
    operator.goto(f"{web}/operateur")
    operator.get_by_role("link", name="Clés d'API des partenaires").click()
    keys = operator.get_by_role("row", name=re.compile("mission-locale-metz"))

    def key_listed() -> bool:
        if keys.count() == 1:
            return True
        operator.reload()  # journeys learns the key from the access.keys topic within seconds
        return False

    wait_for(key_listed, 30, "the new key in the list", interval=1)
    expect(keys).to_contain_text("journeys:read, kpis:read")
    pages.check(operator, "operateur-cles")

    assert not pages.violations, pages.violations
    assert len(pages.seen) >= 15, pages.seen

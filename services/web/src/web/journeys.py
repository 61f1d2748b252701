"""A journey as the pages show it: the steps in words, what each person does next, and the forms of
the actions the journeys service allows the signed-in person now (its ``allowed_actions``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

STATES = {
    "applied": "Candidature envoyée",
    "declined": "Candidature déclinée",
    "immersion_scheduled": "Immersion prévue",
    "immersion_done": "Immersion faite",
    "promise_signed": "Promesse d'embauche signée",
    "commitment_signed": "Engagement en formation signé",
    "committed": "Promesse et engagement signés",
    "training_started": "Formation commencée",
    "training_completed": "Formation terminée",
    "hired": "Embauche",
    "followed_up_6m": "Suivi à 6 mois",
    "followed_up_12m": "Suivi à 12 mois",
    "abandoned": "Parcours arrêté",
}
PATH = (
    "applied",
    "immersion_scheduled",
    "immersion_done",
    "promise_signed",
    "committed",
    "training_started",
    "training_completed",
    "hired",
    "followed_up_6m",
    "followed_up_12m",
)
"""The steps of a journey that goes to the end, in order (the timeline)."""

NEXT_STEP = {
    "seeker": {
        "applied": "L'employeur étudie votre candidature : il vous proposera une immersion ou vous répondra.",
        "immersion_scheduled": "Rendez-vous à l'immersion aux dates prévues.",
        "immersion_done": "L'employeur vous dira s'il signe une promesse d'embauche.",
        "promise_signed": "Signez votre engagement à suivre la formation financée par la Région.",
        "commitment_signed": "L'employeur doit encore signer sa promesse d'embauche.",
        "committed": "Votre formation commence bientôt : l'organisme confirmera le démarrage.",
        "training_started": "Suivez votre formation jusqu'au bout : l'embauche vous attend.",
        "training_completed": "Bravo ! L'employeur va enregistrer votre embauche.",
        "hired": "Votre embauche est enregistrée. Nous prendrons de vos nouvelles à 6 et 12 mois.",
    },
    "employer": {
        "applied": "Répondez à cette candidature : proposez une immersion, ou déclinez en donnant la raison.",
        "immersion_scheduled": "Après l'immersion, dites comment elle s'est passée.",
        "immersion_done": "Si l'immersion est concluante, signez la promesse d'embauche (CDI ou CDD de "
        "6 mois ou plus).",
        "promise_signed": "Le candidat doit signer son engagement en formation.",
        "committed": "Le candidat part en formation ; vous l'embaucherez à la fin.",
        "training_started": "Le candidat est en formation.",
        "training_completed": "Enregistrez l'embauche dès le premier jour du contrat.",
    },
    "training_provider": {
        "committed": "Confirmez le démarrage de la formation le premier jour.",
        "training_started": "Confirmez la fin de la formation le dernier jour.",
    },
}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"
    """text, textarea, date, number, select, radio, checkbox"""
    options: tuple[tuple[str, str], ...] = ()
    required: bool = True
    hint: str | None = None


@dataclass(frozen=True)
class ActionForm:
    action: str
    path: str
    title: str
    button: str
    fields: tuple[Field, ...] = ()
    secondary: bool = False

    def body(self, form: dict[str, str]) -> dict[str, Any]:
        """The JSON body of the journeys API from the form's fields (empty optional fields left out)."""
        body: dict[str, Any] = {}
        for f in self.fields:
            value = form.get(f.name, "").strip()
            if f.kind == "checkbox":
                body[f.name] = value in ("on", "true", "1")
            elif f.kind == "bool":
                if value:
                    body[f.name] = value == "true"
            elif value:
                body[f.name] = int(value) if f.kind == "number" and value.isdigit() else value
        return body


CONTRACTS = (("CDI", "CDI"), ("CDD", "CDD de 6 mois ou plus"))
YES_NO = (("true", "Oui"), ("false", "Non"))

FORMS: dict[str, ActionForm] = {
    f.action: f
    for f in (
        ActionForm(
            "ScheduleImmersion",
            "schedule-immersion",
            "Proposer une immersion",
            "Planifier l'immersion",
            (
                Field("starts_on", "Premier jour", "date"),
                Field("ends_on", "Dernier jour", "date"),
                Field("place", "Lieu", hint="Adresse où le candidat se présente"),
            ),
        ),
        ActionForm(
            "DeclineApplication",
            "decline",
            "Décliner la candidature",
            "Décliner",
            (Field("reason", "Raison", "textarea", hint="Elle est transmise au candidat."),),
            secondary=True,
        ),
        ActionForm(
            "RescheduleImmersion",
            "reschedule-immersion",
            "Déplacer l'immersion",
            "Déplacer",
            (
                Field("starts_on", "Premier jour", "date"),
                Field("ends_on", "Dernier jour", "date"),
                Field("place", "Lieu"),
                Field("reason", "Raison du changement", "textarea"),
            ),
            secondary=True,
        ),
        ActionForm(
            "RecordImmersionOutcome",
            "immersion-outcome",
            "Résultat de l'immersion",
            "Enregistrer le résultat",
            (
                Field(
                    "outcome",
                    "L'immersion est-elle concluante ?",
                    "radio",
                    (("positive", "Oui"), ("negative", "Non")),
                ),
                Field("comment", "Commentaire", "textarea", required=False),
            ),
        ),
        ActionForm(
            "SignHiringPromise",
            "hiring-promise",
            "Signer la promesse d'embauche",
            "Signer la promesse",
            (
                Field("position", "Poste proposé"),
                Field("contract_type", "Contrat", "radio", CONTRACTS),
                Field(
                    "contract_months", "Durée du CDD (mois)", "number", required=False, hint="6 mois ou plus"
                ),
                Field("planned_start", "Date d'embauche prévue (après la formation)", "date"),
            ),
        ),
        ActionForm(
            "SignTrainingCommitment",
            "training-commitment",
            "Signer mon engagement en formation",
            "Je m'engage à suivre cette formation",
            (Field("session_id", "Session de formation", "radio"),),
        ),
        ActionForm(
            "ConfirmTrainingStart",
            "training-start",
            "Confirmer le démarrage de la formation",
            "Confirmer le démarrage",
            (Field("started_on", "Premier jour de formation", "date"),),
        ),
        ActionForm(
            "CompleteTraining",
            "training-completion",
            "Confirmer la fin de la formation",
            "Confirmer la fin",
            (
                Field("completed_on", "Dernier jour de formation", "date"),
                Field("certified", "Certification obtenue ?", "bool", YES_NO, required=False),
            ),
        ),
        ActionForm(
            "RecordHire",
            "hire",
            "Enregistrer l'embauche",
            "Enregistrer l'embauche",
            (
                Field("contract_start", "Premier jour du contrat", "date"),
                Field("contract_type", "Contrat", "radio", CONTRACTS),
                Field("contract_months", "Durée du CDD (mois)", "number", required=False),
            ),
        ),
        ActionForm(
            "RecordFollowUp",
            "follow-up",
            "Suivi après l'embauche",
            "Enregistrer le suivi",
            (
                Field("months", "Suivi à", "radio", (("6", "6 mois"), ("12", "12 mois"))),
                Field("employed", "Toujours en poste ?", "bool", YES_NO),
            ),
        ),
        ActionForm(
            "CorrectStep",
            "correction",
            "Corriger une étape",
            "Corriger",
            (
                Field("to_state", "Remettre le parcours à l'étape", "select", tuple(STATES.items())),
                Field("reason", "Raison de la correction", "textarea"),
            ),
            secondary=True,
        ),
        ActionForm(
            "AbandonJourney",
            "abandon",
            "Arrêter le parcours",
            "Arrêter le parcours",
            (Field("reason", "Raison", "textarea"),),
            secondary=True,
        ),
    )
}


@dataclass
class Timeline:
    done: list[dict[str, Any]] = field(default_factory=list)
    current: str = ""
    upcoming: list[str] = field(default_factory=list)


def timeline(journey: dict[str, Any]) -> Timeline:
    """Steps done (with their day), the current one, the steps still to come on the way to the end."""
    state = journey["state"]
    done = [
        {
            "label": STATES.get(s["to_state"], s["to_state"]),
            "at": s["at"][:10],
            "details": s.get("details") or {},
        }
        for s in journey.get("history", [])
    ]
    if state in ("declined", "abandoned"):
        return Timeline(done, STATES[state], [])
    position = PATH.index(state) if state in PATH else (PATH.index("promise_signed"))
    return Timeline(done, STATES.get(state, state), [STATES[s] for s in PATH[position + 1 :]])


MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def day(value: Any) -> str:
    """2026-12-06 -> 6 décembre 2026."""
    months = MONTHS
    try:
        d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{d.day} {months[d.month - 1]} {d.year}"

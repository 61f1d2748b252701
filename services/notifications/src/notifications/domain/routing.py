"""The routing table: for each journey event (and each reminder kind), who is told what, on which channel."""

from __future__ import annotations

from dataclasses import dataclass

from notifications.domain.model import Audience, Channel, JourneyFacts, PlannedMessage, delivery_key

E, S = Channel.EMAIL, Channel.SMS
SEEKER, EMPLOYER = Audience.SEEKER, Audience.EMPLOYER
PROVIDER, OPERATOR = Audience.TRAINING_PROVIDER, Audience.BASIN_OPERATOR


@dataclass(frozen=True)
class Route:
    audience: Audience
    template: str
    channels: tuple[Channel, ...]


def r(audience: Audience, template: str, *channels: Channel) -> Route:
    return Route(audience, template, channels)


EVENT_ROUTES: dict[str, tuple[Route, ...]] = {
    "ApplicationSubmitted": (
        r(SEEKER, "candidature_envoyee", E, S),
        r(EMPLOYER, "nouvelle_candidature", E, S),
    ),
    "ApplicationDeclined": (r(SEEKER, "candidature_declinee", E),),
    "ImmersionScheduled": (r(SEEKER, "immersion_planifiee", E, S), r(EMPLOYER, "immersion_planifiee", E)),
    "ImmersionRescheduled": (r(SEEKER, "immersion_reportee", E, S), r(EMPLOYER, "immersion_reportee", E)),
    "ImmersionCompleted": (r(SEEKER, "immersion_terminee", E), r(EMPLOYER, "immersion_terminee", E)),
    "HiringPromiseSigned": (r(SEEKER, "promesse_embauche_signee", E, S),),
    "TrainingCommitmentSigned": (
        r(EMPLOYER, "engagement_formation_signe", E),
        r(PROVIDER, "engagement_formation_signe", E),
    ),
    "JourneyCommitted": (
        r(SEEKER, "parcours_engage", E, S),
        r(EMPLOYER, "parcours_engage", E),
        r(PROVIDER, "parcours_engage", E),
        r(OPERATOR, "parcours_engage", E),
    ),
    "TrainingStarted": (r(EMPLOYER, "formation_demarree", E),),
    "TrainingCompleted": (r(SEEKER, "formation_terminee", E), r(EMPLOYER, "formation_terminee", E)),
    "SeekerHired": (r(SEEKER, "embauche_confirmee", E), r(OPERATOR, "embauche_confirmee", E)),
    "FollowUpRecorded": (r(OPERATOR, "suivi_enregistre", E),),
    "JourneyAbandoned": (
        r(SEEKER, "parcours_abandonne", E),
        r(EMPLOYER, "parcours_abandonne", E),
        r(PROVIDER, "parcours_abandonne", E),
        r(OPERATOR, "parcours_abandonne", E),
    ),
    "StepCorrected": (r(SEEKER, "etape_corrigee", E), r(EMPLOYER, "etape_corrigee", E)),
}

REMINDER_ROUTES: dict[str, tuple[Route, ...]] = {
    "employer_no_answer_7d": (r(EMPLOYER, "relance_employeur", E, S),),
    "employer_no_answer_10d": (r(EMPLOYER, "relance_employeur", E, S), r(OPERATOR, "alerte_sans_reponse", E)),
    "immersion_tomorrow": (r(SEEKER, "rappel_immersion", E, S), r(EMPLOYER, "rappel_immersion", E)),
    "training_starts_in_3d": (r(SEEKER, "rappel_formation", E, S), r(PROVIDER, "rappel_formation", E)),
    "follow_up_6m": (r(SEEKER, "suivi_a_faire", E, S),),
    "follow_up_12m": (r(SEEKER, "suivi_a_faire", E, S),),
    "journey_idle_14d": (r(OPERATOR, "alerte_parcours_inactif", E, S),),
}


def routes_for(facts: JourneyFacts) -> tuple[Route, ...]:
    if facts.event_type == "JourneyReminderDue":
        return REMINDER_ROUTES.get(facts.reminder_kind or "", ())
    return EVENT_ROUTES.get(facts.event_type, ())


def plan(facts: JourneyFacts) -> list[PlannedMessage]:
    """Every message the event calls for; audiences the journey does not name yet get nothing."""
    planned = []
    for route in routes_for(facts):
        recipient = facts.recipient_of(route.audience)
        if recipient is None:
            continue
        for channel in route.channels:
            key = delivery_key(facts.event_id, recipient, channel, route.template)
            planned.append(PlannedMessage(key, recipient, route.audience, channel, route.template))
    return planned


def all_templates() -> set[str]:
    routes = [*EVENT_ROUTES.values(), *REMINDER_ROUTES.values()]
    return {route.template for group in routes for route in group}

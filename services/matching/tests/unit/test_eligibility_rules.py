"""The eligibility rules, on the domain alone."""

from __future__ import annotations

import random
from datetime import date, timedelta
from itertools import pairwise

from matching.domain.geometry import distances_km, unit_vector
from matching.domain.matcher import Matcher
from matching.domain.model import Offer, Session
from matching.domain.rules import roll_up, session_fiches, window_from
from tdu_shared.geo import distance_km

TODAY = date(2026, 11, 22)
WINDOW = window_from(TODAY)
METZ = (49.1193, 6.1757)
PARENTS = {"M1801": "M1801", "M1854": "M1801", "K2303": "K2303"}


def offer(
    offer_id: str = "O1",
    *,
    fiche: str | None = "M1801",
    lat: float | None = METZ[0],
    lon: float | None = METZ[1],
    contract_eligible: bool = True,
    revision: int = 1,
) -> Offer:
    return Offer(
        offer_id,
        revision,
        "Technicien réseaux",
        fiche,
        lat,
        lon,
        "4410",
        contract_eligible=contract_eligible,
        ineligibility_reason=None if contract_eligible else "CDD de 3 mois",
    )


def session(
    session_id: str = "S1",
    *,
    fiches: tuple[str, ...] = ("M1801",),
    north_km: float = 10.0,
    start: date | None = TODAY + timedelta(days=30),
    funded: bool = True,
    revision: int = 1,
) -> Session:
    lat = METZ[0] + north_km / 111.195  # one degree of latitude is 111.195 km on the mean sphere
    return Session(session_id, revision, "Titre pro TSSR", fiches, lat, METZ[1], start, funded)


def matcher(*sessions: Session, radius_km: float = 30.0) -> Matcher:
    m = Matcher(lambda basin: radius_km, max_radius_km=radius_km)
    for s in sessions:
        m.put_session(s)
    return m


def verdict(m: Matcher, offer_id: str = "O1"):  # type: ignore[no-untyped-def]
    result = m.evaluate(offer_id, WINDOW)
    assert result is not None
    return result


def test_derived_rome_code_rolls_up_to_its_fiche() -> None:
    assert roll_up("m1854", PARENTS.get) == "M1801"
    assert roll_up("Z9999", PARENTS.get) is None
    assert session_fiches(["M1854"], ["K2303"], PARENTS.get) == ("K2303", "M1801")


def test_offer_of_a_derived_code_matches_a_session_of_the_parent_fiche() -> None:
    m = matcher(session(fiches=session_fiches(["M1854"], [], PARENTS.get)))
    m.put_offer(offer(fiche=roll_up("M1801", PARENTS.get)))
    assert verdict(m).eligible


def test_session_of_another_fiche_does_not_link() -> None:
    m = matcher(session(fiches=("K2303",)))
    m.put_offer(offer())
    result = verdict(m)
    assert not result.eligible
    assert result.reasons == ("no_funded_session_within_30_km",)


def test_session_just_inside_the_radius_links_and_just_outside_does_not() -> None:
    m = matcher(session("inside", north_km=29.99), session("outside", north_km=30.01))
    m.put_offer(offer())
    result = verdict(m)
    assert [link.session.session_id for link in result.links] == ["inside"]
    assert 29.98 <= result.links[0].distance_km <= 30.0


def test_radius_is_the_basins() -> None:
    m = matcher(session(north_km=40), radius_km=45)
    m.put_offer(offer())
    assert verdict(m).eligible
    assert verdict(m).radius_km == 45


def test_session_not_funded_by_the_region_does_not_link() -> None:
    m = matcher(session(funded=False))
    m.put_offer(offer())
    assert not verdict(m).eligible


def test_session_must_start_within_twelve_months_from_today() -> None:
    m = matcher(
        session("past", start=TODAY - timedelta(days=1)),
        session("today", start=TODAY, north_km=5),
        session("last-day", start=date(2027, 11, 22), north_km=6),
        session("too-late", start=date(2027, 11, 23), north_km=7),
        session("unknown", start=None, north_km=8),
    )
    m.put_offer(offer())
    assert [link.session.session_id for link in verdict(m).links] == ["today", "last-day"]


def test_links_are_sorted_nearest_first_with_their_distances() -> None:
    m = matcher(session("far", north_km=20), session("near", north_km=3))
    m.put_offer(offer())
    links = verdict(m).links
    assert [(link.session.session_id, round(link.distance_km)) for link in links] == [
        ("near", 3),
        ("far", 20),
    ]


def test_withdrawn_session_makes_the_offer_ineligible() -> None:
    m = matcher(session())
    m.put_offer(offer())
    assert verdict(m).eligible
    assert m.remove_session("S1") == {"O1"}
    assert not verdict(m).eligible


def test_new_session_makes_offers_in_reach_eligible_and_names_only_them() -> None:
    m = matcher()
    m.put_offer(offer("near"))
    m.put_offer(offer("far-away", lat=48.58, lon=7.75))  # Strasbourg
    m.put_offer(offer("other-fiche", fiche="K2303"))
    assert not verdict(m, "near").eligible
    affected = m.put_session(session())
    assert affected == {"near"}
    assert verdict(m, "near").eligible
    assert not verdict(m, "far-away").eligible


def test_moved_session_re_evaluates_offers_near_the_old_and_the_new_place() -> None:
    m = matcher(session())
    m.put_offer(offer("metz"))
    m.put_offer(offer("strasbourg", lat=48.58, lon=7.75))
    moved = Session("S1", 2, "Titre pro TSSR", ("M1801",), 48.60, 7.75, TODAY + timedelta(days=30), True)
    assert m.put_session(moved) == {"metz", "strasbourg"}
    assert not verdict(m, "metz").eligible
    assert verdict(m, "strasbourg").eligible


def test_unlocated_offer_is_never_eligible() -> None:
    m = matcher(session())
    m.put_offer(offer(lat=None, lon=None))
    result = verdict(m)
    assert not result.eligible
    assert result.reasons == ("unlocated",)


def test_offer_whose_contract_is_not_eligible_is_never_eligible_with_the_reason() -> None:
    m = matcher(session())
    m.put_offer(offer(contract_eligible=False))
    result = verdict(m)
    assert (result.eligible, result.reasons) == (False, ("contract_not_eligible: CDD de 3 mois",))


def test_offer_without_a_known_fiche_is_not_eligible() -> None:
    m = matcher(session())
    m.put_offer(offer(fiche=None))
    assert verdict(m).reasons == ("unknown_rome_fiche",)


def test_older_revision_of_an_offer_is_ignored() -> None:
    m = matcher(session())
    assert m.put_offer(offer(revision=2))
    assert not m.put_offer(offer(revision=1, lat=None, lon=None))
    assert verdict(m).eligible


def test_batched_evaluation_agrees_with_one_by_one() -> None:
    m = matcher(session("a", north_km=5), session("b", north_km=25), session("c", fiches=("K2303",)))
    for i, lat in enumerate([49.0, 49.1, 49.3, 49.5]):
        m.put_offer(offer(f"O{i}", lat=lat))
    m.put_offer(offer("K", fiche="K2303"))
    batched = {r.offer.offer_id: r for r in m.evaluate_many(list(m.offers), WINDOW)}
    assert batched == {offer_id: verdict(m, offer_id) for offer_id in m.offers}


def test_batched_evaluation_agrees_with_one_by_one_on_crowded_places_and_ties() -> None:
    """More sessions than links, several at one place (equal distances: ordered by session id), some
    outside the window or the radius: the batched path keeps exactly what evaluate keeps."""
    rng = random.Random(3)
    places = [rng.uniform(-40, 40) for _ in range(12)]
    sessions = [
        session(
            f"S{i:02d}",
            north_km=rng.choice(places),
            start=TODAY + timedelta(days=rng.choice([-10, 5, 30, 200, 400])),
        )
        for i in range(60)
    ]
    m = matcher(*sessions)
    for i in range(30):
        m.put_offer(offer(f"O{i}", lat=METZ[0] + rng.uniform(-0.3, 0.3)))
    batched = {r.offer.offer_id: r for r in m.evaluate_many(list(m.offers), WINDOW)}
    one_by_one = {offer_id: verdict(m, offer_id) for offer_id in m.offers}
    assert batched == one_by_one
    linked = [r for r in one_by_one.values() if r.eligible]
    assert linked and any(len(r.links) == 20 for r in linked)
    assert any(a.distance_km == b.distance_km for r in linked for a, b in pairwise(r.links))


def test_distance_is_the_great_circle_distance() -> None:
    strasbourg = (48.5734, 7.7521)
    [d] = distances_km(unit_vector(*METZ), unit_vector(*strasbourg)[None, :])
    assert abs(d - distance_km(*METZ, *strasbourg)) < 0.001


def test_an_offer_links_at_most_the_nearest_sessions_in_the_window_whichever_path() -> None:
    too_late = [session(f"late{i}", north_km=1 + i / 10, start=date(2028, 6, 1)) for i in range(12)]
    in_window = [session(f"ok{i}", north_km=5 + i) for i in range(4)]
    m = Matcher(lambda basin: 30.0, max_radius_km=30.0, max_links=2)
    for s in [*too_late, *in_window]:
        m.put_session(s)
    m.put_offer(offer())
    [batched] = m.evaluate_many(["O1"], WINDOW)
    assert [link.session.session_id for link in batched.links] == ["ok0", "ok1"]
    assert batched == verdict(m)

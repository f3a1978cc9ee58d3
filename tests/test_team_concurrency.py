"""No double booking of a team member under load: 50 customers race for one instant against
a running server, on team pages and on the members' own pages at once."""

from __future__ import annotations

import time as time_module
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import time

import pytest
import requests
from django.contrib.auth.models import User
from django.db.models import Q

from bookings.models import Booking, BookingPage, BookingStatus, TeamMode
from tests.world import monday_after

# Fifty clients hold fifty database connections: two such races at once on two test workers
# would pass PostgreSQL's default max_connections (100). One group runs on one worker.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("fifty-clients")]

HOURS = {"tz": "UTC", "hours": (time(9), time(17))}


@pytest.fixture
def slow_recheck(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """Widen the window between "is it free?" and "insert" that the member locks protect,
    as a slow database would: without the locks, these tests see extra 201s."""
    from bookings import actions, team

    settings.BOOKING_RATE_LIMIT = 1000
    team_check = team.team_slots
    personal_check = actions._check_slot_is_free

    def slow_team_check(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = team_check(*args, **kwargs)
        if kwargs.get("member_busy") is not None:  # the re-check inside the lock
            time_module.sleep(0.1)
        return result

    def slow_personal_check(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = personal_check(*args, **kwargs)
        if kwargs.get("busy") is not None:  # the re-check inside the lock
            time_module.sleep(0.1)
        return result

    monkeypatch.setattr(team, "team_slots", slow_team_check)
    monkeypatch.setattr(actions, "_check_slot_is_free", slow_personal_check)


@pytest.fixture
def trio(world):  # type: ignore[no-untyped-def]
    world.sim.set_latency(0.02)  # every fresh check really goes to Exchange and takes time
    return [world.staff(name) for name in ("ada", "ben", "cy")]


def race(live_server, pages: Callable[[int], BookingPage], start: str) -> list[tuple[int, str]]:
    """50 customers book `start` at once, customer i on pages(i): (status, code) each."""

    def attempt(i: int) -> tuple[int, str]:
        response = requests.post(
            f"{live_server.url}/api/v1/pages/{pages(i).slug}/bookings",
            json={
                "start": start,
                "name": f"Customer {i}",
                "email": f"c{i}@example.com",
                "timezone": "UTC",
            },
            timeout=120,
        )
        code = response.json().get("code", "") if response.status_code != 201 else ""
        return response.status_code, code

    with ThreadPoolExecutor(max_workers=50) as pool:
        return list(pool.map(attempt, range(50)))


def bookings_of(user: User, start) -> int:  # type: ignore[no-untyped-def]
    """How many confirmed bookings hold `user` at `start`: owned, or attended (any page)."""
    holding = Q(owner=user) | Q(attendees__user=user, attendees__declined_at__isnull=True)
    found = Booking.objects.filter(holding, start=start, status=BookingStatus.CONFIRMED)
    return found.distinct().count()


def refusals(outcomes: list[tuple[int, str]]) -> Counter:
    return Counter(outcome for outcome in outcomes if outcome[0] != 201)


def test_fifty_requests_for_a_round_robin_slot_give_one_booking_per_free_member(
    transactional_db, world, trio, live_server, slow_recheck
) -> None:
    page = world.team_page(trio[0], trio, **HOURS)
    start = monday_after().replace(hour=10)

    outcomes = race(live_server, lambda i: page, start.isoformat())

    assert [o for o in outcomes if o[0] == 201] == [(201, "")] * 3, outcomes
    assert refusals(outcomes) == {(409, "taken"): 47}, outcomes
    owners = Booking.objects.filter(page=page).values_list("owner_id", flat=True)
    assert sorted(owners) == sorted(u.pk for u in trio)
    for user in trio:
        assert bookings_of(user, start) == 1


def test_fifty_requests_for_a_collective_slot_give_exactly_one_booking(
    transactional_db, world, trio, live_server, slow_recheck
) -> None:
    page = world.team_page(trio[0], trio, mode=TeamMode.COLLECTIVE, **HOURS)
    start = monday_after().replace(hour=10)

    outcomes = race(live_server, lambda i: page, start.isoformat())

    assert sorted(outcomes) == [(201, "")] + [(409, "taken")] * 49, outcomes
    (booking,) = Booking.objects.filter(page=page)
    assert {a.user_id for a in booking.attendees.all()} == {u.pk for u in trio}
    for user in trio:
        assert bookings_of(user, start) == 1


def test_members_booked_on_their_own_pages_and_a_round_robin_page_at_once_are_booked_once(
    transactional_db, world, trio, live_server, slow_recheck
) -> None:
    ada, ben, cy = trio
    team_page = world.team_page(ada, trio, **HOURS)
    own = {0: team_page, 1: world.page(ada, **HOURS), 2: world.page(ben, **HOURS)}
    start = monday_after().replace(hour=10)

    outcomes = race(live_server, lambda i: own[i % 3], start.isoformat())

    # Whichever page got each member, each has one booking: ada and ben on their own page or
    # the team's, cy (on no other page) on the team's.
    for user in trio:
        assert bookings_of(user, start) == 1, outcomes
    assert Booking.objects.filter(page=team_page, owner=cy).count() == 1
    assert [o for o in outcomes if o[0] == 201] == [(201, "")] * 3, outcomes
    assert refusals(outcomes) == {(409, "taken"): 47}, outcomes


def test_members_booked_on_their_own_pages_and_a_collective_page_at_once_are_booked_once(
    transactional_db, world, trio, live_server, slow_recheck
) -> None:
    ada, ben, _ = trio
    team_page = world.team_page(ada, [ada, ben], mode=TeamMode.COLLECTIVE, **HOURS)
    own = {0: team_page, 1: world.page(ada, **HOURS), 2: world.page(ben, **HOURS)}
    start = monday_after().replace(hour=10)

    outcomes = race(live_server, lambda i: own[i % 3], start.isoformat())

    for user in (ada, ben):
        assert bookings_of(user, start) == 1, outcomes
    # Either the meeting won (one booking) or it lost to both personal pages (two).
    made = Booking.objects.filter(start=start, status=BookingStatus.CONFIRMED).count()
    assert made in (1, 2)
    assert Booking.objects.filter(page=team_page).count() == (1 if made == 1 else 0)
    assert [o for o in outcomes if o[0] == 201] == [(201, "")] * made, outcomes
    assert refusals(outcomes) == {(409, "taken"): 50 - made}, outcomes

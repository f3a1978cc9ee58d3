"""A team page's member problems (bookings.team.member_problems) are reused by the slots API for
READINESS_CACHE_SECONDS, as a personal page's readiness is; a booking always reads them again."""

from __future__ import annotations

import pytest
from django.test import Client

from bookings import memo, team
from bookings.models import Booking
from calendars.models import CalendarRef, ExchangeConnection
from tests.world import World, monday_after

pytestmark = [pytest.mark.django_db]


def test_team_slots_reuse_member_problems_for_a_few_seconds_but_a_booking_never_does(
    world: World,
    settings,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    settings.READINESS_CACHE_SECONDS = 5
    clock = [1_000.0]
    monkeypatch.setattr(memo, "monotonic", lambda: clock[0])
    ada = world.staff("ada")
    page = world.team_page(ada, [ada])
    day = monday_after()
    url, query = f"/api/v1/pages/{page.slug}/slots", {"start": day.date(), "end": day.date()}
    assert Client().get(url, query).json()["slots"]

    # The connection loses write access to ada's main calendar (no version moves for that).
    CalendarRef.objects.filter(connection=world.corporate(), owner_email=ada.email).update(
        can_create=False
    )
    clock[0] += 4  # within the 5 seconds: slots are still offered...
    assert Client().get(url, query).json()["slots"]
    # ...but a booking checks afresh and is refused.
    booking = Client().post(
        f"/api/v1/pages/{page.slug}/bookings",
        {
            "name": "Ann",
            "email": "ann@example.com",
            "timezone": "UTC",
            "start": day.replace(hour=10).isoformat(),
        },
        content_type="application/json",
    )
    assert booking.status_code == 409 and booking.json()["code"] == "not_taking_bookings"
    assert not Booking.objects.exists()

    clock[0] += 2  # past it: the slots API says so too
    answer = Client().get(url, query)
    assert answer.status_code == 409 and answer.json()["code"] == "not_taking_bookings"


def test_without_the_setting_every_team_slots_request_reads_member_problems(
    world: World,
    settings,
) -> None:
    settings.READINESS_CACHE_SECONDS = 0
    ada = world.staff("ada")
    page = world.team_page(ada, [ada])
    day = monday_after()
    url, query = f"/api/v1/pages/{page.slug}/slots", {"start": day.date(), "end": day.date()}
    assert Client().get(url, query).json()["slots"]
    CalendarRef.objects.filter(connection=world.corporate(), owner_email=ada.email).update(
        can_create=False
    )
    answer = Client().get(url, query)
    assert answer.status_code == 409 and answer.json()["code"] == "not_taking_bookings"


def test_a_member_whose_remembered_connection_is_gone_is_read_through_their_new_one(
    world: World, settings
) -> None:
    # Which connection each member uses is reused for a few seconds; one that disappeared
    # meanwhile (replaced by another) must not leave its members without busy time.
    settings.READINESS_CACHE_SECONDS = 60
    ada = world.staff("ada")
    page = world.team_page(ada, [ada])
    day = monday_after()
    gone = ExchangeConnection.objects.order_by("-pk").first().pk + 1000
    team._member_connections.get((ada.pk,), lambda: {ada.pk: gone}, reuse=False)
    url, query = f"/api/v1/pages/{page.slug}/slots", {"start": day.date(), "end": day.date()}
    response = Client().get(url, query)
    assert response.status_code == 200 and response.json()["slots"]

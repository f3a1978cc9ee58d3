"""All-day events on the days clocks change: they block every day they cover, whole, in
the event's own zone, whether read through free/busy (primary calendars) or CalendarView
(sub-calendars).

A spring-forward day is 23 hours long (23.5 on Lord Howe, whose clocks move by 30 minutes),
a fall-back day 25 (24.5). Reading an all-day event's last day as "end minus 24 hours"
loses a spring-forward last day entirely; these tests pin every combination.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from bookings.models import Booking
from calendars.backends.base import BusyInterval, CalendarTarget
from calendars.connect import backend_for

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

# (zone, spring-forward day, fall-back day) in 2027.
CHANGES = [
    ("Europe/London", date(2027, 3, 28), date(2027, 10, 31)),
    ("America/New_York", date(2027, 3, 14), date(2027, 11, 7)),
    ("Australia/Lord_Howe", date(2027, 10, 3), date(2027, 4, 4)),
]
CASES = [
    pytest.param(zone, day, days_before, id=f"{zone}-{kind}-{length}")
    for zone, spring, fall in CHANGES
    for kind, day in (("spring", spring), ("fall", fall))
    # One day: the change day alone. Three days: the change day is the last day.
    for length, days_before in (("one-day", 0), ("three-day", 2))
]
WHERE = pytest.mark.parametrize("where", ["primary", "sub-calendar"])


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def read_all_day_event(world, where: str, zone_name: str, first: date, last: date):  # type: ignore[no-untyped-def]
    """Put an all-day OOF event covering [first, last] into an owner's primary calendar or
    a sub-calendar and read it back through the product's backend."""
    zone = ZoneInfo(zone_name)
    owner = world.person("olivia")
    connection = world.corporate()
    if where == "primary":
        world.sim.add_delegate(owner.email, connection.email)
        target, calendar = CalendarTarget(owner.email), None
    else:
        # Only the sub-calendar is shared (discovery can't list it), so the target is built
        # from the simulator's folder id, as the connection's protocol spells it.
        folder_id = world.sub_calendar(owner.email, "Rota")
        target = CalendarTarget(owner.email, world.folder_ref(folder_id))
        calendar = "Rota"
    world.sim.add_event(
        owner.email,
        datetime.combine(first, time(0), zone),
        datetime.combine(last + timedelta(days=1), time(0), zone),
        "Holiday",
        all_day=True,
        status="OOF",
        tz=zone_name,
        calendar=calendar,
    )
    window_start = midnight(first - timedelta(days=3), zone)
    found = backend_for(connection).busy([target], window_start, window_start + timedelta(days=9))
    return found[target]


@WHERE
@pytest.mark.parametrize(("zone_name", "day", "days_before"), CASES)
def test_an_all_day_event_ending_on_a_clock_change_blocks_its_last_day_whole(
    world, where: str, zone_name: str, day: date, days_before: int
) -> None:
    zone = ZoneInfo(zone_name)
    first = day - timedelta(days=days_before)
    found = read_all_day_event(world, where, zone_name, first, day)
    assert found == [
        BusyInterval(
            start=midnight(first, zone), end=midnight(day + timedelta(days=1), zone), status="OOF"
        )
    ]


@WHERE
@pytest.mark.parametrize(("zone_name", "day", "days_before"), CASES)
def test_an_all_day_event_starting_on_a_clock_change_blocks_its_first_day_whole(
    world, where: str, zone_name: str, day: date, days_before: int
) -> None:
    zone = ZoneInfo(zone_name)
    last = day + timedelta(days=days_before)
    found = read_all_day_event(world, where, zone_name, day, last)
    assert found == [
        BusyInterval(
            start=midnight(day, zone), end=midnight(last + timedelta(days=1), zone), status="OOF"
        )
    ]


@WHERE
def test_a_one_day_holiday_on_londons_spring_forward_sunday_offers_no_slots_and_takes_no_booking(
    world, where: str, settings
) -> None:
    # The case an independent check found: the API offered 8 slots and confirmed 09:00.
    sunday = date(2027, 3, 28)
    owner = world.staff("olivia")
    roles = {owner.email: "main"}
    calendar = None
    if where == "sub-calendar":
        world.sub_calendar(owner.email, "Rota", "Reviewer")
        roles[f"{owner.email}/Rota"] = "busy"
        calendar = "Rota"
    page = world.page(owner, tz="Europe/London", weekdays=range(7), roles=roles, window_days=3650)
    london = ZoneInfo("Europe/London")
    world.sim.add_event(
        owner.email,
        datetime.combine(sunday, time(0), london),
        datetime.combine(sunday + timedelta(days=1), time(0), london),
        "Holiday",
        all_day=True,
        status="OOF",
        tz="Europe/London",
        calendar=calendar,
    )
    params = {"start": str(sunday - timedelta(days=1)), "end": str(sunday + timedelta(days=1))}
    response = Client().get(f"/api/v1/pages/{page.slug}/slots", params)
    assert response.status_code == 200, response.content
    days = sorted({datetime.fromisoformat(s["start"]).date() for s in response.json()["slots"]})
    assert days == [sunday - timedelta(days=1), sunday + timedelta(days=1)]

    nine = datetime.combine(sunday, time(9), london)
    booked = Client().post(
        f"/api/v1/pages/{page.slug}/bookings",
        {"name": "Ann", "email": "ann@example.com", "start": nine.isoformat()},
        content_type="application/json",
    )
    assert booked.status_code == 409, booked.content
    assert not Booking.objects.filter(page=page).exists()

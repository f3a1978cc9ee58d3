"""A refused booking says which rule refused it, in the API (a stable `code` and words in
`detail`) and on the public form: off the slot grid, over the daily or weekly limit, too soon,
too far ahead, outside the hours, or really taken. Over the wire, against the simulator."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.test import Client

from bookings import actions
from bookings.api import ERROR_CODES
from bookings.availability import Booked, Refusal, Rules, refusal
from bookings.models import Booking, BookingPage
from tests.world import World, monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]


@pytest.fixture
def page(world: World) -> BookingPage:
    """UTC, Monday to Friday 9:00-17:00, 30-minute slots every 30 minutes, no notice."""
    return world.page(world.staff("olivia"), tz="UTC")


def monday(hour: int, minute: int = 0, *, weeks: int = 0) -> datetime:
    return monday_after() + timedelta(weeks=weeks, hours=hour, minutes=minute)


def post(page: BookingPage, start: datetime, email: str = "ann@example.com"):  # type: ignore[no-untyped-def]
    body = {"start": start.isoformat(), "name": "Ann Customer", "email": email}
    return Client().post(
        f"/api/v1/pages/{page.slug}/bookings", body, content_type="application/json"
    )


def refused(page: BookingPage, start: datetime) -> tuple[str, str]:
    response = post(page, start)
    assert response.status_code == 409, response.content
    body = response.json()
    return body["code"], body["detail"]


def set_page(page: BookingPage, **fields: object) -> None:
    for name, value in fields.items():
        setattr(page, name, value)
    page.save()


# --- each reason, through the booking API --------------------------------------------------


def test_a_time_off_the_slot_grid_says_when_bookings_start(page: BookingPage) -> None:
    code, detail = refused(page, monday(10, 10))
    assert code == "off_grid"
    assert detail == (
        "Bookings start at set times, every 30 minutes, and that isn't one of them. "
        "Please pick one of the times offered."
    )


def test_a_time_outside_the_hours_says_so(page: BookingPage) -> None:
    assert refused(page, monday(20))[0] == "outside_hours"
    assert refused(page, monday(10) + timedelta(days=5))[0] == "outside_hours"  # Saturday
    code, detail = refused(page, monday(16, 45))  # would end after 17:00
    assert code == "outside_hours"
    assert "outside the hours" in detail


def test_a_day_at_its_limit_says_the_day_is_fully_booked(page: BookingPage) -> None:
    set_page(page, max_per_day=1)
    assert post(page, monday(10)).status_code == 201
    code, detail = refused(page, monday(11))
    assert code == "day_full"
    assert "at most 1 booking a day" in detail
    # The next day is still open.
    assert post(page, monday(11) + timedelta(days=1)).status_code == 201


def test_a_week_at_its_limit_says_the_week_is_fully_booked(page: BookingPage) -> None:
    set_page(page, max_per_week=2)
    assert post(page, monday(10)).status_code == 201
    assert post(page, monday(10) + timedelta(days=1)).status_code == 201
    code, detail = refused(page, monday(10) + timedelta(days=2))
    assert code == "week_full"
    assert "at most 2 bookings a week" in detail
    assert post(page, monday(10, weeks=1)).status_code == 201


def test_a_time_in_the_past_has_passed(page: BookingPage) -> None:
    code, detail = refused(page, monday(10, weeks=-2))
    assert code == "too_soon"
    assert detail == "That time has already passed. Please pick a later time."


def test_a_time_inside_the_minimum_notice_is_too_soon_and_says_the_notice(
    page: BookingPage,
) -> None:
    set_page(page, min_notice_minutes=21 * 24 * 60)
    code, detail = refused(page, monday(10))
    assert code == "too_soon"
    assert "bookings close 21 days before they start" in detail


def test_a_time_after_the_booking_window_is_too_far_ahead(page: BookingPage) -> None:
    set_page(page, window_days=5)
    code, detail = refused(page, monday(10, weeks=2))
    assert code == "too_far"
    assert "up to 5 days ahead" in detail


def test_a_time_busy_in_exchange_is_taken(world: World, page: BookingPage) -> None:
    world.sim.add_event(page.owner.email, monday(10), monday(11), "Stand-up")
    code, detail = refused(page, monday(10, 30))
    assert code == "taken"
    assert detail == "That time is not available any more. Please pick another time."


def test_a_time_whose_buffer_meets_busy_time_is_taken(world: World, page: BookingPage) -> None:
    set_page(page, buffer_after_minutes=15)
    world.sim.add_event(page.owner.email, monday(10, 40), monday(11), "Call")
    assert refused(page, monday(10))[0] == "taken"


def test_a_time_booked_by_another_customer_is_taken(page: BookingPage) -> None:
    assert post(page, monday(10)).status_code == 201
    assert refused(page, monday(10)) == (
        "taken",
        "That time is not available any more. Please pick another time.",
    )
    assert Booking.objects.count() == 1


def test_the_first_rule_broken_is_the_one_named(page: BookingPage) -> None:
    # Off the grid and outside the hours, on a day over its limit: the hours come first.
    set_page(page, max_per_day=1)
    assert post(page, monday(10)).status_code == 201
    assert refused(page, monday(20, 10))[0] == "outside_hours"
    assert refused(page, monday(10, 10))[0] == "off_grid"


def test_every_refusal_code_is_in_the_schema() -> None:
    documented = {code for code, _ in ERROR_CODES}
    assert {r.value for r in Refusal} <= documented
    assert {actions.PageNotReady.code, actions.CannotConfirm.code} <= documented


# --- on the public form and the manage link ------------------------------------------------


def form_post(page: BookingPage, start: datetime):  # type: ignore[no-untyped-def]
    data = {
        "start": start.isoformat(),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "timezone": "UTC",
    }
    return Client().post(f"/{page.slug}/book/", data)


def alert(response) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'id="form-alert"[^>]*>(.*?)</div>', response.content.decode(), re.S)
    assert found, "no form alert"
    return found.group(1).strip().replace("&#x27;", "'")


@pytest.mark.parametrize(
    ("when", "fields", "words"),
    [
        (monday(10, 10), {}, "every 30 minutes, and that isn't one of them"),
        (monday(20), {}, "outside the hours this page takes bookings"),
        (monday(10, weeks=2), {"window_days": 5}, "too far ahead"),
        (monday(10), {"min_notice_minutes": 21 * 24 * 60}, "too soon"),
    ],
    ids=["off-grid", "outside-hours", "too-far", "too-soon"],
)
def test_the_public_form_says_why_a_time_was_refused(
    page: BookingPage, when: datetime, fields: dict, words: str
) -> None:
    set_page(page, **fields)
    response = form_post(page, when)
    assert response.status_code == 409
    assert words in alert(response)
    assert not Booking.objects.exists()


def test_the_public_form_says_a_full_day_is_full(page: BookingPage) -> None:
    set_page(page, max_per_day=1)
    assert form_post(page, monday(10)).status_code == 303
    response = form_post(page, monday(11))
    assert response.status_code == 409
    assert "That day is fully booked" in alert(response)


def test_the_public_form_still_says_a_time_taken_meanwhile_was_just_taken(
    page: BookingPage,
) -> None:
    assert form_post(page, monday(10)).status_code == 303
    response = form_post(page, monday(10))
    assert response.status_code == 409
    assert alert(response) == "That time was just taken — please pick another."


def test_moving_a_booking_off_the_grid_through_the_manage_link_says_why(
    page: BookingPage,
) -> None:
    booking = actions.book(page, monday(10), actions.CustomerDetails("Ann", "ann@x.org", "UTC"))
    url = f"/manage/{booking.manage_token()}/"
    response = Client().post(url, {"action": "reschedule", "start": monday(11, 5).isoformat()})
    assert response.status_code == 409
    assert "every 30 minutes" in response.content.decode()
    booking.refresh_from_db()
    assert booking.start == monday(10)


def test_moving_a_booking_to_its_own_day_does_not_count_it_against_the_limit(
    page: BookingPage,
) -> None:
    set_page(page, max_per_day=1)
    booking = actions.book(page, monday(10), actions.CustomerDetails("Ann", "ann@x.org", "UTC"))
    moved = actions.reschedule(booking, monday(14), by="customer")
    assert moved.start == monday(14)


# --- the rule itself (bookings.availability.refusal, no I/O) ------------------------------

NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)  # a Monday


def rules(**fields: object) -> Rules:
    base: dict = {
        "zone": "Europe/London",
        "duration": timedelta(minutes=30),
        "interval": timedelta(minutes=30),
        "weekly": {d: [(time(9), time(17))] for d in range(5)},
    }
    return Rules(**(base | fields))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def test_an_override_replaces_the_weekdays_hours_for_the_reason_too() -> None:
    tuesday = date(2027, 1, 5)
    r = rules(overrides={tuesday: [(time(13), time(14))]})
    assert refusal(r, start=at(tuesday, 10), booked=[], now=NOW) == Refusal.OUTSIDE_HOURS
    assert refusal(r, start=at(tuesday, 13, 15), booked=[], now=NOW) == Refusal.OFF_GRID
    assert refusal(r, start=at(tuesday, 13), booked=[], now=NOW) == Refusal.TAKEN


def test_owner_hours_in_another_zone_are_checked_in_that_zone() -> None:
    # A New York owner's 09:00-17:00 is 14:00-22:00 in London in January.
    r = rules(hours_zone="America/New_York")
    monday = date(2027, 1, 4)
    assert refusal(r, start=at(monday, 10), booked=[], now=NOW) == Refusal.OUTSIDE_HOURS
    assert refusal(r, start=at(monday, 21, 30), booked=[], now=NOW) == Refusal.TAKEN


def test_only_the_pages_own_bookings_count_towards_its_limits() -> None:
    monday = date(2027, 1, 4)
    elsewhere = Booked(at(monday, 9), at(monday, 9, 30), same_page=False)
    here = Booked(at(monday, 9), at(monday, 9, 30), same_page=True)
    r = rules(max_per_day=1)
    assert refusal(r, start=at(monday, 11), booked=[elsewhere], now=NOW) == Refusal.TAKEN
    assert refusal(r, start=at(monday, 11), booked=[here], now=NOW) == Refusal.DAY_FULL


def test_a_window_of_one_day_means_today_only() -> None:
    r = rules(window_days=1)
    assert refusal(r, start=at(date(2027, 1, 4), 10), booked=[], now=NOW) == Refusal.TAKEN
    assert refusal(r, start=at(date(2027, 1, 5), 10), booked=[], now=NOW) == Refusal.TOO_FAR

"""Input at the edges never reaches a 500: days and times at the ends of the calendar (where
adding a day or a zone's offset overflows), dates and times in other forms than the documented
ones, and NUL characters (which PostgreSQL can't store in text; SQLite can, so these tests
check that the form or serializer refuses them, whatever the database).

Through every door a customer has: the slots API, the booking API, the public page and its
form, and the manage link's page, slots and forms.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from bookings import actions
from bookings.models import Booking, BookingPage, BookingStatus, Question
from tests.world import monday_after

pytestmark = pytest.mark.django_db

EDGE_RANGES = [
    # (start, end, timezone): each overflows somewhere between the query and the answer.
    ("9999-12-30", "9999-12-31", None),
    ("9999-12-31", "9999-12-31", "America/Los_Angeles"),
    ("0001-01-01", "0001-01-01", "Asia/Tokyo"),
    ("0001-01-01", "0001-01-02", "Pacific/Kiritimati"),
]

# date.fromisoformat takes all of these; the API documents YYYY-MM-DD only.
OTHER_DAY_FORMS = ["20270104", "2027-W01-1", "2027-W01", "2027-1-4", "2027-01-04T00:00"]

EDGE_STARTS = [
    "0001-01-01T00:00:00+09:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
    "9999-12-31T23:30:00+00:00",  # fine, but its end (30 minutes later) is not
]

# datetime.fromisoformat takes all of these; the API documents RFC 3339 date-times only.
OTHER_START_FORMS = [
    "20270104T100000+0100",
    "2027-W01-1T10:00:00+01:00",
    "2027-01-04T10:00+01:00",
    "2027-01-04 10:00:00+01:00",
    "2027-01-04T10:00:00+0100",
    "2027-01-04T10:00:00+01:00:30",
]

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def page(world) -> BookingPage:
    page = world.page(world.staff("olivia"), tz="Europe/London", ask_phone=True)
    Question.objects.create(page=page, label="Company")
    return page


def ten_on_monday() -> datetime:
    day = monday_after().date()
    return datetime.combine(day, time(10), tzinfo=LONDON).astimezone(UTC)


def booking_on(page: BookingPage) -> Booking:
    customer = actions.CustomerDetails("Ada Lovelace", "ada@example.com", "Europe/London")
    return actions.book(page, ten_on_monday(), customer)


def slots(url: str, first: str, last: str, tz: str | None):  # type: ignore[no-untyped-def]
    params = {"start": first, "end": last}
    if tz:
        params["timezone"] = tz
    return Client().get(url, params)


def post_booking(page: BookingPage, **fields: object):  # type: ignore[no-untyped-def]
    body: dict[str, object] = {
        "start": ten_on_monday().isoformat(),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "timezone": "Europe/London",
    }
    body.update(fields)
    return Client().post(
        f"/api/v1/pages/{page.slug}/bookings", body, content_type="application/json"
    )


# --- the slots API -------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "last", "tz"), EDGE_RANGES)
def test_the_slots_api_refuses_days_at_the_ends_of_the_calendar_naming_them(
    page: BookingPage, first: str, last: str, tz: str | None
) -> None:
    response = slots(f"/api/v1/pages/{page.slug}/slots", first, last, tz)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "start" in errors
    assert "from 1900-01-01 to 9998-12-31" in errors["start"][0]


@pytest.mark.parametrize(
    ("first", "last"),
    [("2020-01-01", "2020-01-31"), ("1900-01-01", "1900-01-01"), ("9998-11-30", "9998-12-31")],
)
def test_the_slots_api_answers_no_slots_for_days_outside_the_booking_window(
    page: BookingPage, first: str, last: str
) -> None:
    response = slots(f"/api/v1/pages/{page.slug}/slots", first, last, "Asia/Tokyo")
    assert response.status_code == 200, response.content
    assert response.json()["slots"] == []


@pytest.mark.parametrize("raw", OTHER_DAY_FORMS)
def test_the_slots_api_takes_days_only_as_yyyy_mm_dd(page: BookingPage, raw: str) -> None:
    response = slots(f"/api/v1/pages/{page.slug}/slots", raw, "2027-01-05", None)
    assert response.status_code == 400
    assert response.json()["errors"]["start"] == ["'start': Enter a date as YYYY-MM-DD."]


def test_the_slots_api_still_takes_a_plain_yyyy_mm_dd(page: BookingPage) -> None:
    day = monday_after().date().isoformat()
    response = slots(f"/api/v1/pages/{page.slug}/slots", day, day, None)
    assert response.status_code == 200
    assert response.json()["slots"]


@pytest.mark.parametrize(("first", "last", "tz"), EDGE_RANGES)
def test_the_manage_links_slots_refuse_days_at_the_ends_of_the_calendar(
    page: BookingPage, first: str, last: str, tz: str | None
) -> None:
    token = booking_on(page).manage_token()
    response = slots(f"/manage/{token}/slots", first, last, tz)
    assert response.status_code == 400
    assert "start" in response.json()["errors"]


def test_the_manage_links_slots_take_days_only_as_yyyy_mm_dd(page: BookingPage) -> None:
    token = booking_on(page).manage_token()
    response = slots(f"/manage/{token}/slots", "20270104", "2027-01-05", None)
    assert response.status_code == 400
    assert "start" in response.json()["errors"]


# --- the booking API -----------------------------------------------------------------------


@pytest.mark.parametrize("start", EDGE_STARTS)
def test_the_booking_api_refuses_a_start_at_the_ends_of_the_calendar(
    page: BookingPage, start: str
) -> None:
    response = post_booking(page, start=start)
    assert response.status_code == 400
    assert response.json()["errors"]["start"] == ["Enter a time from 1900-01-01 to 9998-12-31."]
    assert not Booking.objects.exists()


@pytest.mark.parametrize("start", OTHER_START_FORMS)
def test_the_booking_api_takes_the_start_only_as_an_rfc_3339_date_time(
    page: BookingPage, start: str
) -> None:
    response = post_booking(page, start=start)
    assert response.status_code == 400
    assert "YYYY-MM-DDTHH:MM:SS with an offset" in response.json()["errors"]["start"][0]
    assert not Booking.objects.exists()


def test_the_booking_api_says_a_start_without_an_offset_needs_one(page: BookingPage) -> None:
    response = post_booking(page, start="2027-01-04T10:00:00")
    assert response.json()["errors"]["start"] == ["The time needs a UTC offset, e.g. +01:00 or Z."]


@pytest.mark.parametrize(
    "written",
    [
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda t: t.astimezone(ZoneInfo("Asia/Kolkata")).isoformat(),
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000+00:00"),
    ],
    ids=["Z", "offset", "fraction"],
)
def test_the_booking_api_takes_every_rfc_3339_spelling_of_a_free_slot(
    page: BookingPage, written
) -> None:  # type: ignore[no-untyped-def]
    response = post_booking(page, start=written(ten_on_monday()))
    assert response.status_code == 201, response.content
    assert Booking.objects.get().start == ten_on_monday()


def test_a_start_far_from_now_but_inside_the_calendar_is_not_available(
    page: BookingPage,
) -> None:
    response = post_booking(page, start="9998-12-31T10:00:00+00:00")
    assert response.status_code == 409


@pytest.mark.parametrize("field", ["name", "email", "phone", "notes", "answers"])
def test_the_booking_api_refuses_a_nul_character_in_any_text(page: BookingPage, field) -> None:  # type: ignore[no-untyped-def]
    question = page.questions.get()
    values: dict[str, object] = {
        "name": "Ada\x00Lovelace",
        "email": "ada\x00@example.com",
        "phone": "+44 20\x00 7946 0000",
        "notes": "Line one\x00",
        "answers": {question.key: "Contoso\x00"},
    }
    response = post_booking(page, **{field: values[field]})
    assert response.status_code == 400
    key = f"answers.{question.key}" if field == "answers" else field
    assert response.json()["errors"][key] == ["Must not contain a NUL character."]
    assert not Booking.objects.exists()


# --- the public page and its form ----------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "tz"),
    [("9999-12-31", ""), ("9999-12-31", "America/Los_Angeles"), ("0001-01-01", "Asia/Tokyo")],
)
def test_the_public_page_refuses_a_day_at_the_ends_of_the_calendar_with_a_message(
    page: BookingPage, day: str, tz: str
) -> None:
    response = Client().get(f"/{page.slug}/", {"date": day, "tz": tz})
    assert response.status_code == 400
    assert "Enter a date from 1900-01-01 to 9998-12-31." in response.content.decode()


@pytest.mark.parametrize("raw", OTHER_DAY_FORMS)
def test_the_public_page_takes_days_only_as_yyyy_mm_dd(page: BookingPage, raw: str) -> None:
    response = Client().get(f"/{page.slug}/", {"date": raw})
    assert response.status_code == 400
    assert "Enter a date as YYYY-MM-DD." in response.content.decode()


@pytest.mark.parametrize("start", EDGE_STARTS)
def test_the_booking_form_refuses_a_start_at_the_ends_of_the_calendar(
    page: BookingPage, start: str
) -> None:
    data = {"start": start, "name": "Ada", "email": "ada@example.com", "timezone": "Asia/Tokyo"}
    response = Client().post(f"/{page.slug}/book/", data)
    assert response.status_code == 400
    assert "Pick one of the available times." in response.content.decode()
    assert not Booking.objects.exists()


def test_the_booking_form_refuses_a_nul_character_with_a_message(page: BookingPage) -> None:
    data = {
        "start": ten_on_monday().isoformat(),
        "name": "Ada\x00",
        "email": "ada@example.com",
        "timezone": "Europe/London",
    }
    response = Client().post(f"/{page.slug}/book/", data)
    assert response.status_code == 400
    assert "Must not contain a NUL character." in response.content.decode()
    assert not Booking.objects.exists()


# --- the manage link -----------------------------------------------------------------------


@pytest.mark.parametrize(("day", "tz"), [("9999-12-31", ""), ("0001-01-01", "Asia/Tokyo")])
def test_the_manage_page_refuses_a_day_at_the_ends_of_the_calendar(
    page: BookingPage, day: str, tz: str
) -> None:
    token = booking_on(page).manage_token()
    response = Client().get(f"/manage/{token}/", {"date": day, "tz": tz})
    assert response.status_code == 400
    assert "Enter a date from 1900-01-01 to 9998-12-31." in response.content.decode()


def test_the_manage_page_takes_days_only_as_yyyy_mm_dd(page: BookingPage) -> None:
    token = booking_on(page).manage_token()
    response = Client().get(f"/manage/{token}/", {"date": "2027-W01-1"})
    assert response.status_code == 400
    assert "Enter a date as YYYY-MM-DD." in response.content.decode()


@pytest.mark.parametrize("start", EDGE_STARTS)
def test_rescheduling_to_a_time_at_the_ends_of_the_calendar_asks_for_a_time(
    page: BookingPage, start: str
) -> None:
    booking = booking_on(page)
    response = Client().post(
        f"/manage/{booking.manage_token()}/",
        {"action": "reschedule", "start": start, "timezone": "Asia/Tokyo"},
    )
    assert response.status_code == 400
    assert "Pick one of the available times." in response.content.decode()
    booking.refresh_from_db()
    assert booking.start == ten_on_monday()


def test_cancelling_with_a_nul_character_in_the_reason_is_refused(page: BookingPage) -> None:
    booking = booking_on(page)
    response = Client().post(
        f"/manage/{booking.manage_token()}/", {"action": "cancel", "reason": "Ill\x00"}
    )
    assert response.status_code == 400
    assert "Must not contain a NUL character." in response.content.decode()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_the_first_and_last_days_accepted_are_answered(page: BookingPage) -> None:
    # The bounds themselves, in the zones furthest from UTC: no overflow either side.
    for first, tz in (("1900-01-01", "Pacific/Kiritimati"), ("9998-12-31", "Pacific/Pago_Pago")):
        response = slots(f"/api/v1/pages/{page.slug}/slots", first, first, tz)
        assert response.status_code == 200, (first, response.content)
    last = (datetime(9998, 12, 31, 23, tzinfo=UTC) - timedelta(minutes=1)).isoformat()
    assert post_booking(page, start=last).status_code == 409

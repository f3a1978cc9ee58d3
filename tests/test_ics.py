"""The .ics file, emailed (an invitation) or downloaded (a plain event with a reminder), read
back the way a calendar app would."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from icalendar import Calendar

from bookings.ics import booking_ics
from bookings.models import Booking, BookingPage, BookingStatus, booking_for_token

pytestmark = pytest.mark.django_db

START = datetime(2027, 3, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def owner(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(
        "alice", "alice@contoso.example", None, first_name="Alice", last_name="Smith"
    )


@pytest.fixture
def page(owner: User) -> BookingPage:
    return BookingPage.objects.create(
        owner=owner,
        slug="intro",
        title="Intro call",
        location="Room 4",
        timezone="Europe/London",
    )


@pytest.fixture
def booking(page: BookingPage) -> Booking:
    return Booking.objects.create(
        page=page,
        owner=page.owner,
        start=START,
        end=START + timedelta(minutes=30),
        timezone="America/New_York",
        name="Carol Customer",
        email="carol@example.com",
    )


def manage_link(text: str) -> Booking | None:
    """The booking the text's manage link opens (its token is timestamped, so the link is
    checked by following it rather than by comparing strings)."""
    match = re.search(r"/manage/([^/\s]+)/$", text)
    return booking_for_token(match[1]) if match else None


def parse(data: bytes) -> tuple[Calendar, Calendar]:
    cal = Calendar.from_ical(data)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


def test_it_describes_the_booking_as_one_event(booking: Booking) -> None:
    data = booking_ics(booking)
    cal, event = parse(data)

    assert cal["PRODID"] == "-//Exchange Scheduler//Bookings//EN"
    assert cal["VERSION"] == "2.0"
    assert cal["METHOD"] == "REQUEST"
    assert event["UID"] == booking.uid
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["DTSTAMP"].dt.utcoffset() == timedelta(0)
    assert event["DTSTART"].dt == START
    assert event["DTEND"].dt == START + timedelta(minutes=30)
    assert event["SUMMARY"] == "Intro call with Alice Smith"
    assert event["LOCATION"] == "Room 4"
    assert manage_link(event["DESCRIPTION"]) == booking

    assert event["ORGANIZER"] == "mailto:alice@contoso.example"
    assert event["ORGANIZER"].params["CN"] == "Alice Smith"
    assert event["ATTENDEE"] == "mailto:carol@example.com"
    assert event["ATTENDEE"].params["CN"] == "Carol Customer"
    assert event["ATTENDEE"].params["RSVP"] == "FALSE"
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"


def test_it_writes_times_in_utc_without_a_timezone_block(booking: Booking) -> None:
    # The plainest form: Outlook and Google import it without needing a VTIMEZONE.
    lines = booking_ics(booking).split(b"\r\n")

    assert b"DTSTART:20270329T080000Z" in lines
    assert b"DTEND:20270329T083000Z" in lines
    assert b"BEGIN:VTIMEZONE" not in lines


def test_it_escapes_commas_semicolons_and_newlines(booking: Booking) -> None:
    page = booking.page
    page.title = "Tax, VAT; and more"
    page.location = "Room 1, Floor 2; Building\nB"
    page.save()
    booking.owner.first_name = "Alice; Ann"
    booking.owner.last_name = "O'Neil, Jr."
    booking.owner.save()
    booking.name = 'Carol "CC" Customer, PhD'

    data = booking_ics(booking)
    _, event = parse(data)

    assert b"LOCATION:Room 1\\, Floor 2\\; Building\\nB" in data
    assert event["LOCATION"] == "Room 1, Floor 2; Building\nB"
    assert event["SUMMARY"] == "Tax, VAT; and more with Alice; Ann O'Neil, Jr."
    assert event["ORGANIZER"].params["CN"] == "Alice; Ann O'Neil, Jr."
    assert event["ATTENDEE"].params["CN"] == 'Carol "CC" Customer, PhD'
    assert event["ATTENDEE"] == "mailto:carol@example.com"


def test_it_folds_a_long_description_at_75_octets(booking: Booking) -> None:
    description = (
        "Bring your passport, your last payslip; and a pen. Café ☕ déjà vu.\n" * 60
    ).strip()
    booking.page.description = description
    booking.page.save()

    data = booking_ics(booking)
    lines = data.split(b"\r\n")

    assert max(len(line) for line in lines) <= 75
    assert sum(line.startswith(b" ") for line in lines) > 50
    _, event = parse(data)
    assert event["DESCRIPTION"].startswith(description)
    assert manage_link(event["DESCRIPTION"]) == booking


def test_its_uid_is_the_bookings_and_stays_the_same(booking: Booking) -> None:
    _, first = parse(booking_ics(booking))
    _, second = parse(booking_ics(booking))

    assert first["UID"] == second["UID"] == booking.uid


def test_a_cancellation_after_a_reschedule_replaces_the_same_event(booking: Booking) -> None:
    _, original = parse(booking_ics(booking))

    # What the actions layer does on reschedule and cancel: new time, bumped sequence.
    booking.start += timedelta(days=1)
    booking.end += timedelta(days=1)
    booking.sequence += 1
    booking.save()
    _, moved = parse(booking_ics(booking))
    booking.status = BookingStatus.CANCELLED
    booking.sequence += 1
    booking.save()
    cal, cancelled = parse(booking_ics(booking, method="CANCEL"))

    assert moved["UID"] == original["UID"]
    assert moved["SEQUENCE"] > original["SEQUENCE"]
    assert moved["DTSTART"].dt == START + timedelta(days=1)
    assert cal["METHOD"] == "CANCEL"
    assert cancelled["STATUS"] == "CANCELLED"
    assert cancelled["UID"] == original["UID"]
    assert cancelled["SEQUENCE"] > moved["SEQUENCE"]
    assert manage_link(cancelled["DESCRIPTION"]) is None


def test_an_owner_without_a_full_name_is_named_by_username(booking: Booking) -> None:
    booking.owner.first_name = booking.owner.last_name = ""
    booking.owner.save()

    _, event = parse(booking_ics(booking))

    assert event["SUMMARY"] == "Intro call with alice"
    assert event["ORGANIZER"].params["CN"] == "alice"


def test_an_owner_without_an_email_leaves_the_app_as_organizer(booking: Booking, settings) -> None:
    settings.DEFAULT_FROM_EMAIL = "Scheduler <scheduler@contoso.example>"
    booking.owner.email = ""
    booking.owner.save()

    _, event = parse(booking_ics(booking))

    assert event["ORGANIZER"] == "mailto:scheduler@contoso.example"


def test_a_page_without_a_location_has_no_location(booking: Booking) -> None:
    booking.page.location = ""
    booking.page.save()

    _, event = parse(booking_ics(booking))

    assert "LOCATION" not in event


def test_it_refuses_an_unknown_method(booking: Booking) -> None:
    with pytest.raises(ValueError, match="REPLY"):
        booking_ics(booking, method="REPLY")  # type: ignore[arg-type]


def test_the_download_is_a_plain_event_with_a_reminder(booking: Booking) -> None:
    data = booking_ics(booking, method="PUBLISH")
    cal, event = parse(data)

    assert cal["METHOD"] == "PUBLISH"
    assert event["UID"] == booking.uid
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Intro call with Alice Smith"
    assert event["ORGANIZER"] == "mailto:alice@contoso.example"
    # RFC 5546: a PUBLISH has no attendees (with one, Outlook shows an invitation to answer).
    assert "ATTENDEE" not in event
    [alarm] = event.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY"
    assert alarm["TRIGGER"].dt == -timedelta(minutes=15)
    assert alarm["DESCRIPTION"] == "Intro call with Alice Smith"
    assert b"TRIGGER:-PT15M" in data.split(b"\r\n")


def test_the_emailed_invitation_has_no_reminder_of_its_own(booking: Booking) -> None:
    # The customer's calendar app applies its own default reminder to an invitation.
    for method in ("REQUEST", "CANCEL"):
        _, event = parse(booking_ics(booking, method=method))
        assert event.walk("VALARM") == []
        assert event["ATTENDEE"] == "mailto:carol@example.com"


def test_the_download_keeps_the_uid_and_sequence_of_a_rescheduled_booking(
    booking: Booking,
) -> None:
    booking.sequence = 2
    booking.save()
    _, emailed = parse(booking_ics(booking, method="REQUEST"))
    _, downloaded = parse(booking_ics(booking, method="PUBLISH"))

    assert downloaded["UID"] == emailed["UID"] == booking.uid
    assert downloaded["SEQUENCE"] == emailed["SEQUENCE"] == 2


def test_the_download_folds_and_escapes_like_the_invitation(booking: Booking) -> None:
    booking.page.title = "Tax, VAT; and more"
    booking.page.description = "Bring a pen; and your payslip, please. Café ☕\n" * 20
    booking.page.save()

    data = booking_ics(booking, method="PUBLISH")

    assert max(len(line) for line in data.split(b"\r\n")) <= 75
    assert b"SUMMARY:Tax\\, VAT\\; and more with Alice Smith" in data
    _, event = parse(data)
    assert event["SUMMARY"] == "Tax, VAT; and more with Alice Smith"
    [alarm] = event.walk("VALARM")
    assert alarm["DESCRIPTION"] == "Tax, VAT; and more with Alice Smith"


def test_a_title_that_names_the_owner_is_not_doubled_in_the_summary(booking: Booking) -> None:
    booking.page.title = "Intro call with Alice"
    booking.page.save()

    for method in ("REQUEST", "PUBLISH"):
        _, event = parse(booking_ics(booking, method=method))
        assert event["SUMMARY"] == "Intro call with Alice"

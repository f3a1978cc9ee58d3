"""The emails to customers, to page owners and about failing calendar writes."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from icalendar import Calendar

from bookings import emails
from bookings.models import (
    Booking,
    BookingPage,
    BookingStatus,
    EventWrite,
    Question,
    booking_for_token,
)

pytestmark = pytest.mark.django_db

# BST has begun in London (28 March 2027) and EDT in New York (14 March 2027).
START = datetime(2027, 3, 29, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _site(settings) -> None:
    settings.SITE_URL = "https://scheduler.contoso.example"
    settings.DEFAULT_FROM_EMAIL = "Scheduler <scheduler@contoso.example>"
    settings.ADMINS = [("Ops", "ops@contoso.example")]


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
        ask_phone=True,
    )


@pytest.fixture
def questions(page: BookingPage) -> tuple[Question, Question]:
    company = Question.objects.create(page=page, label="Company name", position=1)
    topic = Question.objects.create(page=page, label="What would you like to discuss?", position=2)
    return company, topic


@pytest.fixture
def booking(page: BookingPage, questions: tuple[Question, Question]) -> Booking:
    company, topic = questions
    return Booking.objects.create(
        page=page,
        owner=page.owner,
        start=START,
        end=START + timedelta(minutes=30),
        timezone="America/New_York",
        name="Carol O'Brien",
        email="carol@example.com",
        phone="+1 212 555 0100",
        notes="Running late\nmaybe",
        answers={company.key: "Fabrikam & Sons", topic.key: "<script>alert(1)</script>"},
    )


def manage_links(text: str) -> list[Booking | None]:
    """The bookings that the manage links in the text open (the token is timestamped, so
    the link is checked by following it, not by comparing strings)."""
    tokens = re.findall(r"https://scheduler\.contoso\.example/manage/([^/\s\"]+)/", text)
    return [booking_for_token(token) for token in tokens]


def only_email() -> EmailMultiAlternatives:
    assert len(mail.outbox) == 1
    return mail.outbox[0]


def html(message: EmailMultiAlternatives) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return content


def invite(message: EmailMultiAlternatives) -> tuple[Message, Calendar]:
    """The invite.ics part, as a mail client receives it after the message is sent."""
    received = email.message_from_bytes(message.message().as_bytes())
    [part] = [p for p in received.walk() if p.get_filename()]
    return part, Calendar.from_ical(part.get_payload(decode=True))


def test_the_confirmation_goes_to_the_customer_with_an_invite(booking: Booking) -> None:
    emails.send_confirmation(booking)

    message = only_email()
    assert message.to == ["carol@example.com"]
    assert message.from_email == "Scheduler <scheduler@contoso.example>"
    assert message.reply_to == ["alice@contoso.example"]
    assert message.subject == "Confirmed: Intro call with Alice Smith, Mon 29 Mar 2027, 04:00"
    for body in (message.body, html(message)):
        assert "Monday 29 March 2027, 04:00 to 04:30 (America/New_York, EDT)" in body
        assert "Room 4" in body
        assert manage_links(body) == [booking]
    assert "Hello Carol O'Brien," in message.body

    part, cal = invite(message)
    assert part.get_filename() == "invite.ics"
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    assert cal["METHOD"] == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert event["UID"] == booking.uid
    assert event["DTSTART"].dt == START


def test_the_cancellation_carries_a_cancel_invite_for_the_same_event(booking: Booking) -> None:
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_by = "staff"
    booking.cancel_reason = "Alice is ill"
    booking.sequence = 1
    booking.save()

    emails.send_cancellation(booking)

    message = only_email()
    assert message.to == ["carol@example.com"]
    assert message.subject == "Cancelled: Intro call with Alice Smith, Mon 29 Mar 2027, 04:00"
    for body in (message.body, html(message)):
        assert "has been cancelled by Alice Smith" in body
        assert "Alice is ill" in body
        assert "04:00 to 04:30 (America/New_York, EDT)" in body
        assert "https://scheduler.contoso.example/intro/" in body
        assert manage_links(body) == []
    part, cal = invite(message)
    assert part.get_param("method") == "CANCEL"
    assert cal["METHOD"] == "CANCEL"
    [event] = cal.walk("VEVENT")
    assert event["UID"] == booking.uid
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 1


def test_a_customer_who_cancelled_is_told_so_without_a_reason(booking: Booking) -> None:
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_by = "customer"
    booking.cancel_reason = "clash"
    booking.save()

    emails.send_cancellation(booking)

    message = only_email()
    assert "You cancelled your booking." in message.body
    assert "clash" not in message.body


def test_the_reschedule_shows_the_new_time_and_updates_the_event(booking: Booking) -> None:
    previous = booking.start
    booking.start += timedelta(days=1, hours=1)
    booking.end += timedelta(days=1, hours=1)
    booking.sequence = 1
    booking.save()

    emails.send_reschedule(booking, previous_start=previous)

    message = only_email()
    assert message.to == ["carol@example.com"]
    assert message.subject == (
        "Rescheduled: Intro call with Alice Smith, now Tue 30 Mar 2027, 05:00"
    )
    for body in (message.body, html(message)):
        assert "Tuesday 30 March 2027, 05:00 to 05:30 (America/New_York, EDT)" in body
        assert "Monday 29 March 2027, 04:00 to 04:30 (America/New_York, EDT)" in body
    _, cal = invite(message)
    assert cal["METHOD"] == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert event["UID"] == booking.uid
    assert event["SEQUENCE"] == 1
    assert event["DTSTART"].dt == START + timedelta(days=1, hours=1)


def test_the_owner_hears_of_a_booking_in_the_pages_zone(booking: Booking) -> None:
    emails.notify_owner(booking, "booked")

    message = only_email()
    assert message.to == ["alice@contoso.example"]
    assert message.reply_to == ["carol@example.com"]
    assert message.subject == "New booking: Carol O'Brien, Intro call, Mon 29 Mar 2027, 09:00"
    assert not message.attachments
    for body in (message.body, html(message)):
        assert "Monday 29 March 2027, 09:00 to 09:30 (Europe/London, BST)" in body
        assert "carol@example.com" in body
        assert "+1 212 555 0100" in body
        assert "Running late" in body
        assert "Company name" in body
        assert "What would you like to discuss?" in body
        assert "https://scheduler.contoso.example/bookings/" + str(booking.id) + "/" in body
    assert "Company name\nFabrikam & Sons" in message.body
    assert "Fabrikam &amp; Sons" in html(message)


def test_html_typed_by_the_customer_comes_out_escaped(booking: Booking) -> None:
    booking.name = "<b>Mallory</b>"
    booking.save()

    emails.notify_owner(booking, "booked")

    message = only_email()
    body = html(message)
    assert "<script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<b>Mallory</b>" not in body
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in body
    # The plain-text part shows what was typed, as typed.
    assert "<script>alert(1)</script>" in message.body


def test_answers_follow_the_pages_question_order(
    booking: Booking, questions: tuple[Question, Question]
) -> None:
    company, topic = questions
    company.position, topic.position = 3, 0
    company.save()
    topic.save()

    emails.notify_owner(booking, "booked")

    body = only_email().body
    assert body.index("What would you like to discuss?") < body.index("Company name")


def test_an_answer_to_a_deleted_question_is_still_shown(
    booking: Booking, questions: tuple[Question, Question]
) -> None:
    questions[0].delete()

    emails.notify_owner(booking, "booked")

    assert "Fabrikam & Sons" in only_email().body


def test_the_owner_hears_of_a_cancellation_and_its_reason(booking: Booking) -> None:
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_by = "customer"
    booking.cancel_reason = "Found another slot"
    booking.save()

    emails.notify_owner(booking, "cancelled")

    message = only_email()
    assert message.subject == "Cancelled: Carol O'Brien, Intro call, Mon 29 Mar 2027, 09:00"
    for body in (message.body, html(message)):
        assert "cancelled their booking" in body
        assert "Found another slot" in body


def test_the_owner_hears_of_a_reschedule_with_both_times(booking: Booking) -> None:
    previous = booking.start
    booking.start += timedelta(hours=2)
    booking.end += timedelta(hours=2)
    booking.save()

    emails.notify_owner(booking, "rescheduled", previous_start=previous)

    message = only_email()
    assert message.subject == "Rescheduled: Carol O'Brien, Intro call, Mon 29 Mar 2027, 11:00"
    assert "When:  Monday 29 March 2027, 11:00 to 11:30 (Europe/London, BST)" in message.body
    assert "Was:   Monday 29 March 2027, 09:00 to 09:30 (Europe/London, BST)" in message.body


def test_notify_owner_refuses_an_unknown_event(booking: Booking) -> None:
    with pytest.raises(ValueError, match="deleted"):
        emails.notify_owner(booking, "deleted")
    assert not mail.outbox


def test_an_owner_without_an_email_address_gets_nothing(booking: Booking) -> None:
    booking.page.owner.email = ""
    booking.page.owner.save()

    emails.notify_owner(booking, "booked")

    assert not mail.outbox


def test_a_newline_in_a_name_stays_out_of_the_subject_header(booking: Booking) -> None:
    booking.name = "Carol\nBcc: victim@example.com"
    booking.save()

    emails.notify_owner(booking, "booked")

    message = only_email()
    assert message.subject == (
        "New booking: Carol Bcc: victim@example.com, Intro call, Mon 29 Mar 2027, 09:00"
    )
    assert message.message()["Subject"] == message.subject
    assert message.recipients() == ["alice@contoso.example"]


def test_a_booking_across_midnight_shows_both_days(booking: Booking) -> None:
    booking.start = datetime(2027, 3, 30, 3, 30, tzinfo=UTC)  # 23:30 EDT on the 29th
    booking.end = booking.start + timedelta(hours=1)
    booking.save()

    emails.send_confirmation(booking)

    assert (
        "Monday 29 March 2027, 23:30 to Tuesday 30 March 2027, 00:30 (America/New_York, EDT)"
        in only_email().body
    )


def test_a_zone_without_a_lettered_abbreviation_shows_only_its_name(booking: Booking) -> None:
    booking.timezone = "Asia/Dubai"  # tzdata abbreviates it "+04"
    booking.save()

    emails.send_confirmation(booking)

    assert "Monday 29 March 2027, 12:00 to 12:30 (Asia/Dubai)" in only_email().body


def failing_write(booking: Booking, **fields: object) -> EventWrite:
    return EventWrite.objects.create(
        booking=booking,
        owner_email="bob@contoso.example",
        calendar_name="Consultations",
        role="main",
        state="failing",
        attempts=6,
        last_error="The connected mailbox no longer has permission to create events.",
        **fields,
    )


def test_a_failing_write_alerts_the_owner_and_the_admins(booking: Booking) -> None:
    emails.send_write_alert(failing_write(booking))

    message = only_email()
    assert message.to == ["alice@contoso.example", "ops@contoso.example"]
    assert message.subject == "Booking not saved to Exchange: bob@contoso.example / Consultations"
    for body in (message.body, html(message)):
        assert "bob@contoso.example / Consultations" in body
        assert "after 6 attempts" in body
        assert "no longer has permission to create events" in body
        assert "Editor or Delegate" in body
        assert "press Retry" in body
        assert "Monday 29 March 2027, 09:00 to 09:30 (Europe/London, BST)" in body
        assert f"https://scheduler.contoso.example/bookings/{booking.id}/" in body


def test_a_failing_removal_says_the_event_is_still_there(booking: Booking) -> None:
    emails.send_write_alert(failing_write(booking, desired="absent"))

    message = only_email()
    assert message.subject == (
        "Booking not removed from Exchange: bob@contoso.example / Consultations"
    )
    assert "could not be removed from the Exchange calendar" in message.body


def test_an_owner_who_is_also_an_admin_gets_one_alert(booking: Booking, settings) -> None:
    settings.ADMINS = [("Alice", "Alice@contoso.example")]

    emails.send_write_alert(failing_write(booking))

    assert only_email().to == ["alice@contoso.example"]


def test_a_title_that_names_the_owner_says_their_name_once(booking: Booking) -> None:
    booking.page.title = "Intro call with Alice"
    booking.page.save()

    emails.send_confirmation(booking)

    message = only_email()
    assert message.subject == "Confirmed: Intro call with Alice, Mon 29 Mar 2027, 04:00"
    for body in (message.body, html(message)):
        assert "Intro call with Alice" in body and "with Alice Smith" not in body
    [event] = invite(message)[1].walk("VEVENT")
    assert event["SUMMARY"] == "Intro call with Alice"


def test_the_confirmation_offers_web_calendar_links(booking: Booking) -> None:
    emails.send_confirmation(booking)

    message = only_email()
    google = "https://calendar.google.com/calendar/render?action=TEMPLATE&amp;text=Intro%20call"
    assert f'<a href="{google}' in html(message)
    for label in ("Google Calendar", "Outlook.com", "Office 365"):
        assert f">{label}</a>" in html(message)
    text = message.body
    assert (
        "Google Calendar: https://calendar.google.com/calendar/render?action=TEMPLATE&text=" in text
    )
    assert "Outlook.com: https://outlook.live.com/calendar/0/deeplink/compose?" in text
    assert "Office 365: https://outlook.office.com/calendar/0/deeplink/compose?" in text
    assert "&dates=20270329T080000Z/20270329T083000Z&" in text


def test_cancellations_and_reschedules_offer_no_calendar_links(booking: Booking) -> None:
    emails.send_reschedule(booking)
    booking.status = BookingStatus.CANCELLED
    booking.save()
    emails.send_cancellation(booking)

    for message in mail.outbox:
        for body in (message.body, html(message)):
            assert "calendar.google.com" not in body and "deeplink" not in body

"""Reminder emails (bookings/reminders.py): each at its time, exactly once, with a frozen
clock, across both DST days, for moved and cancelled bookings, and with two workers racing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail

from bookings import reminders
from bookings.models import Booking, BookingPage, BookingStatus, Reminder

pytestmark = pytest.mark.django_db

SPRING = datetime(2027, 3, 28, 8, 30, tzinfo=UTC)  # 09:30 in London, the day clocks go forward
AUTUMN = datetime(2027, 10, 31, 9, 30, tzinfo=UTC)  # 09:30 in London, the day they go back


@pytest.fixture
def page() -> BookingPage:
    owner = User.objects.create_user("olivia", "olivia@contoso.example", first_name="Olivia")
    return BookingPage.objects.create(
        owner=owner, slug="advice", title="Advice", timezone="Europe/London"
    )


def booking(page: BookingPage, start: datetime, *, made: datetime | None = None) -> Booking:
    return Booking.objects.create(
        page=page,
        owner=page.owner,
        start=start,
        end=start + timedelta(minutes=30),
        timezone="America/New_York",
        name="Ann Customer",
        email="ann@example.com",
        created=made or start - timedelta(days=7),
    )


def run(at: datetime) -> list[str]:
    """The beat task at `at`: the subjects of the emails it sent."""
    before = len(mail.outbox)
    reminders.send_due(now=at)
    return [m.subject for m in mail.outbox[before:]]


def test_a_day_and_an_hour_before_the_customer_is_reminded_once_each(page) -> None:
    start = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
    booking(page, start)
    assert run(start - timedelta(hours=24, minutes=1)) == []
    sent = run(start - timedelta(hours=24))
    assert len(sent) == 1 and sent[0].startswith("Reminder: Advice with Olivia")
    message = mail.outbox[-1]
    assert message.to == ["ann@example.com"]
    body = message.body
    # When, in the customer's own zone, and the link to change it.
    assert "in 1 day" in body and "10:00" in body and "America/New_York" in body
    assert "/manage/" in body
    assert run(start - timedelta(hours=23)) == []  # not again
    assert len(run(start - timedelta(hours=1))) == 1
    assert run(start - timedelta(minutes=30)) == []
    assert "in 1 hour" in mail.outbox[-1].body


@pytest.mark.parametrize("start", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
def test_a_day_before_is_twenty_four_hours_before_on_the_days_clocks_change(page, start) -> None:
    booking(page, start)
    assert run(start - timedelta(hours=24, seconds=1)) == []
    assert len(run(start - timedelta(hours=24))) == 1
    # 24 real hours, so not again when the wall clock says "a day before" an hour later.
    assert run(start - timedelta(hours=23)) == []
    assert len(run(start - timedelta(hours=1))) == 1
    assert Reminder.objects.filter(sent_at__isnull=False).count() == 2


def test_a_reminder_due_before_the_booking_was_made_is_not_sent(page) -> None:
    start = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
    booking(page, start, made=start - timedelta(hours=2))  # booked two hours ahead
    assert run(start - timedelta(hours=2)) == []  # the "day before" time had passed
    assert len(run(start - timedelta(hours=1))) == 1


def test_after_a_clock_jump_only_the_reminder_nearest_the_meeting_goes_out(page) -> None:
    start = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
    booking(page, start)
    # The beat didn't run for a day (or the clock jumped): both times have passed.
    sent = run(start - timedelta(minutes=50))
    assert len(sent) == 1 and "in 1 hour" in mail.outbox[-1].body
    assert Reminder.objects.get(minutes_before=24 * 60).skipped == "superseded"
    # The clock jumping back doesn't send anything twice.
    assert run(start - timedelta(hours=30)) == []
    assert run(start - timedelta(minutes=50)) == []


def test_a_moved_booking_is_reminded_for_its_new_time_and_a_cancelled_one_not_at_all(
    page,
) -> None:
    start = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
    moved = booking(page, start)
    cancelled = booking(page, start + timedelta(hours=2))
    assert len(run(start - timedelta(hours=22))) == 2  # both "a day before"
    later = start + timedelta(days=3)
    Booking.objects.filter(pk=moved.pk).update(
        start=later, end=later + timedelta(minutes=30), sequence=1
    )
    Booking.objects.filter(pk=cancelled.pk).update(status=BookingStatus.CANCELLED)
    # The old time's hour-before reminder would have been due: nothing for either.
    assert run(start - timedelta(minutes=30)) == []
    assert run(start + timedelta(hours=1, minutes=30)) == []
    # The new time gets its own reminders, the day before included.
    assert len(run(later - timedelta(hours=24))) == 1
    assert len(run(later - timedelta(hours=1))) == 1
    assert not Reminder.objects.filter(booking=cancelled, sent_at__isnull=True, skipped="")


def test_a_page_without_reminders_sends_none_and_the_owner_is_reminded_when_asked(page) -> None:
    start = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
    booking(page, start)
    page.reminder_minutes = []
    page.save()
    assert run(start - timedelta(minutes=30)) == []
    page.reminder_minutes = [60]
    page.remind_owner = True
    page.save()
    run(start - timedelta(minutes=30))
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.com", "olivia@contoso.example"]
    host = next(m for m in mail.outbox if m.to == ["olivia@contoso.example"])
    assert "Ann Customer" in host.body and "/manage/" not in host.body


def test_bad_reminder_times_are_refused_with_a_clear_error(page) -> None:
    from django.core.exceptions import ValidationError

    for value, words in [
        ([2], "between 5 minutes and 30 days"),
        ([60, 60], "different time"),
        (["60"], "whole minutes"),
        ([60, 120, 180, 240, 300, 360], "five"),
    ]:
        page.reminder_minutes = value
        with pytest.raises(ValidationError, match=words):
            page.full_clean()


@pytest.mark.postgres
def test_two_workers_racing_send_each_reminder_exactly_once(transactional_db, page) -> None:
    start = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
    for i in range(20):
        booking(page, start + timedelta(minutes=i))
    at = start - timedelta(minutes=40)
    barrier = threading.Barrier(4)

    def worker() -> None:
        from django.db import connection

        barrier.wait()
        try:
            reminders.send_due(now=at)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(mail.outbox) == 20
    assert Reminder.objects.filter(sent_at__isnull=False).count() == 20

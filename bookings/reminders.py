"""Reminder emails before a meeting: planned and sent by a beat task, each exactly once.

Rules, as a customer and a page owner would state them:
- Each of the page's reminder times (`BookingPage.reminder_minutes`, default a day and an
  hour before) sends the customer an email saying when the meeting is, in their own zone,
  with the manage link; with `remind_owner` whoever the meeting is with gets one too.
- "A day before" is 24 hours before, in UTC: on the day clocks change it is 23 or 25 hours
  by the wall clock, never a reminder at the wrong hour or twice.
- A reminder whose time came before the booking was made is not sent (booked 30 minutes
  ahead: no "in 24 hours" email). When several came due at once (the beat was stopped, or
  the clock jumped), only the one nearest the meeting goes out; the others are skipped.
- A cancelled booking gets no more reminders; a moved one gets them for its new time, even
  those already sent for the old time.

Exactly once: every reminder is a row (bookings.models.Reminder) with a unique key, so two
workers planning at once make one row; a worker sends it only after claiming it with a
conditional UPDATE (a lease, like calendar writes), and marks it sent. A worker that dies
after claiming leaves a lease that runs out, and the next run sends it. The one window left
is a worker dying between the mail server accepting the email and the row being marked:
that reminder goes out twice, which is the side the app errs on (a lost reminder is worse).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone, translation

from bookings import languages
from bookings.languages import ENGLISH
from bookings.models import (
    MAX_REMINDER_MINUTES,
    Booking,
    BookingMember,
    BookingStatus,
    Reminder,
    notice_words,
)

CUSTOMER = "customer"
HOST = "host"
LEASE = timedelta(minutes=5)


def plan(now: datetime) -> int:
    """Make the rows of every reminder due by `now` and not planned yet; returns how many."""
    horizon = now + timedelta(minutes=MAX_REMINDER_MINUTES)
    bookings = (
        Booking.objects.filter(status=BookingStatus.CONFIRMED, start__gt=now, start__lte=horizon)
        .select_related("page")
        .only("id", "start", "created", "page__reminder_minutes", "page__remind_owner")
    )
    rows = []
    for booking in bookings:
        due = [
            m
            for m in booking.page.reminder_minutes or []
            if booking.start - timedelta(minutes=m) <= now
            and booking.created <= booking.start - timedelta(minutes=m)
        ]
        if not due:
            continue
        nearest = min(due)
        recipients = [CUSTOMER, HOST] if booking.page.remind_owner else [CUSTOMER]
        for minutes in due:
            for recipient in recipients:
                rows.append(
                    Reminder(
                        booking=booking,
                        minutes_before=minutes,
                        start=booking.start,
                        recipient=recipient,
                        due_at=booking.start - timedelta(minutes=minutes),
                        skipped="" if minutes == nearest else "superseded",
                    )
                )
    # Rows planned by an earlier run (or another worker right now) stay as they are.
    created = Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)


def send_due(now: datetime | None = None) -> int:
    """Plan what is due, then claim and send each unsent reminder; returns how many went out."""
    now = now or timezone.now()
    plan(now)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    sent = 0
    pending = Reminder.objects.filter(
        sent_at__isnull=True, skipped="", due_at__lte=now
    ).values_list("pk", flat=True)
    for pk in list(pending):
        claimed = (
            Reminder.objects.filter(pk=pk, sent_at__isnull=True, skipped="")
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_until=now + LEASE, lease_holder=holder)
        )
        if not claimed:
            continue  # another worker has it
        reminder = Reminder.objects.select_related("booking__page__owner", "booking__owner").get(
            pk=pk
        )
        booking = reminder.booking
        why = _why_not(booking, reminder, now)
        if why:
            Reminder.objects.filter(pk=pk).update(skipped=why, lease_until=None)
            continue
        _send(reminder)
        Reminder.objects.filter(pk=pk).update(sent_at=timezone.now(), lease_until=None)
        sent += 1
    return sent


def _why_not(booking: Booking, reminder: Reminder, now: datetime) -> str:
    if booking.is_cancelled:
        return "cancelled"
    if booking.start != reminder.start:
        return "moved"
    if booking.start <= now:
        return "too late"
    return ""


def _send(reminder: Reminder) -> None:
    """The reminder email, built like the app's other emails (bookings.emails): the
    customer's in their zone with the manage link and the .ics again (METHOD:REQUEST, same
    UID and SEQUENCE: a calendar that has it already keeps one event); the host's in the
    page's zone with a link to the booking."""
    booking = reminder.booking
    # The customer's in the language they booked in; the host's in the staff's (English).
    language = languages.of_booking(booking) if reminder.recipient == CUSTOMER else ENGLISH
    with translation.override(language):
        _build_and_send(reminder)


def _build_and_send(reminder: Reminder) -> None:
    from bookings import emails

    booking = reminder.booking
    page = booking.page
    ahead = notice_words(reminder.minutes_before)
    if reminder.recipient == CUSTOMER:
        ctx = {
            **emails._booking_context(booking, booking.timezone),
            "ahead": ahead,
            "manage_url": booking.manage_url(),
            "for_host": False,
        }
        host = page.owner.email
        message = emails._message(
            "reminder", ctx, to=[booking.email], zone=booking.timezone,
            reply_to=[host] if host else [],
        )  # fmt: skip
        message.attach(emails.ics_attachment(booking, "REQUEST"))
    else:
        to = _host_emails(booking)
        if not to:
            return
        ctx = {
            **emails._booking_context(booking, page.timezone),
            "ahead": ahead,
            "booking_url": emails.staff_booking_url(booking),
            "for_host": True,
        }
        message = emails._message(
            "reminder", ctx, to=to, zone=page.timezone, reply_to=[booking.email]
        )
    message.send()


def _host_emails(booking: Booking) -> list[str]:
    """Whoever the meeting is with: the booking's owner and any attendee still attending."""
    attendees = BookingMember.objects.filter(booking=booking, declined_at__isnull=True)
    addresses = [booking.owner.email, *attendees.values_list("user__email", flat=True)]
    return list(dict.fromkeys(a for a in addresses if a))


@shared_task
def send_due_reminders() -> int:
    return send_due()

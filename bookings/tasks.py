"""Celery tasks: calendar writes with retries, emails, and the periodic sweeps.

Messages are acknowledged only after the task ran (CELERY_TASK_ACKS_LATE), and every write's
state is also in the database, so a worker killed mid-write loses nothing: the message is
redelivered, and the periodic sweep picks up anything whose message went missing.
"""

from __future__ import annotations

import smtplib
from datetime import datetime
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.dispatch import receiver

from bookings import writes
from bookings.models import Booking, EventWrite, WriteState
from calendars.connect import credentials_rotated


@shared_task(bind=True, max_retries=None)
def write_event(self: Any, write_id: int) -> None:
    delay = writes.perform(write_id)
    if delay is None:
        return
    if self.request.is_eager:
        # Eager mode (tests, demos without a worker) would retry on the spot, in a loop;
        # the periodic sweep picks the write up once its back-off is over.
        if delay == 0:
            writes.perform(write_id)
        return
    raise self.retry(countdown=delay)


def enqueue_writes(booking: Booking) -> None:
    for pk in booking.writes.exclude(state=WriteState.DONE).values_list("pk", flat=True):
        write_event.delay(pk)


@worker_ready.connect
def release_dead_leases(**kwargs: Any) -> None:
    """A worker starting on a host where one was killed mid-write picks those writes up now,
    not when their lease runs out."""
    for pk in writes.release_dead_leases():
        write_event.delay(pk)


@shared_task
def retry_due_writes() -> int:
    due = writes.due()
    for pk in due:
        write_event.delay(pk)
    return len(due)


# Customer and owner emails are separate tasks, each retried on its own: a failing mail
# server must neither lose the customer's confirmation nor send it twice.
_MAIL_RETRY = {
    "autoretry_for": (OSError, smtplib.SMTPException),
    "retry_backoff": 30,
    "retry_backoff_max": 300,  # below the broker's visibility timeout (settings)
    "max_retries": 30,
}


@shared_task(**_MAIL_RETRY)
def send_customer_email(booking_id: str, what: str, previous: str | None = None) -> None:
    from bookings import emails

    booking = Booking.objects.select_related("page", "page__owner").get(pk=booking_id)
    if what == "booked":
        emails.send_confirmation(booking)
    elif what == "link":
        emails.send_meeting_link(booking)
    elif what == "cancelled":
        emails.send_cancellation(booking)
    elif what == "rescheduled":
        previous_start = datetime.fromisoformat(previous) if previous else None
        emails.send_reschedule(booking, previous_start=previous_start)
    elif what == "reassigned":
        emails.send_reassigned(booking)


@shared_task(**_MAIL_RETRY)
def send_owner_email(
    booking_id: str, what: str, previous: str | None = None, user_id: int | None = None
) -> None:
    """The owner's notification; on a team page `user_id` names the member told."""
    from django.contrib.auth import get_user_model

    from bookings import emails

    booking = Booking.objects.select_related("page", "page__owner", "owner").get(pk=booking_id)
    users = get_user_model().objects
    to = users.filter(pk=user_id).first() if user_id is not None else None
    if user_id is not None and to is None:
        return  # the member's account is gone: nobody to tell
    if what == "reassigned":
        old = users.filter(pk=int(previous)).first() if previous and previous.isdigit() else None
        emails.notify_owner(booking, what, to=to, previous_owner=old)
        return
    previous_start = datetime.fromisoformat(previous) if previous else None
    emails.notify_owner(booking, what, previous_start=previous_start, to=to)


def send_booking_emails(booking_id: str, what: str, previous: str | None = None) -> None:
    """Queue the customer's email and the owner's notification of a change. `previous`: the
    old start (ISO 8601) of a "rescheduled" booking, the previous owner's user id of a
    "reassigned" one."""
    send_customer_email.delay(booking_id, what, previous)
    for user_id in owners_told(booking_id, what, previous):
        send_owner_email.delay(booking_id, what, previous, user_id)


def owners_told(booking_id: str, what: str, previous: str | None) -> list[int | None]:
    """Who gets the owner's notification: the page's owner (None) on a personal page; on a
    team page every member the booking is with (not those who declined), one task each,
    and for "reassigned" also the member who had it."""
    booking = Booking.objects.select_related("page").filter(pk=booking_id).first()
    if booking is None or not booking.page.is_team:
        return [None]
    told = list(
        booking.attendees.filter(declined_at__isnull=True)
        .order_by("-required", "id")
        .values_list("user_id", flat=True)
    )
    if not told:
        told = [booking.owner_id]
    if what == "reassigned" and previous and previous.isdigit() and int(previous) not in told:
        told.append(int(previous))
    return told


@receiver(credentials_rotated)
def retry_writes_after_rotation(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Writes that failed with the old password are retried at once with the new one."""
    failing = EventWrite.objects.filter(connection=connection).exclude(state=WriteState.DONE)
    failing.update(next_attempt_at=None, lease_until=None)
    for pk in failing.values_list("pk", flat=True):
        write_event.delay(pk)


@shared_task
def recheck_page_calendars() -> int:
    """Ask Exchange again what each page's calendars allow, so that a permission withdrawn in
    Outlook shows up on the page and the dashboard (CalendarRef.error / can_create) instead of
    surfacing only when a booking fails to write."""
    from bookings.models import BookingPage, PageCalendar
    from calendars import discovery
    from calendars.connect import connection_for

    checked = 0
    for page in BookingPage.objects.filter(active=True).select_related("owner"):
        connection = connection_for(page.owner)
        if connection is None:
            continue
        owners = set(
            PageCalendar.objects.filter(page=page)
            .exclude(role="")
            .values_list("calendar__owner_email", flat=True)
        )
        for owner in sorted(owners):
            discovery.discover(connection, owner)
            checked += 1
    return checked


@shared_task
def sync_back() -> dict[str, int]:
    """Two-way sync with Outlook: deleted or moved events, and conflicts (bookings.syncback)."""
    from bookings import syncback

    result = syncback.sync_back()
    return {
        "cancelled": len(result.cancelled),
        "moved": len(result.moved),
        "conflicts": len(result.conflicts),
        "reassigned": len(result.reassigned),
        "declined": len(result.declined),
        "errors": len(result.errors),
    }


@shared_task
def refresh_owner_working_hours() -> dict[str, int]:
    """Read again the Outlook working hours of pages that use them, once their copy is older
    than OWNER_HOURS_REFRESH_SECONDS (or belongs to someone no longer the main calendar's
    owner). A failure keeps the old copy, so the page goes on with the hours it knew."""
    from bookings import owner_hours

    result = {"read": 0, "failed": 0}
    for page in owner_hours.due():
        result["read" if owner_hours.refresh(page) else "failed"] += 1
    return result

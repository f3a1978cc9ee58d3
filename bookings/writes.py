"""Converging one EventWrite: make Exchange hold what the booking needs, record the outcome.

`perform` is what the Celery task runs. It is safe to run any number of times, from any
worker, in any order: a lease stops two runs of one write from overlapping, the event is found
by the booking's uid before anything is created, and a booking that changed while we wrote
simply leaves the write pending for one more run.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bookings.models import PERMISSION_HINT, Booking, EventWrite, WriteState
from calendars import events
from calendars.backends.base import CalendarTarget, EventData
from calendars.errors import ExchangeError, Throttled
from calendars.membership import write_refusal
from calendars.models import CalendarRole

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
# Who holds a lease: a worker restarted on the same host releases its dead predecessor's
# leases at once instead of waiting for them to run out (see tasks.release_dead_leases).
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
FIRST_RETRY_SECONDS = 5


def event_for(booking: Booking, write: EventWrite) -> EventData:
    page = booking.page
    lines = [
        f"Booked by {booking.name} <{booking.email}>",
    ]
    if booking.phone:
        lines.append(f"Phone: {booking.phone}")
    lines += [f"{label}: {answer}" for label, answer in booking.labelled_answers()]
    if booking.notes:
        lines += ["", "Notes:", booking.notes]
    lines += ["", f"Manage this booking: {settings.SITE_URL}/bookings/{booking.pk}/"]
    main = write.role == CalendarRole.MAIN
    invite = page.send_exchange_invitation and main
    return EventData(
        uid=booking.uid,
        subject=page.subject_for(booking.name),
        body="\n".join(lines),  # sent as a plain-text body: customer input is never markup
        location=page.location,
        start=booking.start,
        end=booking.end,
        timezone=page.timezone,
        invite_email=booking.email if invite else None,
        # The meeting lives on the main event; copies in additional calendars are plain.
        online_meeting=page.create_teams_meeting and main,
    )


def backoff(attempts: int, error: ExchangeError) -> float:
    """Seconds to wait before the next attempt: Exchange's own BackOffMilliseconds when it
    gave one, otherwise exponential from a few seconds up to WRITE_MAX_BACKOFF_SECONDS."""
    cap = settings.WRITE_MAX_BACKOFF_SECONDS
    if isinstance(error, Throttled) and error.back_off:
        return min(max(float(error.back_off), 1.0), cap)
    return float(min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), cap))


def perform(write_id: int, now: datetime | None = None) -> float | None:
    """Run the write once. Returns None when nothing more is needed now, else the seconds
    after which to try again (0 = at once: the booking changed while we were writing)."""
    now = now or timezone.now()
    claimed = (
        EventWrite.objects.filter(pk=write_id)
        .exclude(state=WriteState.DONE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE, lease_holder=HOLDER)
    )
    if not claimed:
        return None  # already done, or another worker holds it right now
    write = EventWrite.objects.select_related("booking__page", "booking__owner", "connection").get(
        pk=write_id
    )
    booking = write.booking
    seen = (write.desired, booking.sequence)
    try:
        if write.connection is None:
            raise ExchangeError(
                "The Exchange connection this calendar was reached through was removed. "
                "Reconnect, then retry."
            )
        target = CalendarTarget(owner_email=write.owner_email, folder_id=write.folder_id)
        # Asked on every attempt: a revoked membership, consent or grant stops writes at once.
        # Removing an event this app wrote stays allowed.
        if write.desired == "present":
            if refusal := write_refusal(
                write.member_user or booking.owner, write.connection, write.owner_email
            ):
                error = ExchangeError(refusal)
                error.code = "not_allowed"
                raise error
            event = event_for(booking, write)
            item_id = events.put(write.connection, target, event, write.item_id)
            if event.online_meeting:
                _remember_join_url(booking, events.join_url(write.connection, target, item_id))
        else:
            events.remove(write.connection, target, booking.uid, write.item_id)
            item_id = ""
    except ExchangeError as exc:
        return _failed(write, _explained(exc, write), now)
    except Exception as exc:  # a bug must not lose the write: record it and retry later
        log.exception("calendar write %s crashed", write_id)
        return _failed(write, ExchangeError(f"Unexpected error: {type(exc).__name__}"), now)

    with transaction.atomic():
        current = EventWrite.objects.select_for_update().get(pk=write_id)
        sequence = Booking.objects.values_list("sequence", flat=True).get(pk=booking.pk)
        current.item_id = item_id
        current.attempts = 0
        current.last_error = current.last_error_code = ""
        current.last_attempt_at = now
        current.next_attempt_at = None
        current.lease_until = None
        current.lease_holder = ""
        if (current.desired, sequence) == seen:
            current.state = WriteState.DONE
            current.done_at = timezone.now()
            current.written_version = sequence
            current.save()
            return None
        current.state = WriteState.PENDING
        current.save()
    return 0.0


def _remember_join_url(booking: Booking, url: str | None) -> None:
    """Keep the Teams link Exchange made with the event. The customer's confirmation went out
    when they booked; the first time a link exists it follows in its own email."""
    if not url or url == booking.online_meeting_url:
        return
    first = not booking.online_meeting_url
    Booking.objects.filter(pk=booking.pk).update(online_meeting_url=url)
    booking.online_meeting_url = url
    if first:
        from bookings import tasks

        transaction.on_commit(lambda: tasks.send_customer_email.delay(str(booking.pk), "link"))


def _explained(error: ExchangeError, write: EventWrite) -> ExchangeError:
    """The error in words that tell the owner what to fix for this calendar."""
    if error.code == "access_denied":
        via = write.connection.email if write.connection else "the connection"
        explained = ExchangeError(
            f"Exchange refused to change {write.target_label}: {via} needs Editor or "
            f"Delegate permission on this calendar. {PERMISSION_HINT}"
        )
        explained.code = error.code
        return explained
    return error


def _failed(write: EventWrite, error: ExchangeError, now: datetime) -> float:
    attempts = write.attempts + 1
    delay = backoff(attempts, error)
    EventWrite.objects.filter(pk=write.pk).update(
        state=WriteState.FAILING,
        attempts=attempts,
        last_error=error.message,
        last_error_code=error.code,
        last_attempt_at=now,
        next_attempt_at=now + timedelta(seconds=delay),
        lease_until=None,
        lease_holder="",
    )
    log.warning("calendar write %s failed (%s), attempt %s", write.pk, error.code, attempts)
    if attempts >= settings.WRITE_ALERT_AFTER_ATTEMPTS and write.alerted_at is None:
        from bookings import emails, webhooks

        write.refresh_from_db()
        emails.send_write_alert(write)
        EventWrite.objects.filter(pk=write.pk).update(alerted_at=now)
        webhooks.emit(
            write.booking,
            "booking.write_failed",
            calendar={"owner_email": write.owner_email, "name": write.calendar_name},
            error={"code": write.last_error_code or error.code, "attempts": attempts},
        )
    return delay


def due(now: datetime | None = None) -> list[int]:
    """Writes the periodic sweep should run: failing ones whose back-off is over, and pending
    ones nobody touched for a while (their task message was lost)."""
    now = now or timezone.now()
    stale = now - LEASE
    return list(
        EventWrite.objects.exclude(state=WriteState.DONE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, booking__created__lt=stale)
        )
        .values_list("pk", flat=True)
    )


def release_dead_leases() -> list[int]:
    """Leases held by processes on this host that no longer exist (a worker killed mid-write)
    are released; returns the writes to run again."""
    host = socket.gethostname()
    released = []
    held = EventWrite.objects.filter(
        lease_until__gt=timezone.now(), lease_holder__startswith=f"{host}:"
    ).values_list("pk", "lease_holder")
    for pk, holder in held:
        pid = int(holder.rsplit(":", 1)[1] or 0)
        if pid and not _alive(pid):
            EventWrite.objects.filter(pk=pk, lease_holder=holder).update(
                lease_until=None, lease_holder=""
            )
            released.append(pk)
    return released


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to judge
    return True

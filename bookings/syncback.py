"""Two-way sync: notice what the owner did in Outlook to the events the app wrote.

A periodic task (bookings.tasks.sync_back) asks Exchange, in one batched GetItem per main
calendar, where each upcoming booking's event is now:
- gone: the owner deleted it, so the booking is cancelled and the customer told;
- moved: the booking follows, and the customer gets the new time;
- overlapped by another busy event (the owner accepted a conflicting meeting): nothing is
  lost; the booking stays and staff see the conflict on the booking and the dashboard.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from bookings import actions
from bookings.models import Booking, BookingStatus, EventWrite, WriteState
from calendars import busy
from calendars.backends.base import CalendarTarget
from calendars.connect import backend_for
from calendars.errors import ExchangeError
from calendars.models import CalendarRef, CalendarRole

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    cancelled: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def sync_back(now: datetime | None = None) -> SyncResult:
    now = now or timezone.now()
    result = SyncResult()
    writes = (
        EventWrite.objects.filter(
            role=CalendarRole.MAIN,
            state=WriteState.DONE,
            desired="present",
            booking__status=BookingStatus.CONFIRMED,
            booking__start__gt=now,
        )
        .exclude(item_id="")
        .select_related("booking", "connection")
    )
    groups: dict[tuple[int, str, str], list[EventWrite]] = defaultdict(list)
    for write in writes:
        if write.connection is not None:
            groups[(write.connection_id, write.owner_email, write.folder_id)].append(write)

    for (_, owner, folder), group in groups.items():
        connection = group[0].connection
        assert connection is not None
        target = CalendarTarget(owner_email=owner, folder_id=folder)
        try:
            times = backend_for(connection).event_times(target, [w.item_id for w in group])
        except ExchangeError as exc:
            result.errors.append(f"{owner}: {exc.message}")
            continue
        for write in group:
            booking = write.booking
            now_at = times.get(write.item_id)
            if now_at is None:
                actions.cancel_from_exchange(booking)
                result.cancelled.append(str(booking.pk))
            elif now_at != (booking.start, booking.end):
                actions.move_from_exchange(booking, *now_at)
                result.moved.append(str(booking.pk))
        _check_conflicts(group, result)
    return result


def _check_conflicts(group: list[EventWrite], result: SyncResult) -> None:
    """Mark bookings whose time another busy event in the main calendar now overlaps."""
    # Re-read once: the loop above may just have cancelled or moved some of them.
    bookings = list(
        Booking.objects.filter(pk__in=[w.booking_id for w in group], status=BookingStatus.CONFIRMED)
    )
    if not bookings:
        return
    write = group[0]
    ref = CalendarRef.objects.filter(pk=write.calendar_id).first()
    if ref is None or write.connection is None:
        return
    start = min(b.start for b in bookings)
    end = max(b.end for b in bookings)
    try:
        found = busy.busy_intervals(write.connection, [ref], start, end, fresh=True)
    except ExchangeError as exc:
        result.errors.append(f"{write.owner_email}: {exc.message}")
        return
    intervals = found.intervals.get(ref.pk, [])
    for booking in bookings:
        own = (booking.start, booking.end)
        overlapping = [
            i
            for i in intervals
            if i.status != "Free" and i.start < booking.end and i.end > booking.start
        ]
        # Our own event is one of them; anything more is a conflict.
        others = list(overlapping)
        for i in overlapping:
            if (i.start, i.end) == own:
                others.remove(i)
                break
        conflict = ""
        if others:
            first = min(others, key=lambda i: i.start)
            conflict = (
                f"Another {first.status.lower()} event in {write.target_label} overlaps this "
                "booking. The booking stands; move or decline one of them."
            )
            result.conflicts.append(str(booking.pk))
        if booking.conflict != conflict:
            Booking.objects.filter(pk=booking.pk).update(conflict=conflict)

"""Free slots of a booking page: gathers rules, busy time and bookings, then asks the pure
function in bookings.availability. The only I/O is here: the database and calendars.busy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from bookings.availability import Booked, Interval, Rules, free_slots
from bookings.models import Booking, BookingPage, BookingStatus
from calendars import busy
from calendars.connect import connection_for
from calendars.errors import ExchangeError
from calendars.models import CalendarRef


class AvailabilityUnknown(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SlotsResult:
    slots: list[Interval]
    stale: bool = False  # busy time came from an older cache because Exchange is unreachable
    # The blocking busy intervals used, so a caller can re-run the rules against the same
    # Exchange answer (the re-check inside the booking lock) without asking Exchange again.
    busy: list[Interval] | None = None


UNKNOWN = (
    "We can't check this calendar's availability right now. Please try again in a few minutes."
)


def rules_for(page: BookingPage) -> Rules:
    weekly: dict[int, list] = {}
    for hours in page.weekly_hours.all():
        weekly.setdefault(hours.weekday, []).append((hours.start, hours.end))
    return Rules(
        zone=page.timezone,
        duration=timedelta(minutes=page.duration_minutes),
        interval=timedelta(minutes=page.interval_minutes),
        weekly=weekly,
        overrides={o.date: o.ranges for o in page.overrides.all()},
        buffer_before=timedelta(minutes=page.buffer_before_minutes),
        buffer_after=timedelta(minutes=page.buffer_after_minutes),
        min_notice=timedelta(minutes=page.min_notice_minutes),
        window_days=page.window_days,
        max_per_day=page.max_per_day,
        max_per_week=page.max_per_week,
    )


def _utc_midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def busy_calendars(page: BookingPage) -> list[CalendarRef]:
    """Every calendar with a role: busy time is read from booking calendars too."""
    return [pc.calendar for pc in page.page_calendars.exclude(role="").select_related("calendar")]


def slots_for(
    page: BookingPage,
    start: datetime,
    end: datetime,
    *,
    ignore_booking: Booking | None = None,
    fresh: bool = False,
    now: datetime | None = None,
    busy_intervals: list[Interval] | None = None,
) -> SlotsResult:
    """Free slots starting in [start, end). Raises AvailabilityUnknown rather than guess."""
    now = now or timezone.now()
    rules = rules_for(page)
    # Nothing outside [now + notice, end of the booking window] can be offered, so don't ask
    # Exchange about it.
    lo = max(start, now + rules.min_notice)
    hi = min(end, now + timedelta(days=rules.window_days + 1))
    if lo >= hi:
        return SlotsResult([])
    margin = rules.buffer_before + rules.buffer_after + rules.duration
    # Whole UTC days: "now" moves every second, and a range that moved with it would never
    # hit the cache; whole days also let visitors in different zones share one answer.
    busy_from = _utc_midnight(lo - margin)
    busy_to = _utc_midnight(hi + margin) + timedelta(days=1)

    blocking = set(page.blocking_statuses)
    intervals: list[Interval] = []
    stale = False
    calendars = busy_calendars(page) if busy_intervals is None else []
    if busy_intervals is not None:
        intervals = list(busy_intervals)
    elif calendars:
        connection = connection_for(page.owner)
        if connection is None:
            raise AvailabilityUnknown(UNKNOWN)
        try:
            result = busy.busy_intervals(connection, calendars, busy_from, busy_to, fresh=fresh)
        except ExchangeError as exc:
            raise AvailabilityUnknown(UNKNOWN) from exc
        stale = result.stale
        for found in result.intervals.values():
            intervals.extend((b.start, b.end) for b in found if b.status in blocking)

    # The owner's bookings on every page block time; a week either side covers the limits.
    bookings = Booking.objects.filter(
        owner=page.owner,
        status=BookingStatus.CONFIRMED,
        start__lt=hi + timedelta(days=8),
        end__gt=lo - timedelta(days=8),
    )
    if ignore_booking is not None:
        bookings = bookings.exclude(pk=ignore_booking.pk)
    booked = [
        Booked(b.start, b.end, same_page=b.page_id == page.pk)
        for b in bookings.only("start", "end", "page_id")
    ]
    return SlotsResult(
        free_slots(rules, busy=intervals, booked=booked, now=now, start=lo, end=hi),
        stale=stale,
        busy=intervals,
    )

"""A page's weekly hours taken from its owner's Outlook working hours.

With `BookingPage.use_owner_working_hours` on, the page's slots come from the work hours that
the owner of its main booking calendar set in Outlook (Exchange returns them with free/busy, so
free/busy permission is enough) instead of the page's own weekly hours; date overrides still
apply. The hours are wall-clock times in the owner's zone on each of the owner's dates, so a
New York owner's 09:00-17:00 is 14:00-22:00 in London, and 13:00-21:00 in the weeks of March
when only the US has moved its clocks (bookings.availability converts them per date).

The page keeps a copy of what Exchange said (`owner_hours*` fields): slots never wait for
Exchange, and when Exchange can't be reached the last copy goes on being used and the editor
shows when it was read and why reading again failed. The copy is read again when the option
is turned on, when the main calendar's owner changes, and by a periodic task
(`bookings.tasks.refresh_owner_working_hours`) once it is older than
OWNER_HOURS_REFRESH_SECONDS.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_noop

from bookings.models import WEEKDAYS, BookingPage, PageCalendar
from calendars.backends.base import WorkingHours
from calendars.connect import backend_for, connection_for
from calendars.errors import ExchangeError
from calendars.models import CalendarRole

log = logging.getLogger(__name__)
DASH = "\u2013"


def main_owner(page: BookingPage) -> str:
    """Whose working hours the page uses: the owner of its main booking calendar ("" when the
    page has none yet)."""
    main = page.main_calendar()
    return main.calendar.owner_email.lower() if main else ""


def weekly(page: BookingPage) -> dict[int, list[tuple[time, time]]]:
    """The copy as weekly hours (weekday -> ranges), in `page.owner_hours_zone`."""
    days: dict[int, list[tuple[time, time]]] = {}
    for period in page.owner_hours or []:
        start, end = time.fromisoformat(period["start"]), time.fromisoformat(period["end"])
        for day in period["weekdays"]:
            days.setdefault(int(day), []).append((start, end))
    return {day: sorted(ranges) for day, ranges in days.items()}


def as_json(hours: WorkingHours) -> list[dict[str, Any]]:
    return [
        {
            "weekdays": list(p.weekdays),
            "start": p.start.strftime("%H:%M"),
            "end": p.end.strftime("%H:%M"),
        }
        for p in hours.periods
    ]


def refresh(page: BookingPage) -> bool:
    """Read the main calendar owner's working hours from Exchange into the page's copy.
    True when read; otherwise the old copy stays and `owner_hours_error` says why."""
    email = main_owner(page)
    connection = connection_for(page.owner)
    error = ""
    hours: WorkingHours | None = None
    # Stored in English in the page's owner_hours_error, translated when shown
    # (BookingPage.owner_hours_error_text).
    if not email:
        error = gettext_noop("Choose a main booking calendar: its owner's working hours are used.")
    elif connection is None:
        error = gettext_noop("Connect to Exchange first: the working hours are read from it.")
    else:
        # The zone Exchange describes only by its rules is named after the last reading's or
        # the page's when those keep the rules (calendars/backends/ews_hours.py).
        hints = [page.owner_hours_zone if page.owner_hours_email == email else "", page.timezone]
        try:
            hours = backend_for(connection).working_hours(email, zone_hints=hints)
        except ExchangeError as exc:
            # Exchange's own words are in it: shown as stored (not in the catalog).
            error = gettext_noop("Reading them from Exchange failed: %(error)s") % {
                "error": exc.message
            }
        except NotImplementedError:
            error = gettext_noop(
                "This connection can't read working hours from the calendar server."
            )
    if error:
        log.info("working hours of page %s not read: %s", page.pk, error)
        _store(page, owner_hours_error=error[:500])
        return False
    _store(
        page,
        owner_hours=as_json(hours) if hours else [],
        owner_hours_zone=hours.zone if hours else "",
        owner_hours_zone_note=(hours.zone_note if hours else "")[:300],
        owner_hours_email=email,
        owner_hours_read_at=timezone.now(),
        owner_hours_error="",
    )
    return True


def _store(page: BookingPage, **fields: Any) -> None:
    # An UPDATE of these columns only, so a staff member saving the page meanwhile loses
    # nothing; the page row is read on every slots request, so no schedule_version move.
    BookingPage.objects.filter(pk=page.pk).update(**fields)
    for name, value in fields.items():
        setattr(page, name, value)


def refresh_if_needed(page: BookingPage) -> bool | None:
    """Refresh when the option is on and the copy is missing or someone else's (the main
    calendar changed); None when nothing needed doing."""
    if not page.use_owner_working_hours:
        return None
    if page.owner_hours_read_at is not None and page.owner_hours_email == main_owner(page):
        return None
    return refresh(page)


def due(now: datetime | None = None) -> list[BookingPage]:
    """Pages whose copy is older than OWNER_HOURS_REFRESH_SECONDS, missing, or of someone who
    no longer owns the main calendar."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.OWNER_HOURS_REFRESH_SECONDS)
    main = PageCalendar.objects.filter(page=OuterRef("pk"), role=CalendarRole.MAIN).values(
        "calendar__owner_email"
    )[:1]
    return list(
        BookingPage.objects.filter(use_owner_working_hours=True, active=True)
        .annotate(main_owner=Lower(Subquery(main)))
        .exclude(main_owner=None)
        .filter(
            Q(owner_hours_read_at__isnull=True)
            | Q(owner_hours_read_at__lt=cutoff)
            | ~Q(owner_hours_email=F("main_owner"))
        )
        .select_related("owner")
    )


def describe(page: BookingPage, *, in_zone: str | None = None) -> list[tuple[str, str]]:
    """The copy as (days, hours) lines for the editor, in the owner's zone or, with `in_zone`,
    converted there on the coming week (the conversion moves with DST, so that is "now")."""
    ranges = weekly(page)
    owner_zone = page.owner_hours_zone or "UTC"
    if in_zone and in_zone != owner_zone:
        ranges = _converted(ranges, owner_zone, in_zone)
    lines: list[tuple[str, str]] = []
    for day in range(7):
        text = ", ".join(f"{_hhmm(s)}{DASH}{_hhmm(e, end=True)}" for s, e in ranges.get(day, []))
        if text:
            lines.append((WEEKDAYS[day], text))
    return lines


def _hhmm(t: time, *, end: bool = False) -> str:
    return "24:00" if end and t == time(0) else t.strftime("%H:%M")


def _converted(
    ranges: dict[int, list[tuple[time, time]]], from_zone: str, to_zone: str
) -> dict[int, list[tuple[time, time]]]:
    source, target = ZoneInfo(from_zone), ZoneInfo(to_zone)
    today = timezone.now().astimezone(source).date()
    out: dict[int, list[tuple[time, time]]] = {}
    for offset in range(7):
        day = today + timedelta(days=offset)
        for start, end in ranges.get(day.weekday(), []):
            lo = datetime.combine(day, start, source).astimezone(target)
            end_day = day + timedelta(days=1) if end == time(0) else day
            hi = datetime.combine(end_day, end, source).astimezone(target)
            # A range that crosses the page's midnight shows on both of its days.
            while lo.date() < hi.date():
                out.setdefault(lo.weekday(), []).append((lo.time(), time(0)))
                lo = datetime.combine(lo.date() + timedelta(days=1), time(0), target)
            if lo < hi:
                out.setdefault(lo.weekday(), []).append((lo.time(), hi.time()))
    return {day: sorted(set(r)) for day, r in out.items()}

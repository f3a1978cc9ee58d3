"""Every change to what a page's slots are computed from, beyond the page row itself, moves
the page's schedule_version, so no process keeps serving an old schedule (bookings/slots.py).

Saves and deletes made one row at a time come through these receivers (forms, the staff API,
the admin, cascades). Bulk writes send no signals: BookingPage.replace_schedule, the one
place that makes them, moves the version itself.

Bookings and attendances move their people's generations the same way (bookings.taken), so
the slots API's reused bookings are never older than the last change made here; the one
bulk update of an attendance (a decline, bookings.team) moves it itself.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from bookings import taken
from bookings.models import (
    Booking,
    BookingMember,
    BookingPage,
    DateOverride,
    EventWrite,
    PageCalendar,
    TeamMember,
    WeeklyHours,
)
from calendars.backends.base import Backend, CalendarTarget
from calendars.errors import ExchangeError
from calendars.models import CalendarRef
from calendars.to_graph import MoveReport, connection_moved


@receiver([post_save, post_delete], sender=WeeklyHours)
@receiver([post_save, post_delete], sender=DateOverride)
@receiver([post_save, post_delete], sender=PageCalendar)
def _page_schedule_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    BookingPage.schedule_changed(instance.page_id)


@receiver([post_save, post_delete], sender=CalendarRef)
def _calendar_changed(sender: Any, instance: CalendarRef, **kwargs: Any) -> None:
    # Rediscovery can change how a calendar is read (primary or not, its folder id).
    BookingPage.schedule_changed(
        PageCalendar.objects.filter(calendar_id=instance.pk).values("page_id")
    )


@receiver(connection_moved)
def _writes_follow_the_move(
    sender: Any,
    connection: Any,
    backend: Backend,
    folder_map: dict[tuple[str, str], str],
    report: MoveReport,
    **kwargs: Any,
) -> None:
    """A connection moved from EWS to Graph: its event writes get Graph's calendar and event
    ids, the events found again by the booking's uid. One not found (or not reachable now)
    keeps no stale EWS id: its next write looks it up by uid before creating anything."""
    writes = EventWrite.objects.filter(connection=connection).select_related("booking")
    for write in writes:
        folder = folder_map.get((write.owner_email, write.folder_id), write.folder_id)
        new_id = ""
        if write.item_id:
            try:
                target = CalendarTarget(owner_email=write.owner_email, folder_id=folder)
                new_id = backend.find_event(target, write.booking.uid) or ""
            except ExchangeError:
                new_id = ""
            if new_id:
                report.events_found += 1
            else:
                report.events_left_to_next_write += 1
        EventWrite.objects.filter(pk=write.pk).update(folder_id=folder, item_id=new_id)


@receiver([post_save, post_delete], sender=TeamMember)
def _team_changed(sender: Any, instance: TeamMember, **kwargs: Any) -> None:
    # Who is on the team, their tiers, weights, limits and own hours are in the schedule.
    BookingPage.schedule_changed(instance.page_id)


@receiver([post_save, post_delete], sender=Booking)
def _bookings_changed(sender: Any, instance: Booking, created: bool = False, **kwargs: Any) -> None:
    # Whose time a booking takes: its owner's and its attendees' (bookings.taken). A new
    # booking has no attendees yet; theirs come through their own rows below.
    users = [instance.owner_id]
    if not created and instance.pk is not None:
        users += BookingMember.objects.filter(booking_id=instance.pk).values_list(
            "user_id", flat=True
        )
    taken.changed(users)


@receiver([post_save, post_delete], sender=BookingMember)
def _attendance_changed(sender: Any, instance: BookingMember, **kwargs: Any) -> None:
    taken.changed([instance.user_id])

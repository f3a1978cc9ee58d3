"""Every change to what a page's slots are computed from, beyond the page row itself, moves
the page's schedule_version, so no process keeps serving an old schedule (bookings/slots.py).

Saves and deletes made one row at a time come through these receivers (forms, the staff API,
the admin, cascades). Bulk writes send no signals: BookingPage.replace_schedule, the one
place that makes them, moves the version itself.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from bookings.models import BookingPage, DateOverride, PageCalendar, WeeklyHours
from calendars.models import CalendarRef


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

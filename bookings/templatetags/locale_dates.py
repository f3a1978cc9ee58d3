"""Dates as a reader of the active language writes them (bookings.languages):
{{ booking.start|long_day }} is "Monday 4 January 2027", "Montag, 4. Januar 2027" or "lundi 4
janvier 2027"; |day_month leaves out the year. Inside {% timezone %} the value is first
converted to that zone, as Django's |date does."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils.dates import WEEKDAYS

from bookings import languages

register = template.Library()


@register.filter(expects_localtime=True)
def long_day(value: date | datetime | None) -> str:
    return languages.long_day(value) if value else ""


@register.filter(expects_localtime=True)
def day_month(value: date | datetime | None) -> str:
    return languages.day_month(value) if value else ""


@register.simple_tag
def weekday_names() -> list[str]:
    """Monday to Sunday in the active language (Django's own translations of the names)."""
    return [str(WEEKDAYS[i]) for i in range(7)]

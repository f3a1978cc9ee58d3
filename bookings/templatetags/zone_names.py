"""`{{ booking.timezone|zone_name }}`: a zone as the customer's pages name it ("New York
time"), not its IANA name."""

from __future__ import annotations

from django import template

from bookings import zones

register = template.Library()


@register.filter
def zone_name(name: str) -> str:
    canonical = zones.canonical(name or "") or name
    return zones.zone_for(canonical).time_name

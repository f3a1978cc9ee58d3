"""The .ics file attached to a customer's emails (iTIP, RFC 5546).

One VEVENT whose UID is the booking's own, so a calendar app that imported the confirmation
updates that same entry when a reschedule (same UID, higher SEQUENCE) or a cancellation
(METHOD:CANCEL) arrives, instead of adding a second one. Times are written in UTC with a "Z":
the simplest form, needing no VTIMEZONE, that Outlook, Google and Apple all import as-is.
Escaping and line folding are left to the icalendar library.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils.timezone import now as utcnow
from icalendar import Calendar, Event, vCalAddress

from bookings.models import Booking

PRODID = "-//Exchange Scheduler//Bookings//EN"
METHODS = ("REQUEST", "CANCEL")


def booking_ics(booking: Booking, method: Literal["REQUEST", "CANCEL"] = "REQUEST") -> bytes:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    page, owner = booking.page, booking.owner

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)

    event = Event()
    event.add("uid", booking.uid)
    event.add("sequence", booking.sequence)
    event.add("dtstamp", _utc(utcnow()))
    event.add("dtstart", _utc(booking.start))
    event.add("dtend", _utc(booking.end))
    event.add("summary", f"{page.title} with {page.owner_name}")
    if page.location:
        event.add("location", page.location)
    event.add("description", _description(booking, method))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")

    organizer = vCalAddress(f"mailto:{_organizer_email(owner)}")
    organizer.params["CN"] = page.owner_name
    event.add("organizer", organizer)

    # The customer has already accepted by booking: RSVP=FALSE keeps calendar apps from
    # offering Accept/Decline buttons that would mail a reply nobody reads.
    attendee = vCalAddress(f"mailto:{booking.email}")
    attendee.params["CN"] = booking.name
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "ACCEPTED"
    attendee.params["RSVP"] = "FALSE"
    event.add("attendee", attendee)

    cal.add_component(event)
    return cal.to_ical()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _description(booking: Booking, method: str) -> str:
    parts = []
    if booking.page.description:
        parts.append(booking.page.description)
    if method == "CANCEL":
        parts.append("This booking has been cancelled.")
    else:
        parts.append(f"To cancel or reschedule: {booking.manage_url()}")
    return "\n\n".join(parts)


def _organizer_email(owner: AbstractBaseUser) -> str:
    # ORGANIZER is required in an iTIP request; a staff account without an email address
    # falls back to the app's own sender rather than producing an invalid file.
    email = getattr(owner, "email", "")
    return email or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]

"""The booking as an .ics file: attached to the customer's emails, and downloaded from the
confirmation and manage pages.

One VEVENT whose UID is the booking's own, so a calendar app that imported the confirmation
updates that same entry when a reschedule (same UID, higher SEQUENCE) or a cancellation
(METHOD:CANCEL) arrives, instead of adding a second one. Times are written in UTC with a "Z":
the simplest form, needing no VTIMEZONE, that Outlook, Google and Apple all import as-is.
Escaping and line folding are left to the icalendar library.

Emails carry an iTIP invitation (METHOD:REQUEST, RFC 5546) with the customer as attendee.
The download is a plain event (METHOD:PUBLISH, which has no attendees) with a reminder:
opened from a browser, a REQUEST makes Outlook offer to answer an invitation the customer
never received, where PUBLISH just adds the event to their calendar.

A team booking names who the meeting is with: its SUMMARY ("Intro call with Ada and Ben"),
its ORGANIZER (the assigned member, or the collective meeting's organiser: Booking.owner, as
for a personal page) and, in the invitations of a collective meeting, every member attending
as an ATTENDEE beside the customer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils.timezone import now as utcnow
from django.utils.translation import gettext as _
from icalendar import Alarm, Calendar, Event, vCalAddress

from bookings import team_public
from bookings.models import Booking, BookingMember, TeamMode

PRODID = "-//Exchange Scheduler//Bookings//EN"
METHODS = ("REQUEST", "CANCEL", "PUBLISH")
# How long before the start the downloaded event reminds the customer.
REMINDER = timedelta(minutes=15)


def booking_ics(
    booking: Booking, method: Literal["REQUEST", "CANCEL", "PUBLISH"] = "REQUEST"
) -> bytes:
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
    title = team_public.meeting_title(booking)
    event.add("summary", title)
    if page.location:
        event.add("location", page.location)
    elif booking.online_meeting_url:
        event.add("location", _("Microsoft Teams meeting"))
    if booking.online_meeting_url:
        # RFC 7986's URL plus the property Outlook reads to show its "Join" button.
        event.add("url", booking.online_meeting_url)
        event.add("x-microsoft-skypeteamsmeetingurl", booking.online_meeting_url)
    event.add("description", description(booking, cancelled=method == "CANCEL"))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")

    organizer = vCalAddress(f"mailto:{_organizer_email(owner)}")
    organizer.params["CN"] = team_public.contact_name(booking)
    event.add("organizer", organizer)

    if method == "PUBLISH":
        event.add_component(_reminder(title))
    else:
        event.add("attendee", _attendee(booking))
        if page.team_mode == TeamMode.COLLECTIVE:
            for member in team_public.attending(booking):
                if member.user.email:
                    event.add("attendee", _member_attendee(member))

    cal.add_component(event)
    return cal.to_ical()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _attendee(booking: Booking) -> vCalAddress:
    # The customer has already accepted by booking: RSVP=FALSE keeps calendar apps from
    # offering Accept/Decline buttons that would mail a reply nobody reads.
    attendee = vCalAddress(f"mailto:{booking.email}")
    attendee.params["CN"] = booking.name
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "ACCEPTED"
    attendee.params["RSVP"] = "FALSE"
    return attendee


def _member_attendee(member: BookingMember) -> vCalAddress:
    # Already in the meeting (the booking was made for their free time): ACCEPTED, and no
    # RSVP asked of the customer's calendar on their behalf.
    attendee = vCalAddress(f"mailto:{member.user.email}")
    attendee.params["CN"] = member.name
    attendee.params["ROLE"] = "REQ-PARTICIPANT" if member.required else "OPT-PARTICIPANT"
    attendee.params["PARTSTAT"] = "ACCEPTED"
    attendee.params["RSVP"] = "FALSE"
    return attendee


def _reminder(title: str) -> Alarm:
    # RFC 5545 3.6.6: a DISPLAY alarm needs a DESCRIPTION, the text the reminder shows.
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -REMINDER)
    alarm.add("description", title)
    return alarm


def description(booking: Booking, *, cancelled: bool = False, limit: int = 0) -> str:
    """The event's notes: the page's description (cut to `limit` characters when given) and
    the manage link; the .ics DESCRIPTION and the details of the "add to calendar" links."""
    parts = []
    if booking.page.is_team:
        names = team_public.join_names(team_public.with_names(booking))
        parts.append(_("With %(names)s.") % {"names": names})
    if text := booking.page.description:
        if limit and len(text) > limit:
            text = text[: limit - 1].rstrip() + "…"
        parts.append(text)
    if cancelled:
        parts.append(_("This booking has been cancelled."))
    else:
        if booking.online_meeting_url:
            join = _("Join the Microsoft Teams meeting: %(url)s")
            parts.append(join % {"url": booking.online_meeting_url})
        parts.append(_("To cancel or reschedule: %(url)s") % {"url": booking.manage_url()})
    return "\n\n".join(parts)


def _organizer_email(owner: AbstractBaseUser) -> str:
    # ORGANIZER is required in an iTIP request; a staff account without an email address
    # falls back to the app's own sender rather than producing an invalid file.
    email = getattr(owner, "email", "")
    return email or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]

"""The emails the app sends: to customers about their booking, to page owners about bookings
on their pages, and to owners and admins when a calendar write keeps failing.

Each email is three templates under templates/emails/: <prefix>-subject.txt,
<prefix>-body.txt and <prefix>-body.html. The subject and text part are rendered without
autoescaping (they are not HTML); the HTML part is autoescaped, so whatever a customer typed
comes out as text. Times are shown in the reader's zone: the customer's zone in their emails,
the page's zone in the owner's, always with the zone's name.

Only the booking's own data goes into an email, never anything read from an Exchange event.
Sending errors propagate: the caller (a task) decides whether to retry.

Team bookings: the customer's emails name who the meeting is with (bookings.team_public), and
each member it is with gets the owner's notification, one email each (bookings.tasks queues
one task per member, so a retry never mails a colleague twice). When a round-robin booking
changes hands ("reassigned") the customer is told the new person, the new member gets the
notification and the previous one is told who took it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from email.mime.base import MIMEBase
from typing import Any, ParamSpec

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import SafeMIMEText
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation

from bookings import brand, calendar_links, languages, team_public
from bookings.ics import booking_ics
from bookings.models import Booking, EventWrite

P = ParamSpec("P")
OWNER_EVENTS = ("booked", "cancelled", "rescheduled", "reassigned")
# RFC 3834: keeps out-of-office replies from answering the app's notifications.
HEADERS = {"Auto-Submitted": "auto-generated"}


def send_confirmation(booking: Booking) -> None:
    _to_customer("confirmation", booking, method="REQUEST")


def send_meeting_link(booking: Booking) -> None:
    """The Teams link, once Exchange Online created the meeting (after the confirmation)."""
    if booking.is_cancelled or not booking.online_meeting_url:
        return
    _to_customer("meeting-link", booking, method="REQUEST")


def send_cancellation(booking: Booking) -> None:
    _to_customer("cancellation", booking, method="CANCEL")


def send_reschedule(booking: Booking, *, previous_start: datetime | None = None) -> None:
    """The booking already has its new time and a bumped sequence; previous_start, when the
    caller knows it, is shown as the time it moved from."""
    _to_customer("reschedule", booking, method="REQUEST", previous_start=previous_start)


def send_reassigned(booking: Booking) -> None:
    """The booking went to another member (bookings.team.reassign): same time, a new person;
    the booking already has its new owner, attendee and a bumped sequence."""
    _to_customer("reassigned", booking, method="REQUEST")


def _in_staff_language(func: Callable[P, None]) -> Callable[P, None]:
    """Staff emails are English (only English ships for staff), also when a customer's
    request in German is what queued them (eager tasks run inside that request)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        with translation.override(settings.LANGUAGE_CODE):
            func(*args, **kwargs)

    return wrapper


@_in_staff_language
def notify_owner(
    booking: Booking,
    what: str,
    *,
    previous_start: datetime | None = None,
    to: Any = None,
    previous_owner: Any = None,
) -> None:
    """Tell the page's owner about a booking; on a team page `to` is the member told (each
    member the booking is with is told separately). "reassigned": `previous_owner` is the
    member who had it; told as `to`, they read that it moved to the new member."""
    if what not in OWNER_EVENTS:
        raise ValueError(f"what must be one of {OWNER_EVENTS}, not {what!r}")
    page = booking.page
    recipient = to if to is not None else page.owner
    if not recipient.email:
        return
    ctx = {
        **_booking_context(booking, page.timezone, previous_start),
        "what": what,
        "answers": booking.labelled_answers(),
        "booking_url": staff_booking_url(booking),
        # Who had a reassigned booking, and whether this email goes to them.
        "previous_owner_name": team_public.person_name(previous_owner) if previous_owner else "",
        "handed_away": previous_owner is not None and previous_owner.pk == recipient.pk,
        "new_owner_name": team_public.person_name(booking.owner),
    }
    # Replying to the notification reaches the customer, which is what an owner expects.
    message = _message(
        "owner-notification",
        ctx,
        to=[recipient.email],
        zone=page.timezone,
        reply_to=[booking.email],
    )
    message.send()


@_in_staff_language
def send_write_alert(write: EventWrite) -> None:
    """Tell the page owner and the site admins that a booking is not reaching a calendar;
    on a team page also the member whose calendar it is."""
    booking = write.booking
    page = booking.page
    member = write.member_user.email if write.member_user_id and write.member_user else ""
    recipients = _unique([page.owner.email, member, *_admin_emails()])
    if not recipients:
        return
    ctx = {
        **_booking_context(booking, page.timezone),
        "write": write,
        "calendar": write.target_label,
        "error": write.last_error or "No error was recorded.",
        "booking_url": staff_booking_url(booking),
    }
    _message("write-alert", ctx, to=recipients, zone=page.timezone).send()


# --- helpers ----------------------------------------------------------------------------


def _to_customer(
    prefix: str, booking: Booking, *, method: str, previous_start: datetime | None = None
) -> None:
    # In the language the customer booked in, whenever and wherever this is sent.
    with languages.customer(booking):
        _send_to_customer(prefix, booking, method=method, previous_start=previous_start)


def _send_to_customer(
    prefix: str, booking: Booking, *, method: str, previous_start: datetime | None = None
) -> None:
    page = booking.page
    ctx = {
        **_booking_context(booking, booking.timezone, previous_start),
        "manage_url": booking.manage_url(),
        "public_url": page.public_url() if page.active else "",
        # Built from the booking alone, like the .ics: nothing read from Exchange.
        "calendar_links": calendar_links.links(booking) if prefix == "confirmation" else [],
    }
    # A team booking's replies go to the member it is with (the collective's organiser).
    owner_email = booking.owner.email if page.is_team else page.owner.email
    message = _message(
        prefix,
        ctx,
        to=[booking.email],
        zone=booking.timezone,
        reply_to=[owner_email] if owner_email else [],
    )
    message.attach(ics_attachment(booking, method))
    message.send()


def _message(
    prefix: str,
    ctx: dict[str, Any],
    *,
    to: list[str],
    zone: str,
    reply_to: Iterable[str] = (),
) -> EmailMultiAlternatives:
    """Render emails/<prefix>-subject.txt, -body.txt and -body.html into one message.

    Rendering happens with the reader's zone active, so any |date or |time in a template
    shows the reader's local time too.
    """
    # The organisation's name, logo and accent colour (the site's, or the page's colour).
    ctx = {**ctx, "site_url": settings.SITE_URL, "brand": brand.for_email(ctx.get("page"))}
    with timezone.override(zone):
        subject = _render_plain(f"emails/{prefix}-subject.txt", ctx)
        text = _render_plain(f"emails/{prefix}-body.txt", ctx)
        html = render_to_string(f"emails/{prefix}-body.html", ctx)
    message = EmailMultiAlternatives(
        # A subject is one line: a newline typed into a name must not break the header.
        subject=" ".join(subject.split()),
        body=text,
        to=to,
        reply_to=list(reply_to),
        headers=dict(HEADERS),
    )
    message.attach_alternative(html, "text/html")
    return message


def _render_plain(name: str, ctx: dict[str, Any]) -> str:
    # Not HTML, so not HTML-escaped: "O'Brien & Sons" must read as typed.
    return get_template(name).template.render(Context(ctx, autoescape=False))


def ics_attachment(booking: Booking, method: str) -> MIMEBase:
    """invite.ics as text/calendar with its iTIP method, which Outlook and Gmail need to
    treat it as an invitation (or cancellation) rather than a plain file."""
    part = SafeMIMEText(booking_ics(booking, method).decode(), "calendar", "utf-8")
    part.set_param("method", method)
    part.add_header("Content-Disposition", "attachment", filename="invite.ics")
    return part


def _booking_context(
    booking: Booking, zone: str, previous_start: datetime | None = None
) -> dict[str, Any]:
    page = booking.page
    names = team_public.with_names(booking) if page.is_team else []
    ctx = {
        "booking": booking,
        "page": page,
        "owner_name": team_public.contact_name(booking),
        "meeting_title": team_public.meeting_title(booking),
        # Team bookings: who the meeting is with ("Ada, Ben and Cy"); "" on a personal page.
        "team": page.is_team,
        "with_names": team_public.join_names(names),
        "zone": zone,
        "when": format_when(booking.start, booking.end, zone),
        "short_when": format_short(booking.start, zone),
        "previous_when": "",
    }
    if previous_start is not None:
        previous_end = previous_start + (booking.end - booking.start)
        ctx["previous_when"] = format_when(previous_start, previous_end, zone)
    return ctx


def format_when(start: datetime, end: datetime, zone: str) -> str:
    """ "Monday 29 March 2027, 09:00 to 09:30 (Europe/London, BST)", in the active language
    ("Montag, 29. März 2027, 09:00-09:30 (Europe/Berlin, MESZ)")."""
    return languages.when(start, end, zone)


def format_short(start: datetime, zone: str) -> str:
    """ "Mon 29 Mar 2027, 09:00", for subject lines (in the active language)."""
    return languages.short_when(start, zone)


def staff_booking_url(booking: Booking) -> str:
    return settings.SITE_URL + f"/bookings/{booking.id}/"


def _admin_emails() -> list[str]:
    # Django 5.2 documents ADMINS as (name, email) pairs; 6.0 moves to plain addresses.
    return [a[1] if isinstance(a, list | tuple) else a for a in settings.ADMINS]


def _unique(addresses: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        if address and address.lower() not in seen:
            seen[address.lower()] = address
    return list(seen.values())

"""What Exchange holds now for a booking, in words staff can act on.

An EventWrite's (desired, state) pair is the truth about one calendar: a `written` write whose
event should be absent means the event is gone, not that it is "Written". Staff pages show
these sentences instead of the raw states, with every time in the booking page's zone.

Failed writes are retried without limit (bookings.writes.backoff: exponential up to
WRITE_MAX_BACKOFF_SECONDS, or Exchange's own BackOffMilliseconds), so a failing write says
which retry comes next and when, never "n of m"; after WRITE_ALERT_AFTER_ATTEMPTS failures
the owner and the admins are emailed, and the detail says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.models import WriteState

if TYPE_CHECKING:
    from bookings.models import EventWrite


@dataclass(frozen=True)
class WriteStatus:
    tone: str  # ok | neutral | pending | error: the badge colour
    words: str  # what Exchange holds now ("In Alice Liddell's calendar")
    reason: str = ""  # Exchange's refusal, for a failing write
    when: str = ""  # when it was written / removed, or when the next retry runs

    @property
    def badge(self) -> str:
        return f"badge-{self.tone}"


def moment(value: datetime, zone: ZoneInfo) -> str:
    """ "Mon 3 Mar 2027, 10:42" in `zone`; the page says which zone once, beside the times."""
    local = value.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"


def short_moment(value: datetime, zone: ZoneInfo, now: datetime | None = None) -> str:
    """ "10:42" today, "3 Mar, 10:42" on another day of this year, in `zone`."""
    local = value.astimezone(zone)
    today = (now or timezone.now()).astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.year == today.year:
        return f"{local.day} {local:%b}, {local:%H:%M}"
    return f"{local.day} {local:%b %Y}, {local:%H:%M}"


def person_name(email: str) -> str:
    """The name staff know a mailbox by: the app's user behind it, else the address."""
    from calendars.models import CorporateMember, ExchangeConnection

    member = CorporateMember.objects.filter(mailbox__iexact=email).select_related("user").first()
    if member is not None:
        return member.display_name()
    personal = (
        ExchangeConnection.objects.filter(email__iexact=email, user__isnull=False)
        .select_related("user")
        .first()
    )
    if personal is not None and personal.user is not None:
        return personal.user.get_full_name() or email
    return email


def calendar_words(write: EventWrite, names: dict[str, str] | None = None) -> str:
    """ "Alice Liddell's calendar", or "carol@contoso.example's “Projects” calendar" for a
    sub-calendar."""
    names = names if names is not None else {}
    key = write.owner_email.lower()
    if key not in names:
        names[key] = person_name(write.owner_email)
    who = names[key]
    primary = (
        write.calendar.is_primary if write.calendar else write.calendar_name in ("", "Calendar")
    )
    if primary:
        return _("%(name)s's calendar") % {"name": who}
    return _("%(name)s's “%(calendar)s” calendar") % {"name": who, "calendar": write.calendar_name}


def describe(
    write: EventWrite,
    zone: ZoneInfo,
    *,
    now: datetime | None = None,
    names: dict[str, str] | None = None,
) -> WriteStatus:
    """One calendar write in words: what the calendar holds now and what happens next."""
    now = now or timezone.now()
    calendar = calendar_words(write, names)
    present = write.desired != "absent"
    if write.state == WriteState.DONE:
        done_at = short_moment(write.done_at, zone, now) if write.done_at else ""
        if present:
            written = _("Written at %(time)s") % {"time": done_at} if done_at else _("Written")
            return WriteStatus("ok", _("In %(calendar)s") % {"calendar": calendar}, when=written)
        if write.booking.cancelled_by == "exchange" and write.role == "main":
            # Sync back found the owner had deleted it: the app removed nothing here.
            return WriteStatus(
                "neutral", _("Deleted from %(calendar)s in Outlook") % {"calendar": calendar}
            )
        removed = _("Removed at %(time)s") % {"time": done_at} if done_at else _("Removed")
        return WriteStatus(
            "neutral", _("Removed from %(calendar)s") % {"calendar": calendar}, when=removed
        )
    if write.state == WriteState.FAILING:
        retry = ""
        if write.next_attempt_at is not None:
            due = write.next_attempt_at <= now
            at = {"number": write.attempts, "time": short_moment(write.next_attempt_at, zone, now)}
            if write.attempts and due:
                retry = _("Retry %(number)s is due now") % at
            elif write.attempts:
                retry = _("Retry %(number)s at %(time)s") % at
            elif due:
                retry = _("Next try is due now")
            else:
                retry = _("Next try at %(time)s") % at
        if write.alerted_at is not None:
            alerted = {"retry": retry, "time": short_moment(write.alerted_at, zone, now)}
            if retry:
                # Translators: %(retry)s is "Retry 2 at 10:42", "Next try is due now" or alike.
                retry = _("%(retry)s; the owner and admins were emailed at %(time)s") % alerted
            else:
                retry = _("The owner and admins were emailed at %(time)s") % alerted
        words = (
            _("Couldn't write to %(calendar)s")
            if present
            else _("Couldn't remove the event from %(calendar)s")
        )
        return WriteStatus(
            "error", words % {"calendar": calendar}, reason=write.last_error, when=retry
        )
    # Pending: a run is queued (just booked, rescheduled, cancelled, or "Retry now").
    if not present:
        words = _("Removing the event from %(calendar)s…")
    elif write.written_version is not None:
        words = _("Updating the event in %(calendar)s…")
    else:
        words = _("Writing to %(calendar)s…")
    return WriteStatus("pending", words % {"calendar": calendar})


def summary(writes: Iterable[EventWrite]) -> WriteStatus | None:
    """A booking's calendars in one badge for the list: the worst state wins; None when
    the booking has no calendar to be written to. Takes the (prefetched) writes, so a list
    of bookings costs one query for all of them."""
    pairs = {(w.state, w.desired) for w in writes}
    if not pairs:
        return None
    states = {state for state, _ in pairs}
    removing = all(desired == "absent" for _, desired in pairs)
    if WriteState.FAILING in states:
        return WriteStatus("error", _("Couldn't remove") if removing else _("Couldn't write"))
    if WriteState.PENDING in states:
        return WriteStatus("pending", _("Removing…") if removing else _("Writing…"))
    if removing:
        return WriteStatus("neutral", _("Removed from Exchange"))
    return WriteStatus("ok", _("In Exchange"))

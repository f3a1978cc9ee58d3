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
        return f"{who}'s calendar"
    return f"{who}'s “{write.calendar_name}” calendar"


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
        when = f"at {short_moment(write.done_at, zone, now)}" if write.done_at else ""
        if present:
            return WriteStatus("ok", f"In {calendar}", when=f"Written {when}".strip())
        if write.booking.cancelled_by == "exchange" and write.role == "main":
            # Sync back found the owner had deleted it: the app removed nothing here.
            return WriteStatus("neutral", f"Deleted from {calendar} in Outlook")
        return WriteStatus("neutral", f"Removed from {calendar}", when=f"Removed {when}".strip())
    if write.state == WriteState.FAILING:
        verb = "write to" if present else "remove the event from"
        retry = ""
        if write.next_attempt_at is not None:
            number = f"Retry {write.attempts}" if write.attempts else "Next try"
            if write.next_attempt_at > now:
                retry = f"{number} at {short_moment(write.next_attempt_at, zone, now)}"
            else:
                retry = f"{number} is due now"
        if write.alerted_at is not None:
            alerted = (
                f"the owner and admins were emailed at {short_moment(write.alerted_at, zone, now)}"
            )
            retry = f"{retry}; {alerted}" if retry else alerted.capitalize()
        return WriteStatus(
            "error",
            f"Couldn't {verb} {calendar}",
            reason=write.last_error,
            when=retry,
        )
    # Pending: a run is queued (just booked, rescheduled, cancelled, or "Retry now").
    if not present:
        return WriteStatus("pending", f"Removing the event from {calendar}…")
    if write.written_version is not None:
        return WriteStatus("pending", f"Updating the event in {calendar}…")
    return WriteStatus("pending", f"Writing to {calendar}…")


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
        return WriteStatus("error", "Couldn't remove" if removing else "Couldn't write")
    if WriteState.PENDING in states:
        return WriteStatus("pending", "Removing…" if removing else "Writing…")
    if removing:
        return WriteStatus("neutral", "Removed from Exchange")
    return WriteStatus("ok", "In Exchange")

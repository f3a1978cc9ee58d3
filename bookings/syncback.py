"""Two-way sync: notice what the owner did in Outlook to the events the app wrote.

A periodic task (bookings.tasks.sync_back) asks each main calendar what changed since the
last run (SyncFolderItems from the folder's saved state, ids only), and only for the booked
events among those asks Exchange, in one batched GetItem, where each is now:
- gone (deleted, i.e. moved to Deleted Items as Outlook does, or no longer in the calendar):
  the booking is cancelled and the customer told;
- moved: the booking follows, and the customer gets the new time;
- overlapped by another busy event (the owner accepted a conflicting meeting): nothing is
  lost; the booking stays and staff see the conflict on the booking and the dashboard.
Team bookings are in each member's own calendar, one main event per member it is with, and
each is looked at like this; what a member's change means is bookings.team's: a round-robin
member's deleted event goes to another free member (else the booking is cancelled), a
required attendee's cancels the meeting, an optional one's declines it; the booking's owner
moving theirs moves the booking, another attendee moving theirs is a conflict.
A calendar where nothing changed costs one SyncFolderItems and nothing else: no GetItem, no
busy-time read. Without a usable state (first run, or Exchange refused it) every booked
event of the calendar is read, as before, and a new state is started.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from bookings import actions, team
from bookings.models import Booking, BookingStatus, EventWrite, WriteState
from calendars import busy
from calendars.backends.base import Backend, CalendarTarget, SyncStateLost
from calendars.connect import backend_for
from calendars.errors import ExchangeError
from calendars.models import CalendarRef, CalendarRole, FolderSyncState

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    cancelled: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    # Team bookings: handed to another member (round robin), or an optional attendee out.
    reassigned: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def sync_back(now: datetime | None = None) -> SyncResult:
    now = now or timezone.now()
    result = SyncResult()
    writes = (
        EventWrite.objects.filter(
            role=CalendarRole.MAIN,
            state=WriteState.DONE,
            desired="present",
            booking__status=BookingStatus.CONFIRMED,
            booking__start__gt=now,
        )
        .exclude(item_id="")
        .select_related("booking", "connection")
    )
    groups: dict[tuple[int, str, str], list[EventWrite]] = defaultdict(list)
    for write in writes:
        if write.connection is not None:
            groups[(write.connection_id, write.owner_email, write.folder_id)].append(write)

    for (_, owner, folder), group in groups.items():
        connection = group[0].connection
        assert connection is not None
        target = CalendarTarget(owner_email=owner, folder_id=folder)
        backend = backend_for(connection)
        try:
            seen = _what_changed(backend, target, group)
            to_check = [w for w in group if seen.everything or w.item_id in seen.ids]
            times = backend.event_times(target, [w.item_id for w in to_check])
        except ExchangeError as exc:
            result.errors.append(f"{owner}: {exc.message}")
            continue
        copy_moved: set[int] = set()
        unsure = False
        for write in to_check:
            try:
                done = _follow(write, times.get(write.item_id), result)
            except ExchangeError as exc:
                # What to do depends on other calendars that couldn't be read (a round-robin
                # booking's other members): this change is looked at again next run.
                result.errors.append(f"{owner}: {exc.message}")
                unsure = True
                continue
            if done == "conflict":
                copy_moved.add(write.booking_id)
        if unsure:
            continue  # keep the old state
        # Conflicts come from events in this same calendar (free/busy of a primary calendar
        # is that calendar), so a calendar where nothing at all changed can have no new one.
        # A booking whose copy here was moved keeps that conflict: its slot is empty here.
        checked = [w for w in group if w.booking_id not in copy_moved]
        if (seen.everything or seen.anything) and not _check_conflicts(checked, result):
            continue  # keep the old state: next run looks at these changes again
        if seen.state is not None:
            FolderSyncState.objects.update_or_create(
                connection=connection,
                owner_email=owner,
                folder_id=folder,
                defaults={"state": seen.state},
            )
    return result


def _follow(write: EventWrite, now_at: tuple[datetime, datetime] | None, result: SyncResult) -> str:
    """Make the booking follow what happened to the event of `write` (None: it is gone).
    Returns what was done: "", "cancelled", "moved", "reassigned", "declined", "conflict"."""
    # Read again: a calendar looked at earlier in this run may have changed the booking
    # (cancelled, moved, handed to another member), and a write waiting to be rewritten
    # says nothing about what its owner did.
    current = EventWrite.objects.filter(pk=write.pk).select_related("booking__page").first()
    if current is None:
        return ""
    booking = current.booking
    if booking.is_cancelled:
        if now_at is None and current.desired == "absent" and current.state != WriteState.DONE:
            # Cancelled meanwhile, and this event deleted as well: nothing left to remove.
            actions.cancel_from_exchange(booking, gone=current)
        return ""
    if current.desired != "present" or current.state != WriteState.DONE:
        return ""
    pk = str(booking.pk)
    if now_at == (booking.start, booking.end):
        return ""
    team_booking = booking.page.is_team and current.member_user_id is not None
    if now_at is None:
        if team_booking:
            done = team.deleted_in_outlook(booking, current)
        else:
            actions.cancel_from_exchange(booking, gone=current)
            done = "cancelled"
        if done == "reassigned":
            result.reassigned.append(pk)
        elif done == "declined":
            result.declined.append(pk)
        else:
            result.cancelled.append(pk)
        return done
    if team_booking:
        done = team.moved_in_outlook(booking, current, *now_at)
    else:
        actions.move_from_exchange(booking, *now_at, moved=current)
        done = "moved"
    (result.moved if done == "moved" else result.conflicts).append(pk)
    return done


@dataclass
class _Seen:
    state: str | None  # to save once this run is through; None: the backend keeps none
    everything: bool = False  # no usable state: read every booked event
    anything: bool = False  # something in the calendar changed (booked or not)
    ids: frozenset[str] = frozenset()  # booked or not, created, changed or deleted


def _what_changed(backend: Backend, target: CalendarTarget, group: list[EventWrite]) -> _Seen:
    write = group[0]
    saved = FolderSyncState.objects.filter(
        connection=write.connection, owner_email=target.owner_email, folder_id=target.folder_id
    ).first()
    try:
        if saved is not None and saved.state:
            try:
                changes = backend.changes(target, saved.state)
                return _Seen(
                    changes.state,
                    anything=changes.any,
                    ids=changes.changed_ids | changes.deleted_ids,
                )
            except SyncStateLost:
                log.warning("sync state of %s/%s lost; reading every event", *_where(target))
        # Take the new state before reading: whatever changes after it is in the next run's
        # answer (what changes in between is read now and again next time, which is harmless).
        return _Seen(backend.changes(target, "").state, everything=True)
    except NotImplementedError:
        return _Seen(None, everything=True)
    except ExchangeError as exc:
        if exc.transient:
            raise  # Exchange is down or busy: the GetItem would fail as well; try next run
        # Change tracking refused for another reason: read every event, as without it, and
        # keep whatever state there was.
        log.warning("no change tracking for %s/%s: %s", *_where(target), exc.code)
        return _Seen(None, everything=True)


def _where(target: CalendarTarget) -> tuple[str, str]:
    return target.owner_email, target.folder_id or "calendar"


def _check_conflicts(group: list[EventWrite], result: SyncResult) -> bool:
    """Mark bookings whose time another busy event in the main calendar now overlaps.
    False when Exchange could not be asked."""
    # Re-read once: the loop above may just have cancelled or moved some of them, or taken
    # them out of this calendar (an attendee who declined, a booking handed to another
    # member): where the booking has no event any more, nothing here conflicts with it.
    here = EventWrite.objects.filter(pk__in=[w.pk for w in group], desired="present")
    bookings = list(
        Booking.objects.filter(
            pk__in=here.values_list("booking_id", flat=True), status=BookingStatus.CONFIRMED
        )
    )
    if not bookings:
        return True
    write = group[0]
    ref = CalendarRef.objects.filter(pk=write.calendar_id).first()
    if ref is None or write.connection is None:
        return True
    start = min(b.start for b in bookings)
    end = max(b.end for b in bookings)
    try:
        found = busy.busy_intervals(write.connection, [ref], start, end, fresh=True)
    except ExchangeError as exc:
        result.errors.append(f"{write.owner_email}: {exc.message}")
        return False
    intervals = found.intervals.get(ref.pk, [])
    # A collective booking is in several attendees' calendars: this one clears only what it
    # said itself (the conflict names its calendar), not what another attendee's calendar said.
    shared = set(
        EventWrite.objects.filter(booking__in=bookings, role=CalendarRole.MAIN, desired="present")
        .order_by()
        .values("booking")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("booking", flat=True)
    )
    for booking in bookings:
        own = (booking.start, booking.end)
        overlapping = [
            i
            for i in intervals
            if i.status != "Free" and i.start < booking.end and i.end > booking.start
        ]
        # Our own event is one of them; anything more is a conflict.
        others = list(overlapping)
        for i in overlapping:
            if (i.start, i.end) == own:
                others.remove(i)
                break
        conflict = ""
        if others:
            first = min(others, key=lambda i: i.start)
            conflict = (
                f"Another {first.status.lower()} event in {write.target_label} overlaps this "
                "booking. The booking stands; move or decline one of them."
            )
            result.conflicts.append(str(booking.pk))
        elif booking.pk in shared and write.target_label not in booking.conflict:
            continue
        if booking.conflict != conflict:
            Booking.objects.filter(pk=booking.pk).update(conflict=conflict)
    return True

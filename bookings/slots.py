"""Free slots of a booking page: gathers rules, busy time and bookings, then asks the pure
function in bookings.availability. The only I/O is here: the database and calendars.busy."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext_noop

from bookings import engine_memo, owner_hours, taken
from bookings.availability import Booked, Interval, Refusal, Rules, refusal
from bookings.memo import Memo
from bookings.models import (
    NO_MAIN_CALENDAR,
    Booking,
    BookingPage,
    MemberState,
    PageCalendar,
    main_calendar_problem,
)
from calendars import busy
from calendars.connect import connection_for
from calendars.errors import ExchangeError
from calendars.models import CalendarRef, CalendarRole


class AvailabilityUnknown(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SlotsResult:
    slots: list[Interval]
    stale: bool = False  # busy time came from an older cache because Exchange is unreachable
    # The blocking busy intervals used, so a caller can re-run the rules against the same
    # Exchange answer (the re-check inside the booking lock) without asking Exchange again.
    busy: list[Interval] | None = None
    # Team pages (bookings.team): per slot, the members free for it (round robin) or its
    # attendees (collective), as TeamMember pks in the team's order; and each member's busy
    # time, for the re-check inside the lock.
    team: dict[Interval, tuple[int, ...]] | None = None
    member_busy: dict[int, list[Interval]] | None = None


@dataclass(frozen=True)
class MemberSchedule:
    """A team page's active member as its slots need them (bookings.team)."""

    id: int  # TeamMember pk
    user_id: int
    tier: int
    weight: int
    required: bool
    max_per_day: int | None
    max_per_week: int | None
    # Their own weekly hours on this page (when the page allows them and they set some).
    weekly: dict[int, list[tuple[time, time]]] | None
    hours_zone: str | None
    calendars: tuple[CalendarRef, ...]  # every calendar of theirs with a role
    main_id: int | None


# Translated where it reaches a customer (the slots API, the public page).
UNKNOWN = gettext_noop(
    "We can't check this calendar's availability right now. Please try again in a few minutes."
)


@dataclass(frozen=True)
class Schedule:
    """What a page's slots come from besides the page row: read from three tables, and the
    same on every slots request until staff change it."""

    weekly: dict[int, list[tuple[time, time]]]
    overrides: dict[date, list[tuple[time, time]]]
    calendars: tuple[CalendarRef, ...]  # every calendar with a role
    main_id: int | None = None  # the main booking calendar's CalendarRef (None: no main)
    # A team page's active members, in the team's order (a personal page has none; its
    # calendars above are the owner's). A team page's own calendars tuple is empty.
    members: tuple[MemberSchedule, ...] = ()


# Per process: page pk -> ((created, schedule_version), Schedule). Three queries (~3 ms of a
# slots request's CPU) saved on every request; a version that moved means reading them again.
# `created` tells a reused primary key apart (SQLite hands out a deleted page's id again).
_schedules: OrderedDict[int, tuple[tuple[datetime, int], Schedule]] = OrderedDict()
_schedules_lock = threading.Lock()
_SCHEDULES_KEPT = 1000


def schedule_for(page: BookingPage, *, fresh: bool = False) -> Schedule:
    """The page's schedule, from memory when `page` (just read from the database) carries
    the version it was read at; `fresh` reads the database (a booking's final check)."""
    stamp = (page.created, page.schedule_version)
    if not fresh:
        with _schedules_lock:
            kept = _schedules.get(page.pk)
            if kept is not None and kept[0] == stamp:
                _schedules.move_to_end(page.pk)
                return kept[1]
    weekly: dict[int, list[tuple[time, time]]] = {}
    for hours in page.weekly_hours.all():
        weekly.setdefault(hours.weekday, []).append((hours.start, hours.end))
    with_roles = list(page.page_calendars.exclude(role="").select_related("calendar"))
    own = [pc for pc in with_roles if pc.member_id is None]
    schedule = Schedule(
        weekly=weekly,
        overrides={o.date: o.ranges for o in page.overrides.all()},
        # Busy time is read from booking calendars too.
        calendars=() if page.is_team else tuple(pc.calendar for pc in own),
        main_id=None
        if page.is_team
        else next((pc.calendar_id for pc in own if pc.role == CalendarRole.MAIN), None),
        members=_member_schedules(page, with_roles) if page.is_team else (),
    )
    with _schedules_lock:
        # Stored under the version read with the page, before these rows: a change committed
        # in between moved the version on, so the next request reads again.
        _schedules[page.pk] = (stamp, schedule)
        _schedules.move_to_end(page.pk)
        while len(_schedules) > _SCHEDULES_KEPT:
            _schedules.popitem(last=False)
    return schedule


def _member_schedules(
    page: BookingPage, with_roles: list[PageCalendar]
) -> tuple[MemberSchedule, ...]:
    by_member: dict[int, list[PageCalendar]] = {}
    for pc in with_roles:
        if pc.member_id is not None:
            by_member.setdefault(pc.member_id, []).append(pc)
    members = []
    for m in page.members.filter(state=MemberState.ACTIVE):
        own_hours = m.weekly() if page.members_own_hours and m.weekly_hours else None
        calendars = by_member.get(m.pk, [])
        members.append(
            MemberSchedule(
                id=m.pk,
                user_id=m.user_id,
                tier=m.tier,
                weight=m.weight,
                required=m.required,
                max_per_day=m.max_per_day,
                max_per_week=m.max_per_week,
                weekly=own_hours,
                hours_zone=(m.hours_zone or None) if own_hours is not None else None,
                calendars=tuple(pc.calendar for pc in calendars),
                main_id=next(
                    (pc.calendar_id for pc in calendars if pc.role == CalendarRole.MAIN), None
                ),
            )
        )
    return tuple(members)


def rules_for(page: BookingPage, schedule: Schedule) -> Rules:
    weekly, hours_zone = schedule.weekly, None
    if page.use_owner_working_hours:
        # The copy on the page row (read on every request), in the owner's zone: no copy yet
        # means no hours, never the page's own (the owner said those don't apply).
        weekly, hours_zone = owner_hours.weekly(page), page.owner_hours_zone or None
    return Rules(
        zone=page.timezone,
        duration=timedelta(minutes=page.duration_minutes),
        interval=timedelta(minutes=page.interval_minutes),
        weekly=weekly,
        hours_zone=hours_zone,
        overrides=schedule.overrides,
        buffer_before=timedelta(minutes=page.buffer_before_minutes),
        buffer_after=timedelta(minutes=page.buffer_after_minutes),
        min_notice=timedelta(minutes=page.min_notice_minutes),
        window_days=page.window_days,
        max_per_day=page.max_per_day,
        max_per_week=page.max_per_week,
    )


def _utc_midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class NotReady(Exception):
    """The page takes no bookings (BookingPage.not_ready_reason): it has no slots to offer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def not_ready_reason(page: BookingPage) -> str:
    """BookingPage.not_ready_reason for the public page and APIs, which ask on every request:
    which calendar is main comes from the schedule kept in memory, and only that calendar's
    row is read again (a permission found withdrawn, or consent to book into it, moves no
    version). `page` comes with its owner (the consent rule needs them)."""
    if page.is_team:
        from bookings import team

        return team.not_ready_reason(page, schedule_for(page))
    return _main_problem(page, schedule_for(page).main_id)


# The readiness check's answer, reused for READINESS_CACHE_SECONDS (bookings/memo.py): what
# it reads (the main calendar's permission, its owner's membership and consent) moves no
# schedule version, so it was read on every slots request: two of a cached answer's five
# queries. A booking never relies on it (actions.book checks the page afresh).
_readiness: Memo[str] = Memo()


def _main_problem(page: BookingPage, main_id: int | None) -> str:
    # Everything of the page row the rule reads is in the key (the row is read per request).
    key = (page.pk, page.created, page.schedule_version, main_id, page.create_teams_meeting)

    def read() -> str:
        ref = None
        if main_id is not None:
            ref = CalendarRef.objects.select_related("connection").filter(pk=main_id).first()
        main = (
            None if ref is None else PageCalendar(page=page, calendar=ref, role=CalendarRole.MAIN)
        )
        return main_calendar_problem(main)

    return _readiness.get(key, read)


def slots_for(
    page: BookingPage,
    start: datetime,
    end: datetime,
    *,
    ignore_booking: Booking | None = None,
    fresh: bool = False,
    now: datetime | None = None,
    busy_intervals: list[Interval] | None = None,
    check_ready: bool = False,
    schedule: Schedule | None = None,
) -> SlotsResult:
    """Free slots starting in [start, end). Raises AvailabilityUnknown rather than guess, and
    with `check_ready` NotReady for a page that takes no bookings."""
    now = now or timezone.now()
    schedule = schedule or schedule_for(page, fresh=fresh)
    if page.is_team:
        from bookings import team

        return team.team_slots(
            page,
            start,
            end,
            schedule=schedule,
            ignore_booking=ignore_booking,
            fresh=fresh,
            now=now,
            check_ready=check_ready,
        )
    if check_ready and schedule.main_id is None:
        raise NotReady(str(NO_MAIN_CALENDAR))  # known from memory: no request to Exchange
    rules = rules_for(page, schedule)
    # Nothing outside [now + notice, end of the booking window] can be offered, so don't ask
    # Exchange about it.
    lo = max(start, now + rules.min_notice)
    hi = min(end, now + timedelta(days=rules.window_days + 1))
    if lo >= hi:
        if check_ready and (reason := _main_problem(page, schedule.main_id)):
            raise NotReady(reason)
        return SlotsResult([])
    margin = rules.margin
    # Whole UTC days: "now" moves every second, and a range that moved with it would never
    # hit the cache; whole days also let visitors in different zones share one answer.
    busy_from = _utc_midnight(lo - margin)
    busy_to = _utc_midnight(hi + margin) + timedelta(days=1)

    blocking = set(page.blocking_statuses)
    intervals: list[Interval] = []
    stale = False
    calendars = list(schedule.calendars) if busy_intervals is None else []
    pending = None
    if busy_intervals is not None:
        intervals = list(busy_intervals)
    elif calendars:
        connection = connection_for(page.owner_id)
        if connection is None:
            raise AvailabilityUnknown(UNKNOWN)
        # The requests leave now; the owner's bookings are read while Exchange answers.
        pending = busy.start_busy_intervals(connection, calendars, busy_from, busy_to, fresh=fresh)

    # The main calendar's permission and consent are read while Exchange answers, off the
    # request's critical path (they were ~40% of a cached answer's time before it); a page
    # found not ready drops Exchange's answer.
    if check_ready and (reason := _main_problem(page, schedule.main_id)):
        raise NotReady(reason)
    booked = _booked(
        page, lo, hi, ignore_booking, rules, reuse=not fresh and busy_intervals is None
    )
    if pending is not None:
        try:
            result = pending()
        except ExchangeError as exc:
            raise AvailabilityUnknown(UNKNOWN) from exc
        stale = result.stale
        for found in result.intervals.values():
            intervals.extend((b.start, b.end) for b in found if b.status in blocking)
    return SlotsResult(
        engine_memo.free_slots(
            rules,
            busy=intervals,
            booked=booked,
            now=now,
            start=start,
            end=engine_end(rules, end, now),
        ),
        stale=stale,
        busy=intervals,
    )


def engine_end(rules: Rules, end: datetime, now: datetime) -> datetime:
    """The range's end as the engine is asked it: the caller's, or the booking window's edge
    as bookings.engine_memo keys it (the same all day, so its answers can be reused)."""
    return min(end, engine_memo.window_end(rules, now))


def _booked(
    page: BookingPage,
    lo: datetime,
    hi: datetime,
    ignore_booking: Booking | None,
    rules: Rules,
    *,
    reuse: bool = False,
) -> list[Booked]:
    """The owner's bookings on every page, and those of team pages they attend: they block
    time (bookings.taken; `reuse` may answer from memory, never inside a booking)."""
    found = taken.rows(
        [page.owner_id],
        lo,
        hi,
        ignore=ignore_booking.pk if ignore_booking is not None else None,
        fresh=not reuse,
        reach=taken.reach_for(limited=rules.limited, margin=rules.margin),
    )
    return [
        Booked(begins, ends, same_page=page_id == page.pk)
        for _pk, begins, ends, page_id in found.get(page.owner_id, [])
    ]


def refusal_for(
    page: BookingPage, start: datetime, *, ignore_booking: Booking | None, now: datetime
) -> Refusal:
    """Why `start` was not a free slot of `page` at `now` (slots_for left it out): the rule
    it breaks, read from the database again, which only a refused booking pays for."""
    rules = rules_for(page, schedule_for(page, fresh=True))
    booked = _booked(page, start, start + rules.duration, ignore_booking, rules)
    return refusal(rules, start=start, booked=booked, now=now)

"""Team pages: free slots of several people, and bookings that go to one of them (round
robin) or to all of them (collective).

The rules are the pure ones in bookings.availability (per-member slots, union with
attribution or intersection) and bookings.assignment (who takes a round-robin booking); this
module gathers what they need and holds the guarantees of bookings.actions for every member:
- busy time is read for all members at once: per connection one batched request for their
  primary calendars (calendars.busy keeps each member's answer under their own cache key, so
  it is shared with every page that reads them);
- a booking re-checks against fresh busy time, then locks the member it goes to (round
  robin) or every attendee in the order of their user ids (collective: no deadlocks) and
  re-reads their bookings inside the lock, so no member is ever booked twice, whatever page
  the other booking came from;
- a round-robin candidate found busy inside the lock hands the booking to the next member in
  the ranking; the customer is refused only when nobody is left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from bookings import assignment, engine_memo, taken
from bookings.availability import Booked, Interval, Member, Refusal, refusal
from bookings.memo import Memo
from bookings.models import (
    Booking,
    BookingMember,
    BookingPage,
    BookingStatus,
    EventWrite,
    PageCalendar,
    TeamMember,
    TeamMode,
    WriteState,
    main_calendar_problem,
)
from bookings.slots import (
    UNKNOWN,
    AvailabilityUnknown,
    MemberSchedule,
    NotReady,
    Schedule,
    SlotsResult,
    _utc_midnight,
    engine_end,
    rules_for,
    schedule_for,
)
from calendars import busy
from calendars.connect import connections_for
from calendars.errors import ExchangeError
from calendars.models import CalendarRef, CalendarRole, ExchangeConnection

NOBODY_READY = gettext_lazy(
    "No member of the team can take bookings yet: each member needs a main booking calendar "
    "the connection may write to."
)


# --- Readiness -------------------------------------------------------------------------


# A team page's member problems, reused by slots answers as bookings.slots reuses a personal
# page's readiness. Reading them costs a query per member (their membership of the
# connection, for the consent rule): on a twenty-member page it was most of a cached slots
# answer's time.
_problems: Memo[dict[int, str]] = Memo()


def member_problems(
    page: BookingPage, schedule: Schedule, *, reuse: bool = False
) -> dict[int, str]:
    """Why each active member can't take bookings now ("" when they can): the personal
    page's rule (a main booking calendar the member's connection may write to, with their
    consent on the corporate connection) for each of them.

    `reuse`: the answer this process found in the last READINESS_CACHE_SECONDS will do (the
    slots API's reads; a booking always asks afresh, as on a personal page)."""
    # Everything of the page row and the schedule the rule reads is in the key.
    key = (
        page.pk,
        page.created,
        page.schedule_version,
        page.create_teams_meeting,
        tuple((m.id, m.user_id, m.main_id) for m in schedule.members),
    )
    found = _problems.get(key, lambda: _read_member_problems(page, schedule), reuse=reuse)
    return dict(found)


def _read_member_problems(page: BookingPage, schedule: Schedule) -> dict[int, str]:
    mains = CalendarRef.objects.in_bulk(
        [m.main_id for m in schedule.members if m.main_id is not None]
    )
    # Each connection read once and shared by its calendars, not once per member's calendar
    # (select_related): every read of a connection decrypts its secrets.
    connections = ExchangeConnection.objects.in_bulk({ref.connection_id for ref in mains.values()})
    for ref in mains.values():
        ref.connection = connections[ref.connection_id]
    users = get_user_model().objects.in_bulk([m.user_id for m in schedule.members])
    problems = {}
    for m in schedule.members:
        ref = mains.get(m.main_id) if m.main_id is not None else None
        main = None
        if ref is not None:
            member = TeamMember(pk=m.id, page=page, user=users[m.user_id])
            main = PageCalendar(page=page, member=member, calendar=ref, role=CalendarRole.MAIN)
        problems[m.id] = main_calendar_problem(main)
    return problems


def not_ready_reason(page: BookingPage, schedule: Schedule) -> str:
    """The team page's readiness: round robin needs one member who can take bookings,
    collective every required member (and at least one of them)."""
    problems = member_problems(page, schedule)
    return _page_problem(page, schedule, problems)


def _page_problem(page: BookingPage, schedule: Schedule, problems: dict[int, str]) -> str:
    if page.team_mode == TeamMode.COLLECTIVE:
        required = [m for m in schedule.members if m.required]
        if not required:
            return _("A collective page needs at least one required member who accepted.")
        for m in required:
            if problems.get(m.id):
                return str(NOBODY_READY) if not problems else problems[m.id]
        return ""
    if not any(not problems.get(m.id) for m in schedule.members):
        return str(NOBODY_READY)
    return ""


# --- Slots -----------------------------------------------------------------------------


def team_slots(
    page: BookingPage,
    start: datetime,
    end: datetime,
    *,
    schedule: Schedule | None = None,
    ignore_booking: Booking | None = None,
    fresh: bool = False,
    now: datetime | None = None,
    check_ready: bool = False,
    member_busy: dict[int, list[Interval]] | None = None,
    only: Collection[int] | None = None,
) -> SlotsResult:
    """bookings.slots.slots_for for a team page: slots starting in [start, end), each with
    the members free for it (round robin) or its attendees (collective) in `team`.

    `member_busy` reuses busy time read before (the re-check inside the lock: only the
    bookings are read again); `only` limits round robin to those members (the candidate) and
    collective to those attendees."""
    now = now or timezone.now()
    schedule = schedule or schedule_for(page, fresh=fresh)
    rules = rules_for(page, schedule)
    # The slots API's reads reuse a few seconds' old answer; a booking's checks (fresh, and
    # the re-check inside the lock, which passes member_busy) read it again.
    problems = member_problems(page, schedule, reuse=not fresh and member_busy is None)
    if check_ready and (reason := _page_problem(page, schedule, problems)):
        raise NotReady(reason)
    members = [m for m in schedule.members if not problems.get(m.id)]
    if only is not None:
        members = [m for m in members if m.id in only]
    lo = max(start, now + rules.min_notice)
    hi = min(end, now + timedelta(days=rules.window_days + 1))
    if lo >= hi or not members:
        return SlotsResult([], team={}, member_busy={})
    margin = rules.margin
    busy_from = _utc_midnight(lo - margin)
    busy_to = _utc_midnight(hi + margin) + timedelta(days=1)
    # A member's limits are the tighter of the page's and their own (availability.py).
    limited = rules.limited or any(
        m.max_per_day is not None or m.max_per_week is not None for m in members
    )
    reach = taken.reach_for(limited=limited, margin=margin)

    stale = False
    if member_busy is None:
        wait = _start_busy(page, members, busy_from, busy_to, fresh=fresh)
        booked = _booked(page, members, lo, hi, ignore_booking, reach=reach, reuse=not fresh)
        member_busy, stale, unknown = wait()
        if unknown:
            # Round robin goes on with whoever can be checked; a collective meeting needs
            # everyone required, so it can't.
            if page.team_mode == TeamMode.COLLECTIVE and any(
                m.required for m in members if m.id in unknown
            ):
                raise AvailabilityUnknown(UNKNOWN)
            members = [m for m in members if m.id not in unknown]
            if not members:
                raise AvailabilityUnknown(UNKNOWN)
    else:
        members = [m for m in members if m.id in member_busy]
        booked = _booked(page, members, lo, hi, ignore_booking, reach=reach)

    team = [
        Member(
            id=m.id,
            busy=member_busy.get(m.id, []),
            booked=booked.get(m.user_id, []),
            weekly=m.weekly,
            hours_zone=m.hours_zone,
            max_per_day=m.max_per_day,
            max_per_week=m.max_per_week,
            required=m.required,
        )
        for m in members
    ]
    collective = page.team_mode == TeamMode.COLLECTIVE
    if collective and not any(m.required for m in team):
        return SlotsResult([], stale=stale, team={}, member_busy=member_busy)
    found = engine_memo.team_slots(
        collective, rules, team, now=now, start=start, end=engine_end(rules, end, now)
    )
    return SlotsResult(
        [(s.start, s.end) for s in found],
        stale=stale,
        # Member ids are TeamMember pks (ints) here: no conversion needed per slot.
        team={(s.start, s.end): cast(tuple[int, ...], s.members) for s in found},
        member_busy=member_busy,
    )


def _start_busy(
    page: BookingPage,
    members: list[MemberSchedule],
    start: datetime,
    end: datetime,
    *,
    fresh: bool,
) -> Callable[[], tuple[dict[int, list[Interval]], bool, set[int]]]:
    """Ask Exchange for every member's busy time at once: one request per connection (the
    corporate one serves everyone attached to it), all in flight together. The returned
    function waits: (blocking intervals per member, stale, members whose busy time is
    unknown)."""
    connections = _connections(members, fresh=fresh)
    unknown = {m.id for m in members if m.user_id not in connections}
    by_connection: dict[int, list[MemberSchedule]] = defaultdict(list)
    for m in members:
        if m.user_id in connections:
            by_connection[connections[m.user_id].pk].append(m)
    pending = []
    for group in by_connection.values():
        connection = connections[group[0].user_id]
        calendars = list({ref.pk: ref for m in group for ref in m.calendars}.values())
        try:
            wait = busy.start_busy_intervals(connection, calendars, start, end, fresh=fresh)
        except ExchangeError:
            unknown.update(m.id for m in group)
            continue
        pending.append((group, wait))
    blocking = set(page.blocking_statuses)

    def answer() -> tuple[dict[int, list[Interval]], bool, set[int]]:
        found: dict[int, list[Interval]] = {}
        stale = False
        for group, wait in pending:
            try:
                result = wait()
            except ExchangeError:
                unknown.update(m.id for m in group)
                continue
            stale = stale or result.stale
            for m in group:
                found[m.id] = [
                    (b.start, b.end)
                    for ref in m.calendars
                    for b in result.intervals.get(ref.pk, [])
                    if b.status in blocking
                ]
        return found, stale, unknown

    return answer


# Which connection each member's busy time goes through, reused by slots answers for
# READINESS_CACHE_SECONDS (attaching or detaching shows within those seconds): the
# connections themselves are read on every request, so a rotated secret is used at once.
_member_connections: Memo[dict[int, int]] = Memo()


def _connections(members: list[MemberSchedule], *, fresh: bool) -> dict[int, ExchangeConnection]:
    """User id -> connection of these members (calendars.connect.connections_for): three
    queries, or one when the mapping is reused."""
    user_ids = sorted({m.user_id for m in members})
    read: dict[int, ExchangeConnection] = {}

    def mapping() -> dict[int, int]:
        read.update(connections_for(user_ids))
        return {user: conn.pk for user, conn in read.items()}

    ids = _member_connections.get(tuple(user_ids), mapping, reuse=not fresh)
    if read:
        return read
    found = ExchangeConnection.objects.in_bulk(set(ids.values()))
    if len(found) < len(set(ids.values())):
        # A connection went (replaced, say, by one to Exchange Online): read them afresh
        # rather than leave its members without busy time for those seconds.
        ids = _member_connections.get(tuple(user_ids), mapping, reuse=False)
        return read
    return {user: found[conn] for user, conn in ids.items()}


def _booked(
    page: BookingPage,
    members: Iterable[MemberSchedule],
    lo: datetime,
    hi: datetime,
    ignore_booking: Booking | None,
    *,
    reach: timedelta = taken.LIMITS_REACH,
    reuse: bool = False,
) -> dict[int, list[Booked]]:
    """Each member's (by user id) confirmed bookings on any page within `reach` of [lo, hi):
    those they own and those of team pages they attend (bookings.taken: one query for the
    whole team; `reuse` may answer from memory, never inside a booking)."""
    found = taken.rows(
        {m.user_id for m in members},
        lo,
        hi,
        ignore=ignore_booking.pk if ignore_booking is not None else None,
        fresh=not reuse,
        reach=reach,
    )
    return {
        user_id: [
            Booked(begins, ends, same_page=page_id == page.pk)
            for _pk, begins, ends, page_id in rows
        ]
        for user_id, rows in found.items()
    }


# --- Booking ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """Who a team booking goes to: round robin's candidates in the order they are tried, or
    collective's attendees (required first)."""

    order: tuple[int, ...]
    required: frozenset[int]


def team_refusal(page: BookingPage, start: datetime, now: datetime) -> Refusal:
    """Why `start` is not offered: the page's own rules (too soon, outside hours...), else
    taken. Members' limits and bookings say "taken": which member is busy is theirs."""
    rules = rules_for(page, schedule_for(page, fresh=True))
    found = refusal(rules, start=start, booked=[], now=now)
    return found if found != Refusal.OUTSIDE_HOURS or not page.members_own_hours else Refusal.TAKEN


def history(
    page: BookingPage, members: Iterable[int], now: datetime
) -> list[assignment.PastBooking]:
    """Round robin's memory: this page's confirmed bookings per member, made in the last
    year (the fairness period counts the recent ones; the rest say who was booked last)."""
    rows = BookingMember.objects.filter(
        booking__page=page,
        booking__status=BookingStatus.CONFIRMED,
        member_id__in=list(members),
        booking__created__gte=now - timedelta(days=366),
    ).values_list("member_id", "booking__created")
    return [assignment.PastBooking(member, made) for member, made in rows]


def rank(
    page: BookingPage,
    schedule: Schedule,
    free: Iterable[int],
    now: datetime,
    *,
    requested: int | None = None,
) -> tuple[int, ...]:
    """The round-robin order of the members free for a slot (bookings.assignment)."""
    hosts = [assignment.Host(m.id, tier=m.tier, weight=m.weight) for m in schedule.members]
    result = assignment.assign(
        hosts,
        free=free,
        history=history(page, [m.id for m in schedule.members], now),
        now=now,
        period=timedelta(days=page.fairness_days),
        requested=requested,
    )
    return result.order


def _lock_users(user_ids: Iterable[int]) -> None:
    # The same rows personal bookings lock (bookings.actions._lock_owner), in one fixed order:
    # a member booked on their own page and on a team page at once is serialised, and two
    # collective bookings of overlapping teams never wait on each other in a cycle.
    list(get_user_model().objects.select_for_update().filter(pk__in=set(user_ids)).order_by("pk"))


def _targets(page: BookingPage, member_ids: Iterable[int], roles: list[str]) -> list[PageCalendar]:
    return list(
        page.page_calendars.filter(member_id__in=list(member_ids), role__in=roles)
        .select_related("calendar__connection", "member")
        .order_by("-role", "id")  # main first
    )


def book(
    page: BookingPage,
    start: datetime,
    customer: Any,
    *,
    member: int | None,
    now: datetime,
    errors: Any,
) -> Booking:
    """actions.book for a team page. `errors` is bookings.actions (its exception classes and
    messages), passed in so the two modules don't import each other at load time."""
    start = start.astimezone(UTC)
    schedule = schedule_for(page, fresh=True)
    if member is not None:
        if page.team_mode != TeamMode.ROUND_ROBIN or not page.customer_picks_member:
            chosen_itself = _("This page chooses the team member itself.")
            raise errors.InvalidBooking({"member": [chosen_itself]})
        if member not in {m.id for m in schedule.members}:
            raise errors.InvalidBooking({"member": [_("Choose one of the team's members.")]})
    slot = (start, start + page.duration)
    free, member_busy = _free_for(page, slot, schedule, now, errors, ignore=None)
    members = {m.id: m for m in schedule.members}
    if page.team_mode == TeamMode.COLLECTIVE:
        return _book_together(page, slot, customer, free, members, member_busy, now, errors)
    order = rank(page, schedule, free, now, requested=member)
    if not order:
        raise errors.SlotUnavailable(NAMED_MEMBER_BUSY if member is not None else errors.TAKEN)
    for candidate in order:
        with transaction.atomic():
            _lock_users([members[candidate].user_id])
            # Inside the lock only bookings can have changed: same Exchange answer, this
            # member's bookings (on every page) re-read.
            again = team_slots(
                page,
                slot[0],
                slot[0] + timedelta(seconds=1),
                schedule=schedule,
                now=now,
                member_busy=member_busy,
                only=[candidate],
            )
            if slot not in again.slots:
                continue  # taken meanwhile: the next member in the ranking, unnoticed
            booking = _create(page, slot, customer, owner=members[candidate].user_id)
            _attend(booking, [members[candidate]], required={candidate})
            _add_writes(booking, _targets(page, [candidate], BOOKING_ROLES))
            transaction.on_commit(partial(_after, booking, "booked"))
            return booking
    raise errors.SlotUnavailable(NAMED_MEMBER_BUSY if member is not None else errors.TAKEN)


# Translated when raised (actions.BookingError).
NAMED_MEMBER_BUSY = gettext_noop(
    "That person is not available at that time any more. Please pick another time."
)
BOOKING_ROLES = [CalendarRole.MAIN, CalendarRole.ADDITIONAL]


def _book_together(
    page: BookingPage,
    slot: Interval,
    customer: Any,
    attendees: tuple[int, ...],
    members: dict[int, MemberSchedule],
    member_busy: dict[int, list[Interval]],
    now: datetime,
    errors: Any,
) -> Booking:
    with transaction.atomic():
        _lock_users(members[i].user_id for i in attendees)
        again = team_slots(
            page,
            slot[0],
            slot[0] + timedelta(seconds=1),
            schedule=schedule_for(page),
            now=now,
            member_busy=member_busy,
            only=attendees,
        )
        if slot not in again.slots or again.team is None:
            raise errors.SlotUnavailable(errors.TAKEN)
        # An optional member booked meanwhile just isn't invited.
        attending = again.team[slot]
        required = {i for i in attending if members[i].required}
        organiser = members[attending[0]]
        booking = _create(page, slot, customer, owner=organiser.user_id)
        _attend(booking, [members[i] for i in attending], required=required)
        # Collective meetings go into each attendee's main booking calendar.
        _add_writes(booking, _targets(page, attending, [CalendarRole.MAIN]))
        transaction.on_commit(lambda: _after(booking, "booked"))
    return booking


def _fresh_slot(
    page: BookingPage,
    slot: Interval,
    schedule: Schedule,
    now: datetime,
    errors: Any,
    *,
    ignore: Booking | None,
) -> SlotsResult:
    """Fresh from Exchange, outside any lock: the slow part must not hold up other bookings."""
    try:
        return team_slots(
            page,
            slot[0],
            slot[0] + timedelta(seconds=1),
            schedule=schedule,
            fresh=True,
            now=now,
            check_ready=True,
            ignore_booking=ignore,
        )
    except NotReady:
        raise errors.PageNotReady(errors.NOT_TAKING_BOOKINGS) from None
    except AvailabilityUnknown:
        raise errors.CannotConfirm(errors.CANNOT_CONFIRM) from None


def _free_for(
    page: BookingPage,
    slot: Interval,
    schedule: Schedule,
    now: datetime,
    errors: Any,
    *,
    ignore: Booking | None,
) -> tuple[tuple[int, ...], dict[int, list[Interval]]]:
    """Who is free for `slot` by fresh busy time (round robin) or attends it (collective),
    and every member's busy time for the re-check inside the lock; refused in the
    customer's words when the slot isn't offered."""
    result = _fresh_slot(page, slot, schedule, now, errors, ignore=ignore)
    free = result.team.get(slot) if result.team else None
    if free is None:
        _refuse(page, slot[0], now, errors)
    assert free is not None and result.member_busy is not None
    return free, result.member_busy


def _refuse(page: BookingPage, start: datetime, now: datetime, errors: Any) -> None:
    reason = team_refusal(page, start, now)
    raise errors.SlotUnavailable(errors.refusal_message(page, reason), reason.value)


def _create(page: BookingPage, slot: Interval, customer: Any, *, owner: int) -> Booking:
    return Booking.objects.create(
        page=page,
        owner_id=owner,
        start=slot[0],
        end=slot[1],
        timezone=customer.timezone,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        notes=customer.notes,
        answers=customer.answers,
        language=customer.language,
    )


def _attend(booking: Booking, members: list[MemberSchedule], *, required: set[int]) -> None:
    BookingMember.objects.bulk_create(
        BookingMember(booking=booking, user_id=m.user_id, member_id=m.id, required=m.id in required)
        for m in members
    )


def _add_writes(booking: Booking, targets: list[PageCalendar]) -> None:
    EventWrite.add_for(booking, targets)


def _after(booking: Booking, what: str, old_start: datetime | None = None) -> None:
    from bookings import actions

    actions._after_change(booking, what, old_start)


# --- Changes: moving a booking, another member taking it ------------------------------


def reschedule(
    booking: Booking, new_start: datetime, *, by: str, now: datetime, errors: Any
) -> Booking:
    """actions.reschedule for a team booking. Round robin keeps its member when they are
    free at the new time, else the ranking picks another (the booking moves to their
    calendars); a collective booking needs every required attendee free at the new time."""
    page = booking.page
    new_start = new_start.astimezone(UTC)
    schedule = schedule_for(page, fresh=True)
    slot = (new_start, new_start + page.duration)
    free, member_busy = _free_for(page, slot, schedule, now, errors, ignore=booking)
    members = {m.id: m for m in schedule.members}
    current = list(booking.attendees.filter(declined_at__isnull=True))
    if page.team_mode == TeamMode.COLLECTIVE:
        needed = {a.member_id for a in current if a.required}
        if not needed <= set(free):
            raise errors.SlotUnavailable(errors.TAKEN)
        order: tuple[int, ...] = ()
    else:
        host = current[0].member_id if current else None
        order = (host,) if host in free else rank(page, schedule, free, now)  # type: ignore[assignment]
        if not order:
            raise errors.SlotUnavailable(errors.TAKEN)
    for candidate in order or (None,):
        with transaction.atomic():
            ids = [a.user_id for a in current]
            if candidate is not None:
                ids.append(members[candidate].user_id)
            _lock_users(ids)
            locked = Booking.objects.select_for_update().select_related("page").get(pk=booking.pk)
            errors._check_changeable(locked, by)
            only = [a.member_id for a in current if a.member_id]
            if candidate is not None:
                only = [candidate]
            again = team_slots(
                page,
                slot[0],
                slot[0] + timedelta(seconds=1),
                schedule=schedule,
                now=now,
                member_busy=member_busy,
                only=only,
                ignore_booking=locked,
            )
            if slot not in again.slots:
                if candidate is None:
                    raise errors.SlotUnavailable(errors.TAKEN)
                continue
            old_start = locked.start
            locked.start, locked.end = slot
            locked.sequence += 1
            if candidate is not None and candidate != (current[0].member_id if current else None):
                _hand_over(locked, page, members[candidate])
            locked.save()
            locked.writes.filter(desired="present").update(
                state=WriteState.PENDING, next_attempt_at=None
            )
            transaction.on_commit(partial(_after, locked, "rescheduled", old_start))
            return locked
    raise errors.SlotUnavailable(errors.TAKEN)


def _hand_over(booking: Booking, page: BookingPage, to: MemberSchedule) -> None:
    """A round-robin booking changes hands: the old member's events are removed (their
    writes converge to absent), the new member's calendars get it. Inside the caller's
    transaction, with both members locked."""
    booking.writes.filter(desired="present").update(
        desired="absent", state=WriteState.PENDING, next_attempt_at=None
    )
    booking.attendees.all().delete()
    taken.changed([booking.owner_id])  # their time is theirs again
    booking.owner_id = to.user_id
    _attend(booking, [to], required={to.id})
    for pc in _targets(page, [to.id], BOOKING_ROLES):
        cal = pc.calendar
        EventWrite.objects.update_or_create(
            booking=booking,
            owner_email=cal.owner_email,
            folder_id=cal.folder_id,
            defaults={
                "calendar": cal,
                "connection_id": cal.connection_id,
                "calendar_name": cal.name,
                "role": pc.role,
                "member_user_id": to.user_id,
                "desired": "present",
                "state": WriteState.PENDING,
                "next_attempt_at": None,
            },
        )


def reassign(
    booking: Booking,
    *,
    to: int | None = None,
    exclude: Collection[int] = (),
    now: datetime | None = None,
    gone: Collection[int] = (),
) -> int | None:
    """Give a round-robin booking to another member free at its time: `to` (staff chose, a
    TeamMember pk) or the ranking's first, leaving out `exclude` (who gave it up). Checked
    against fresh busy time and, inside the lock, the new member's bookings. Returns the new
    member's pk, or None when nobody is free (the booking is left as it was). `gone`: writes
    (pks) whose events the old member already deleted in Outlook (sync back): they end
    absent without being deleted again."""
    now = now or timezone.now()
    page = booking.page
    schedule = schedule_for(page, fresh=True)
    slot = (booking.start, booking.end)
    current = {a.member_id for a in booking.attendees.all()}
    members = {m.id: m for m in schedule.members}
    # Only members who can take bookings now (a main calendar the connection may write to):
    # anyone else would hold the booking with no event in any calendar.
    problems = member_problems(page, schedule)
    candidates = [
        m.id
        for m in schedule.members
        if m.id not in current
        and m.id not in exclude
        and (to is None or m.id == to)
        and not problems.get(m.id)
    ]
    if not candidates:
        return None
    # Time rules (notice, hours) don't bind a booking that already exists: only whether the
    # member is free. So the check is on their busy time and bookings, at the slot itself.
    wait = _start_busy(page, [members[i] for i in candidates], *_day_span(slot), fresh=True)
    found, _, unknown = wait()
    free = [
        i
        for i in candidates
        if i not in unknown and _is_free(page, members[i], found, slot, booking)
    ]
    order = rank(page, schedule, free, now, requested=to) if free else ()
    for candidate in order:
        with transaction.atomic():
            _lock_users([members[candidate].user_id, booking.owner_id])
            locked = Booking.objects.select_for_update().get(pk=booking.pk)
            if locked.is_cancelled or not _is_free(page, members[candidate], found, slot, locked):
                continue
            old_owner = locked.owner_id
            _hand_over(locked, page, members[candidate])
            locked.sequence += 1
            locked.save()
            if gone:
                locked.writes.filter(pk__in=list(gone)).update(
                    desired="absent", item_id="", state=WriteState.DONE
                )
            transaction.on_commit(partial(_after_reassign, locked, old_owner))
            return candidate
    return None


def _day_span(slot: Interval) -> tuple[datetime, datetime]:
    return _utc_midnight(slot[0]), _utc_midnight(slot[1]) + timedelta(days=1)


def _is_free(
    page: BookingPage,
    member: MemberSchedule,
    busy_by_member: dict[int, list[Interval]],
    slot: Interval,
    ignore: Booking,
) -> bool:
    s, e = slot
    if any(b < e and a > s for b, a in busy_by_member.get(member.id, [])):
        return False
    # Only an overlap with the slot itself matters here.
    booked = _booked(page, [member], s, e, ignore, reach=timedelta(0)).get(member.user_id, [])
    return not any(b.start < e and b.end > s for b in booked)


def _after_reassign(booking: Booking, old_owner: int) -> None:
    from bookings import tasks

    busy.invalidate(booking.writes.values_list("owner_email", flat=True))
    tasks.enqueue_writes(booking)
    # The customer and both members are told; `previous` carries who had it.
    tasks.send_booking_emails(str(booking.pk), "reassigned", str(old_owner))


def member_load(page: BookingPage, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each member's share as round robin sees it: bookings made in the fairness period,
    their weight, and when they were last booked (the staff page's fairness table)."""
    now = now or timezone.now()
    since = now - timedelta(days=page.fairness_days)
    members = list(page.members.select_related("user"))
    past = history(page, [m.pk for m in members], now)
    # Every member's upcoming bookings in one grouped query, not one count per member.
    upcoming = dict(
        BookingMember.objects.filter(
            member__in=members, booking__status=BookingStatus.CONFIRMED, booking__start__gt=now
        )
        .values_list("member_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    rows = []
    for m in members:
        mine = [b.made for b in past if b.member == m.pk]
        rows.append(
            {
                "member": m,
                "recent": sum(1 for made in mine if made >= since),
                "last": max(mine, default=None),
                "upcoming": upcoming.get(m.pk, 0),
            }
        )
    return rows


# --- Changes made in Outlook by a member (two-way sync; see bookings/syncback.py) -------


def deleted_in_outlook(booking: Booking, write: EventWrite, now: datetime | None = None) -> str:
    """The member whose main calendar `write` is deleted their event of a team booking.

    Round robin: another member free at that time takes it (bookings.team.reassign, which
    tells the customer and both members), else it is cancelled. Collective: a required
    attendee (the organiser is one) gone cancels the meeting for everyone; an optional one
    has declined, and the meeting goes on without them. Returns what happened: "reassigned",
    "cancelled" or "declined"."""
    from bookings import actions

    now = now or timezone.now()
    attendee = booking.attendees.select_related("user").filter(user_id=write.member_user_id).first()
    who = attendee.name if attendee is not None else "A team member"
    if booking.page.team_mode == TeamMode.ROUND_ROBIN:
        if attendee is not None:
            exclude = {attendee.member_id} if attendee.member_id else set()
            if reassign(booking, exclude=exclude, now=now, gone=[write.pk]) is not None:
                return "reassigned"
            if _others_unknown(booking, exclude):
                # Nobody free, or Exchange didn't say? Cancelling on a guess would tell the
                # customer their booking is gone; the next run asks again.
                raise ExchangeError(
                    _(
                        "Couldn't read whether another member of %(page)s is free to take a "
                        "booking whose event was deleted; trying again next time."
                    )
                    % {"page": repr(booking.page.title)}
                )
        reason = f"{who} deleted the event from their calendar, and no other member was free."
    elif (
        attendee is not None and not attendee.required and write.member_user_id != booking.owner_id
    ):
        _decline(booking, attendee, write, now)
        return "declined"
    else:
        reason = f"{who} deleted the event from their calendar."
    actions.cancel_from_exchange(booking, gone=write, reason=reason)
    return "cancelled"


def _others_unknown(booking: Booking, exclude: Collection[int]) -> bool:
    """Whether the busy time of a member who might have taken `booking` couldn't be read."""
    page = booking.page
    current = {a.member_id for a in booking.attendees.all()}
    schedule = schedule_for(page, fresh=True)
    problems = member_problems(page, schedule)
    others = [
        m
        for m in schedule.members
        if m.id not in current and m.id not in exclude and not problems.get(m.id)
    ]
    if not others:
        return False
    _, _, unknown = _start_busy(
        page, others, *_day_span((booking.start, booking.end)), fresh=True
    )()
    return bool(unknown)


def _decline(booking: Booking, attendee: BookingMember, write: EventWrite, now: datetime) -> None:
    """An optional attendee is out of the meeting: their time is theirs again, their event is
    already gone, and nobody else's event changes (no new sequence, no emails)."""
    with transaction.atomic():
        locked = Booking.objects.select_for_update().get(pk=booking.pk)
        if locked.is_cancelled:
            return
        BookingMember.objects.filter(pk=attendee.pk, declined_at__isnull=True).update(
            declined_at=now
        )
        taken.changed([attendee.user_id])  # an update sends no signal
        locked.writes.filter(pk=write.pk).update(
            desired="absent", item_id="", state=WriteState.DONE
        )
        # Any other copy of theirs (not the event they deleted) goes too.
        others = locked.writes.filter(member_user_id=attendee.user_id, desired="present")
        others.exclude(pk=write.pk).update(
            desired="absent", state=WriteState.PENDING, next_attempt_at=None
        )
        transaction.on_commit(partial(_after_decline, locked, write.owner_email))


def _after_decline(booking: Booking, owner_email: str) -> None:
    from bookings import tasks

    busy.invalidate([owner_email])  # free again for other bookings
    tasks.enqueue_writes(booking)


def moved_in_outlook(booking: Booking, write: EventWrite, start: datetime, end: datetime) -> str:
    """The member whose main calendar `write` is moved their event of a team booking. The
    booking's owner (round robin's member, a collective meeting's organiser) decides for
    everyone: the booking follows (bookings.actions.move_from_exchange). Another attendee
    moving their own copy decides only for themselves: the booking stays, and staff see on
    it who moved theirs. Returns "moved" or "conflict"."""
    from bookings import actions

    if write.member_user_id in (None, booking.owner_id):
        actions.move_from_exchange(booking, start, end, moved=write)
        return "moved"
    attendee = booking.attendees.select_related("user").filter(user_id=write.member_user_id)
    found = attendee.first()
    who = found.name if found is not None else "A team member"
    local = start.astimezone(ZoneInfo(booking.page.timezone))
    conflict = (
        f"{who} moved their copy of this booking in {write.target_label} to "
        f"{local:%a %d %b %H:%M} ({booking.page.timezone}). The booking stays at its time for "
        "the customer and everyone else; ask them to move it back, or move the booking."
    )
    Booking.objects.filter(pk=booking.pk).update(conflict=conflict[:500])
    return "conflict"

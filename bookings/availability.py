"""Which slots are free: a pure function over intervals. No ORM, no I/O, no clock.

Everything it needs comes in as arguments (the page's rules, busy intervals already filtered
to the statuses that block, the owner's existing bookings, and "now"), so it can be tested
exhaustively with hypothesis and benchmarked on its own.

Rules, as a customer and a page owner would state them:
- Slots start at the beginning of each availability range (weekly hours, or the date's
  override) and every `interval` after it, in the page's time zone; a slot must end by the
  range's end. Ranges are wall-clock times in the page's zone, turned into absolute instants
  once per day, so a DST change inside a range simply makes that range shorter or longer.
  A range boundary the clocks skip (spring forward) is the moment they skip it; one they
  show twice (fall back) is its first occurrence.
- A slot is free when [start - buffer_before, end + buffer_after) touches no busy interval
  and no existing booking of the owner (on any of their pages).
- It must start at least `min_notice` after now, and on a page-local date before
  today + window_days (window 1 = today only).
- A page-local day (or Monday-based week) that already holds max_per_day (max_per_week)
  bookings of this page offers nothing more.

Team pages (round robin, collective) run these rules once per member and combine the
answers: see "Team pages" at the end.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Rules:
    zone: str  # IANA name of the page's time zone
    duration: timedelta
    interval: timedelta
    weekly: Mapping[int, Sequence[tuple[time, time]]]  # weekday (0 = Monday) -> ranges
    overrides: Mapping[date, Sequence[tuple[time, time]]] = field(default_factory=dict)
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    min_notice: timedelta = timedelta(0)
    window_days: int = 60
    max_per_day: int | None = None
    max_per_week: int | None = None
    # The zone `weekly` is wall-clock in when not the page's: the owner's Outlook working
    # hours are in the owner's zone on each of the owner's dates (overrides stay page-local).
    hours_zone: str | None = None

    @property
    def margin(self) -> timedelta:
        """How far beyond a range a slot starting in it reaches, with its buffers: the busy
        time and bookings that can matter to the range's slots lie within it."""
        return self.buffer_before + self.buffer_after + self.duration

    @property
    def limited(self) -> bool:
        """Whether bookings are counted per day or week."""
        return self.max_per_day is not None or self.max_per_week is not None


@dataclass(frozen=True)
class Booked:
    """An existing booking of the page's owner. `same_page` bookings count towards limits."""

    start: datetime
    end: datetime
    same_page: bool = True


def free_slots(
    rules: Rules,
    *,
    busy: Iterable[Interval],
    booked: Iterable[Booked] = (),
    now: datetime,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """Free slots whose start lies in [start, end), as sorted (start, end) pairs in UTC.

    Runs in O((n + s) log n) for n busy intervals and bookings and s candidate starts: the
    blocking intervals are merged once and each candidate is one binary search.
    """
    grid = _grid(rules, now=now, start=start, end=end)
    return _pick(rules, grid, busy=busy, booked=booked, now=now, start=start, end=end)


# A candidate start: (start, start - buffer_before, end + buffer_after, the page-local date
# it counts on for the limits).
Candidate = tuple[datetime, datetime, datetime, date]


def _grid(rules: Rules, *, now: datetime, start: datetime, end: datetime) -> list[Candidate]:
    """Every start the hours, overrides, notice and window allow, sorted: what free_slots
    offers before busy time, bookings and limits. A team's members who share the page's
    hours share one grid (_free_by_member), so it is built once, not once per member."""
    if rules.duration <= timedelta(0) or rules.interval <= timedelta(0):
        # A zero interval would never leave the loop below.
        raise ValueError("A slot's duration and interval must be positive.")
    zone = ZoneInfo(rules.zone)
    earliest = max(start, now + rules.min_notice)
    today = now.astimezone(zone).date()
    last_day = today + timedelta(days=rules.window_days - 1)
    first_day = max(start.astimezone(zone).date() - timedelta(days=1), today)
    final_day = min((end.astimezone(zone)).date(), last_day)
    before, after = rules.buffer_before, rules.duration + rules.buffer_after

    def candidates(lo: datetime, hi: datetime) -> Iterable[datetime]:
        slot = lo
        if slot < earliest:
            # Jump to the first aligned start not before `earliest` instead of walking there.
            slot += -((lo - earliest) // rules.interval) * rules.interval
        while slot + rules.duration <= hi and slot < end:
            yield slot
            slot += rules.interval

    # Keyed by start: overlapping ranges (weekly rows are not checked against each other)
    # must not offer the same slot twice.
    found: dict[datetime, Candidate] = {}
    foreign = rules.hours_zone is not None and rules.hours_zone != rules.zone
    day = first_day
    while day <= final_day:
        ranges = rules.overrides.get(day)
        if ranges is None:
            ranges = () if foreign else rules.weekly.get(day.weekday(), ())
        for lo, hi in _instants(day, ranges, zone):
            for slot in candidates(lo, hi):
                found[slot] = (slot, slot - before, slot + after, day)
        day += timedelta(days=1)
    if foreign:
        # Weekly hours in another zone: each of its dates that can reach the page's days (zones
        # differ by at most a day) gives ranges; a slot belongs to the page-local date it
        # starts on, where an override replaces the weekly hours and the limits count.
        hours_zone = ZoneInfo(rules.hours_zone)  # type: ignore[arg-type]
        there = first_day - timedelta(days=1)
        while there <= final_day + timedelta(days=1):
            weekly = rules.weekly.get(there.weekday(), ())
            for lo, hi in _instants(there, weekly, hours_zone):
                for slot in candidates(lo, hi):
                    here = slot.astimezone(zone).date()
                    if first_day <= here <= final_day and here not in rules.overrides:
                        found[slot] = (slot, slot - before, slot + after, here)
            there += timedelta(days=1)
    return [found[slot] for slot in sorted(found)]


def _pick(
    rules: Rules,
    grid: list[Candidate],
    *,
    busy: Iterable[Interval],
    booked: Iterable[Booked],
    now: datetime,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """The grid's starts that busy time, bookings and the daily/weekly limits leave free."""
    zone = ZoneInfo(rules.zone)
    booked = list(booked)
    earliest = max(start, now + rules.min_notice)
    # Only intervals that can touch a widened slot starting in [earliest, end) matter; dropping
    # the rest first keeps a caller's generous busy list from costing a sort.
    reach_lo = earliest - rules.buffer_before
    reach_hi = end + rules.duration + rules.buffer_after
    blocked = _merge(
        [(s, e) for s, e in busy if e > reach_lo and s < reach_hi]
        + [(b.start, b.end) for b in booked if b.end > reach_lo and b.start < reach_hi]
    )
    blocked_starts = [s for s, _ in blocked]

    per_day: Counter[date] = Counter()
    per_week: Counter[date] = Counter()
    for b in booked:
        if b.same_page:
            day = b.start.astimezone(zone).date()
            per_day[day] += 1
            per_week[_monday(day)] += 1
    limited = rules.limited

    def full(day: date) -> bool:
        return (rules.max_per_day is not None and per_day[day] >= rules.max_per_day) or (
            rules.max_per_week is not None and per_week[_monday(day)] >= rules.max_per_week
        )

    duration = rules.duration
    return [
        (slot, slot + duration)
        for slot, lo, hi, day in grid
        if not (limited and full(day)) and _is_free(lo, hi, blocked, blocked_starts)
    ]


def _instants(day: date, ranges: Iterable[tuple[time, time]], zone: ZoneInfo) -> Iterable[Interval]:
    """Wall-clock ranges of `day` in `zone` as UTC instants; an end of 00:00 is midnight at the
    end of the day."""
    for range_start, range_end in ranges:
        lo = _instant(day, range_start, zone)
        hi = _instant(day + timedelta(days=1) if range_end == time(0) else day, range_end, zone)
        yield lo, hi


def _instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A page-local wall-clock time as a UTC instant: the first moment the page's clocks show
    that time or later. An ambiguous time (clocks going back) is its first occurrence; a time
    skipped by a DST change is the moment of the change, just after the gap, which is where a
    person expects a range starting (or ending) in the gap to begin (or end)."""
    local = datetime.combine(day, wall, tzinfo=zone)
    instant = local.astimezone(UTC)
    target = local.replace(tzinfo=None)
    if instant.astimezone(zone).replace(tzinfo=None) == target:
        return instant
    # In a gap, fold=1 reads the wall time with the offset after the change (an instant before
    # it) and fold=0 with the offset before (an instant after it, by the gap's length). The
    # change lies between; zoneinfo has no public list of transitions, so bisect on whole
    # seconds (tzdata's transitions are whole seconds): ~13 steps for an hour's gap.
    lo = math.floor(local.replace(fold=1).timestamp())  # the clocks still show less than `wall`
    hi = math.ceil(instant.timestamp())  # the clocks show `wall` or more
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of the intervals (empty ones dropped)."""
    merged: list[Interval] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _is_free(s: datetime, e: datetime, blocked: list[Interval], starts: list[datetime]) -> bool:
    # The only merged interval that can overlap [s, e) is the last one starting before e.
    i = bisect.bisect_left(starts, e) - 1
    return i < 0 or blocked[i][1] <= s


class Refusal(StrEnum):
    """Why a start time is not a free slot, checked in this order: the first rule it breaks."""

    TOO_SOON = "too_soon"  # before now + minimum notice (or in the past)
    TOO_FAR = "too_far"  # on a page-local date after the booking window
    OUTSIDE_HOURS = "outside_hours"  # the slot doesn't lie within the day's hours
    OFF_GRID = "off_grid"  # within the hours, but not one of the interval's start times
    DAY_FULL = "day_full"  # the page already has max_per_day bookings that day
    WEEK_FULL = "week_full"  # ... or max_per_week that (Monday-based) week
    TAKEN = "taken"  # every rule allows it: busy time, a booking or their buffers are in the way


def refusal(rules: Rules, *, start: datetime, booked: Iterable[Booked], now: datetime) -> Refusal:
    """Why `start` is not among free_slots(rules, ...), for a start that isn't: the same rules,
    asked one at a time so a customer can be told which one. Busy time is not needed: a start
    every other rule allows was refused because something is in the way."""
    zone = ZoneInfo(rules.zone)
    if start < now + rules.min_notice:
        return Refusal.TOO_SOON
    day = start.astimezone(zone).date()
    if day > now.astimezone(zone).date() + timedelta(days=rules.window_days - 1):
        return Refusal.TOO_FAR
    end = start + rules.duration
    fits = [lo for lo, hi in _ranges_of(rules, day, zone) if lo <= start and end <= hi]
    if not fits:
        return Refusal.OUTSIDE_HOURS
    if not any((start - lo) % rules.interval == timedelta(0) for lo in fits):
        return Refusal.OFF_GRID
    same_page = [b.start.astimezone(zone).date() for b in booked if b.same_page]
    if rules.max_per_day is not None and same_page.count(day) >= rules.max_per_day:
        return Refusal.DAY_FULL
    week = _monday(day)
    in_week = sum(_monday(d) == week for d in same_page)
    if rules.max_per_week is not None and in_week >= rules.max_per_week:
        return Refusal.WEEK_FULL
    return Refusal.TAKEN


def _ranges_of(rules: Rules, day: date, zone: ZoneInfo) -> list[Interval]:
    """The availability ranges slots starting on page-local `day` come from, as free_slots
    builds them: the date's override, else the weekly hours (in the owner's zone, from the
    dates there that can reach `day`)."""
    ranges = rules.overrides.get(day)
    if ranges is not None:
        return list(_instants(day, ranges, zone))
    if rules.hours_zone is not None and rules.hours_zone != rules.zone:
        hours_zone = ZoneInfo(rules.hours_zone)
        return [
            interval
            for there in (day - timedelta(days=1), day, day + timedelta(days=1))
            for interval in _instants(there, rules.weekly.get(there.weekday(), ()), hours_zone)
        ]
    return list(_instants(day, rules.weekly.get(day.weekday(), ()), zone))


# --- Team pages ------------------------------------------------------------------------------
#
# A team page offers the slots of several members. Each member's free slots come from the same
# free_slots above, run on the page's rules adjusted to that member (member_rules), so every
# rule a one-person page follows holds for each member without being restated here. The team
# rules only combine those per-member answers:
# - Round robin: a slot is offered when at least one member is free for it, and carries every
#   member free for it, so the booking code can assign one (bookings.assignment).
# - Collective: a slot is offered when every required member is free for it, and carries its
#   attendees: the required members and the optional ones free for it.
# A slot is one exact (start, end) pair: members whose hours start at different times (their
# own hours, in their own zone) have different grids, and only the pairs they share combine.

MemberId = int | str


@dataclass(frozen=True)
class Member:
    """A team page's member as the slot rules see them: their own busy time and bookings, and
    what they may change about the page's rules."""

    id: MemberId
    busy: Sequence[Interval] = ()  # already filtered to the statuses that block, as for a page
    # The member's existing bookings; `same_page` ones (this team page, whether they were
    # assigned or attended) count towards the limits.
    booked: Sequence[Booked] = ()
    # The member's own weekly hours, when the page lets members' hours differ from its own (the
    # caller decides; None: the page's hours). The page's date overrides still apply on top:
    # a page closed for a holiday is closed for everyone.
    weekly: Mapping[int, Sequence[tuple[time, time]]] | None = None
    # The zone `weekly` is wall-clock in (their Outlook zone); None: the page's zone. Only read
    # with `weekly`: the page's hours stay in the page's own hours_zone.
    hours_zone: str | None = None
    # The member's own limits. They tighten the page's (which apply to each member on their
    # own: a member with max_per_day bookings of this page that day is offered no more), never
    # loosen them, so a page owner's cap always holds.
    max_per_day: int | None = None
    max_per_week: int | None = None
    required: bool = True  # collective pages only: an optional member joins when free


@dataclass(frozen=True)
class TeamSlot:
    start: datetime
    end: datetime
    # Round robin: the members free for it, who can be assigned. Collective: the attendees,
    # the required members and then the free optional ones. Either way in the team's order.
    members: tuple[MemberId, ...]


def member_rules(rules: Rules, member: Member) -> Rules:
    """The page's rules as they apply to one member: their own hours and tighter limits."""
    changes: dict[str, object] = {
        "max_per_day": _tighter(rules.max_per_day, member.max_per_day),
        "max_per_week": _tighter(rules.max_per_week, member.max_per_week),
    }
    if member.weekly is not None:
        changes["weekly"] = member.weekly
        changes["hours_zone"] = member.hours_zone
    return replace(rules, **changes)  # type: ignore[arg-type]


def member_free_slots(
    rules: Rules, member: Member, *, now: datetime, start: datetime, end: datetime
) -> list[Interval]:
    """One member's free slots on a team page: free_slots on their rules, busy time, bookings."""
    return free_slots(
        member_rules(rules, member),
        busy=member.busy,
        booked=member.booked,
        now=now,
        start=start,
        end=end,
    )


def round_robin_slots(
    rules: Rules, members: Sequence[Member], *, now: datetime, start: datetime, end: datetime
) -> list[TeamSlot]:
    """Slots starting in [start, end) that at least one member is free for, sorted, each with
    the members free for it. `required` plays no part: any one member can take the meeting."""
    free = _free_by_member(rules, members, now=now, start=start, end=end)
    offered = sorted(set().union(*free.values()))
    return [
        TeamSlot(s, e, tuple(m.id for m in members if (s, e) in free[m.id])) for s, e in offered
    ]


def collective_slots(
    rules: Rules, members: Sequence[Member], *, now: datetime, start: datetime, end: datetime
) -> list[TeamSlot]:
    """Slots starting in [start, end) that every required member is free for, sorted, each with
    its attendees. A team without a required member is refused: "everyone required is free"
    would then hold at every instant, offering meetings nobody attends."""
    required = [m for m in members if m.required]
    if not required:
        raise ValueError("A collective page needs at least one required member.")
    free = _free_by_member(rules, members, now=now, start=start, end=end)
    offered = sorted(set.intersection(*(free[m.id] for m in required)))
    return [
        TeamSlot(s, e, tuple(m.id for m in members if m.required or (s, e) in free[m.id]))
        for s, e in offered
    ]


def _free_by_member(
    rules: Rules, members: Sequence[Member], *, now: datetime, start: datetime, end: datetime
) -> dict[MemberId, set[Interval]]:
    ids = [m.id for m in members]
    if len(set(ids)) != len(ids):
        # Attribution is by id: two members with one id would merge into one person.
        raise ValueError("Team members' ids must be unique.")
    # Members on the same hours (the page's, unless they have their own) share one grid:
    # building it is most of free_slots' work, and with it once a team of twenty costs little
    # more than one person.
    grids: dict[tuple[int, str | None], list[Candidate]] = {}
    free: dict[MemberId, set[Interval]] = {}
    for m in members:
        theirs = member_rules(rules, m)
        key = (id(theirs.weekly), theirs.hours_zone)
        if key not in grids:
            grids[key] = _grid(theirs, now=now, start=start, end=end)
        picked = _pick(
            theirs, grids[key], busy=m.busy, booked=m.booked, now=now, start=start, end=end
        )
        free[m.id] = set(picked)
    return free


def _tighter(page: int | None, member: int | None) -> int | None:
    if page is None:
        return member
    if member is None:
        return page
    return min(page, member)

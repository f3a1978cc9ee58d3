"""Which slots are free: a pure function over intervals. No ORM, no I/O, no clock.

Everything it needs comes in as arguments (the page's rules, busy intervals already filtered
to the statuses that block, the owner's existing bookings, and "now"), so it can be tested
exhaustively with hypothesis and benchmarked on its own.

Rules, as a customer and a page owner would state them:
- Slots start at the beginning of each availability range (weekly hours, or the date's
  override) and every `interval` after it, in the page's time zone; a slot must end by the
  range's end. Ranges are wall-clock times in the page's zone, turned into absolute instants
  once per day, so a DST change inside a range simply makes that range shorter or longer.
- A slot is free when [start - buffer_before, end + buffer_after) touches no busy interval
  and no existing booking of the owner (on any of their pages).
- It must start at least `min_notice` after now, and on a page-local date before
  today + window_days (window 1 = today only).
- A page-local day (or Monday-based week) that already holds max_per_day (max_per_week)
  bookings of this page offers nothing more.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
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
    """Free slots whose start lies in [start, end), as sorted (start, end) pairs in UTC."""
    zone = ZoneInfo(rules.zone)
    booked = list(booked)
    blocked = _merge([(s, e) for s, e in busy] + [(b.start, b.end) for b in booked])
    blocked_starts = [s for s, _ in blocked]

    per_day: Counter[date] = Counter()
    per_week: Counter[date] = Counter()
    for b in booked:
        if b.same_page:
            day = b.start.astimezone(zone).date()
            per_day[day] += 1
            per_week[_monday(day)] += 1

    earliest = max(start, now + rules.min_notice)
    today = now.astimezone(zone).date()
    last_day = today + timedelta(days=rules.window_days - 1)
    first_day = max(start.astimezone(zone).date() - timedelta(days=1), today)
    final_day = min((end.astimezone(zone)).date(), last_day)

    slots: list[Interval] = []
    day = first_day
    while day <= final_day:
        if (rules.max_per_day is not None and per_day[day] >= rules.max_per_day) or (
            rules.max_per_week is not None and per_week[_monday(day)] >= rules.max_per_week
        ):
            day += timedelta(days=1)
            continue
        ranges = rules.overrides.get(day)
        if ranges is None:
            ranges = rules.weekly.get(day.weekday(), ())
        for range_start, range_end in ranges:
            lo = _instant(day, range_start, zone)
            hi = _instant(day + timedelta(days=1) if range_end == time(0) else day, range_end, zone)
            slot = lo
            while slot + rules.duration <= hi:
                if earliest <= slot < end and _is_free(
                    slot - rules.buffer_before,
                    slot + rules.duration + rules.buffer_after,
                    blocked,
                    blocked_starts,
                ):
                    slots.append((slot, slot + rules.duration))
                slot += rules.interval
        day += timedelta(days=1)
    slots.sort()
    return slots


def _instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A page-local wall-clock time as a UTC instant. A time skipped by a DST change maps to
    the instant it would have been before the change (zoneinfo's fold=0), i.e. just after the
    gap, which is where a person would expect a range starting in the gap to begin."""
    local = datetime.combine(day, wall, tzinfo=zone)
    return local.astimezone(UTC)


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

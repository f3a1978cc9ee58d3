"""The availability engine's answers, reused while its inputs are the same.

bookings.availability is a pure function of the page's rules, busy time, bookings, "now" and
the range. A slots answer served from the busy-time cache gives it the same inputs request
after request (the same cached busy time, the same bookings), differing only in "now", and
for a twenty-member team the engine was a third of such an answer's CPU. So its answer is
kept per process, keyed by everything it reads, and reused exactly:

- "now" is not in the key. It matters in two ways only: slots must start at least
  `min_notice` after it (an answer computed a little earlier holds every slot a later "now"
  allows and a few more at its start, which are dropped on reuse), and the booking window
  counts page-local days from today (today's date is in the key). An answer computed at a
  later "now" than the caller's is never reused (a clock moved back, as in tests).
- The range's end goes into the key as the caller gives it, unless it is the booking
  window's moving edge (now + window + 1 day, which moves every second): that edge is
  rounded up to the next whole UTC day, which changes nothing, as the engine stops at the
  window's last page-local day, which ends before either.

Busy time and bookings are in the key by value (a few hundred intervals hash in well under a
millisecond), so a booking, a cancellation or a new answer from Exchange is a new key: no
invalidation to forget. Entries go least recently used first, as in bookings.memo.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from bookings import availability
from bookings.availability import Booked, Interval, Member, Rules, TeamSlot

KEPT = 500  # answers per process; a 20-member week is ~200 slots of a few tuples each

T = TypeVar("T", Interval, TeamSlot)

_kept: OrderedDict[Hashable, tuple[datetime, list]] = OrderedDict()
_lock = threading.Lock()


def window_end(rules: Rules, now: datetime) -> datetime:
    """Where callers cut a range at the booking window: past its last page-local day, and the
    same all day (the next UTC midnight but one after now + window), so it can be a key."""
    edge = now + timedelta(days=rules.window_days + 1)
    return edge.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=1
    )


def free_slots(
    rules: Rules,
    *,
    busy: Iterable[Interval],
    booked: Iterable[Booked],
    now: datetime,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """availability.free_slots, reused (see the module's docstring)."""
    busy, booked = tuple(busy), tuple(booked)
    key = ("one", _rules_key(rules), busy, booked)

    def compute(at: datetime) -> list[Interval]:
        return availability.free_slots(
            rules, busy=busy, booked=booked, now=at, start=start, end=end
        )

    return _reuse(key, rules, now, start, end, compute, lambda slot: slot[0])


def team_slots(
    collective: bool,
    rules: Rules,
    members: Sequence[Member],
    *,
    now: datetime,
    start: datetime,
    end: datetime,
) -> list[TeamSlot]:
    """availability.collective_slots or round_robin_slots, reused."""
    key = ("team", collective, _rules_key(rules), tuple(_member_key(m) for m in members))
    combine = availability.collective_slots if collective else availability.round_robin_slots

    def compute(at: datetime) -> list[TeamSlot]:
        return combine(rules, members, now=at, start=start, end=end)

    return _reuse(key, rules, now, start, end, compute, lambda slot: slot.start)


def _reuse(
    key: tuple,
    rules: Rules,
    now: datetime,
    start: datetime,
    end: datetime,
    compute: Callable[[datetime], list[T]],
    starts: Callable[[T], datetime],
) -> list[T]:
    today = now.astimezone(ZoneInfo(rules.zone)).date()
    full_key = (*key, start, end, today)
    with _lock:
        kept = _kept.get(full_key)
        if kept is not None:
            _kept.move_to_end(full_key)
    if kept is not None and kept[0] <= now:
        earliest = now + rules.min_notice
        return [slot for slot in kept[1] if starts(slot) >= earliest]
    found = compute(now)
    with _lock:
        _kept[full_key] = (now, found)
        _kept.move_to_end(full_key)
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return list(found)


def _rules_key(rules: Rules) -> tuple:
    return (
        rules.zone,
        rules.duration,
        rules.interval,
        _hours_key(rules.weekly),
        _hours_key(rules.overrides),
        rules.buffer_before,
        rules.buffer_after,
        rules.min_notice,
        rules.window_days,
        rules.max_per_day,
        rules.max_per_week,
        rules.hours_zone,
    )


def _hours_key(hours: object) -> tuple | None:
    if hours is None:
        return None
    return tuple(
        sorted((day, tuple(tuple(r) for r in ranges)) for day, ranges in hours.items())  # type: ignore[attr-defined]
    )


def _member_key(m: Member) -> tuple:
    return (
        m.id,
        tuple(m.busy),
        tuple(m.booked),
        _hours_key(m.weekly),
        m.hours_zone,
        m.max_per_day,
        m.max_per_week,
        m.required,
    )


def clear() -> None:
    """Forget every answer (tests that compare the engine with itself)."""
    with _lock:
        _kept.clear()

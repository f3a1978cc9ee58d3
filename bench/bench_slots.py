"""How long the pure slot function takes on a heavy page, in absolute and relative terms.

Run: ``.venv/bin/python bench/bench_slots.py [--repeat 5]``. The scenario: a page open
Monday to Friday 08:00-18:00 (Europe/London, so two time zones' worth of arithmetic), 30-minute
slots every 15 minutes, 90 days ahead, fed by 10 calendars with 5,000 busy intervals each
(50,000 in all, spread over the 90 days, 15 minutes to 2 hours long).

It prints, best of --repeat runs:

(a) one ``free_slots`` call over the 90 days: time, candidate starts checked per second and
    slots found (so many intervals leave few free slots: every candidate is still checked);
(b) the baseline: ``sorted()`` of the same 50,000 busy intervals, the least any exact
    answer has to do with unsorted input, and (a)/(b), a figure that means the same on any
    machine;
(c) the same call with a tenth of the intervals, and how much longer ten times the input
    takes (about 10 for n log n work; about 100 would mean quadratic work);
(d) 90 one-day calls each handed all 50,000 intervals, the way a careless caller would ask
    day by day: intervals outside the asked day are dropped before sorting, so this costs a
    linear scan per call rather than a sort.

Nothing here imports Django: bookings.availability is a pure module.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bookings.availability import Interval, Rules, free_slots

DAYS = 90
CALENDARS = 10
BUSY_PER_CALENDAR = 5_000
NOW = datetime(2027, 3, 1, tzinfo=UTC)  # a Monday; the range crosses London's March change
PAGE = Rules(
    zone="Europe/London",
    duration=timedelta(minutes=30),
    interval=timedelta(minutes=15),
    weekly={day: [(wall(8), wall(18))] for day in range(5)},
    window_days=DAYS,
)


def busy_intervals(calendars: int, per_calendar: int, seed: int = 2027) -> list[Interval]:
    """Each calendar's events at random 5-minute marks over the 90 days, in no order."""
    rng = random.Random(seed)
    lengths = [15, 30, 30, 45, 60, 60, 90, 120]
    out = []
    for _ in range(calendars * per_calendar):
        start = NOW + timedelta(minutes=5 * rng.randrange(DAYS * 24 * 12))
        out.append((start, start + timedelta(minutes=rng.choice(lengths))))
    return out


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def candidates() -> int:
    """Aligned starts on the page's open days in the 90 days, free or not."""
    empty = free_slots(
        PAGE, busy=[], now=NOW, start=NOW, end=NOW + timedelta(days=DAYS)
    )  # with nothing busy, every candidate is a slot
    return len(empty)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; best is kept")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)

    busy = busy_intervals(CALENDARS, BUSY_PER_CALENDAR)
    tenth = busy[: len(busy) // 10]
    end = NOW + timedelta(days=DAYS)

    def call(intervals: list[Interval]) -> list[Interval]:
        return free_slots(PAGE, busy=intervals, now=NOW, start=NOW, end=end)

    checked = candidates()
    found = len(call(busy))
    full = best_of(repeat, lambda: call(busy))
    baseline = best_of(repeat, lambda: sorted(busy))
    small = best_of(repeat, lambda: call(tenth))

    def day_by_day() -> None:
        for day in range(DAYS):
            start = NOW + timedelta(days=day)
            free_slots(PAGE, busy=busy, now=NOW, start=start, end=start + timedelta(days=1))

    daily = best_of(max(1, repeat // 2), day_by_day)

    print(
        f"{DAYS} days, {CALENDARS} calendars x {BUSY_PER_CALENDAR:,} busy intervals "
        f"({len(busy):,}), Mon-Fri 08:00-18:00 {PAGE.zone}, 30-minute slots every 15 minutes"
    )
    print(
        f"(a) free_slots, one call:      {full * 1000:8.1f} ms  "
        f"{checked / full:,.0f} candidate starts/s ({checked:,} checked, {found:,} free)"
    )
    print(
        f"(b) sorted(busy) baseline:     {baseline * 1000:8.1f} ms  "
        f"ratio (a)/(b) = {full / baseline:.2f}"
    )
    print(
        f"(c) with {len(tenth):,} intervals:     {small * 1000:8.1f} ms  "
        f"10x the input takes {full / small:.1f}x as long"
    )
    print(
        f"(d) {DAYS} one-day calls:         {daily * 1000:8.1f} ms  "
        f"{daily / DAYS * 1000:.2f} ms per day, {daily / baseline:.2f}x the baseline in all"
    )


if __name__ == "__main__":
    main()

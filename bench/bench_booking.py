"""Booking throughput on gunicorn + PostgreSQL, as a ratio to a trivial Django view.

Run: ``.venv/bin/python bench/bench_booking.py [-n 400] [--concurrency 16] [--latency 0]``;
needs PostgreSQL and Redis on loopback (``scripts/services.sh postgres redis``). It starts the
EWS simulator (child process), a fresh PostgreSQL database and gunicorn as the Procfile runs it
(gunicorn.conf.py) and DEBUG off (bench/_servers.py), and takes them all down again at the end.

The scenario: one owner whose primary calendar (delegated to the corporate mailbox) is the
page's main booking calendar, with a few meetings in it; the page is open 06:00-22:00 every
day, 15-minute slots every 15 minutes, no buffers, no minimum notice, a 60-day window. The
free slots are read once from the slots API; then `-n` booking POSTs, each for a different
free slot, are fired from a pool of `--concurrency` client threads. Every booking goes the
whole way: rate limit, validation, the re-check against fresh busy time from Exchange (one
EWS round trip at the simulator's `--latency`), the owner's row lock, the booking and its
calendar-write rows committed, and the write and email tasks queued (to a filesystem broker
that nothing consumes: the Exchange write itself is the Celery worker's job, not the
request's).

It prints requests per second, p50 and p95 latency for the bookings and for ``/healthz`` (one
SQL query) under the same concurrency, and the ratio; the EWS requests each booking made; and
then verifies in the database that every 201 is a confirmed booking at the slot asked for and
that no two bookings overlap.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _servers as S

TZ = "Europe/London"
SLUG = "bench-booking"


def seed(stack: S.Stack, first_day: datetime) -> None:
    sim = stack.sim
    connection = S.corporate_connection(sim)
    who = S.person(sim, "olivia-owner")
    owner = S.staff_user(sim, connection, who)
    S.add_busy_week(sim, who.email, first_day.date(), 14, tz=TZ, seed=1)
    page = S.booking_page(
        owner,
        SLUG,
        tz=TZ,
        hours=(wall(6), wall(22)),
        weekdays=range(7),
        duration_minutes=15,
        interval_minutes=15,
        buffer_before_minutes=0,
        buffer_after_minutes=0,
        min_notice_minutes=0,
        window_days=60,
    )
    S.assign_calendars(page, connection, [(who.email, "", "main")])


def free_starts(stack: S.Stack, first_day: datetime, needed: int) -> list[str]:
    starts: list[str] = []
    day = first_day.date()
    while len(starts) < needed:
        last = day + timedelta(days=13)
        response = S.fetch(stack.base_url, f"/api/v1/pages/{SLUG}/slots?start={day}&end={last}")
        if response.status != 200:
            raise RuntimeError(f"slots API answered {response.status}: {response.body[:300]!r}")
        starts += [slot["start"] for slot in response.json()["slots"]]
        day = last + timedelta(days=1)
        if day > first_day.date() + timedelta(days=58):
            raise RuntimeError(f"only {len(starts)} free slots in the window; use a smaller -n")
    return starts[:needed]


def book(stack: S.Stack, start: str, i: int) -> S.Response:
    return S.fetch(
        stack.base_url,
        f"/api/v1/pages/{SLUG}/bookings",
        method="POST",
        data={
            "start": start,
            "name": f"Customer {i}",
            "email": f"customer{i}@example.net",
            "timezone": "America/New_York",
            "notes": "Benchmark booking",
        },
    )


def fire(
    calls: list[Callable[[], S.Response]], concurrency: int, budget: float
) -> tuple[list[S.Response | None], float]:
    """Run the calls from `concurrency` threads; calls not started within `budget` seconds are
    dropped (None), so a slow machine still finishes in time. Returns answers and wall time."""
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        futures = [pool.submit(call) for call in calls]
        wait(futures, timeout=budget)
    finally:
        # Over budget or interrupted: drop what hasn't started, let the rest finish.
        pool.shutdown(wait=True, cancel_futures=True)
    elapsed = time.perf_counter() - started
    return [None if f.cancelled() else f.result() for f in futures], elapsed


def verify(booked: dict[str, str]) -> dict[str, int]:
    """`booked`: booking id -> the start asked for. Raises if anything is wrong."""
    from bookings.models import Booking, BookingStatus, EventWrite

    found = {str(b.pk): b for b in Booking.objects.filter(pk__in=list(booked))}
    missing = set(booked) - set(found)
    if missing:
        raise AssertionError(f"{len(missing)} bookings answered 201 but are not in the database")
    for pk, start in booked.items():
        booking = found[pk]
        if booking.status != BookingStatus.CONFIRMED:
            raise AssertionError(f"booking {pk} is {booking.status}, not confirmed")
        if booking.start != datetime.fromisoformat(start):
            raise AssertionError(f"booking {pk} starts at {booking.start}, not {start}")
    confirmed = list(
        Booking.objects.filter(status=BookingStatus.CONFIRMED).order_by("start", "end")
    )
    overlaps = sum(1 for a, b in itertools.pairwise(confirmed) if b.start < a.end)
    if overlaps:
        raise AssertionError(f"{overlaps} pairs of confirmed bookings overlap: double booking")
    return {
        "confirmed": len(confirmed),
        "writes": EventWrite.objects.filter(booking__in=confirmed).count(),
    }


def summary(answers: list[S.Response | None], wall_seconds: float) -> dict[str, object]:
    responses = [r for r in answers if r is not None]
    seconds = [r.seconds for r in responses]
    return {
        "n": len(responses),
        "wall": wall_seconds,
        "rps": len(responses) / wall_seconds,
        "p50": S.median(seconds),
        "p95": S.p95(seconds),
        "statuses": Counter(r.status for r in responses),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=400, help="timed booking requests")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--warmup", type=int, default=8, help="untimed bookings first")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the simulator adds per EWS request"
    )
    parser.add_argument(
        "--budget", type=float, default=45, help="seconds after which no more bookings start"
    )
    args = parser.parse_args(argv)

    load_before = S.machine()
    with S.running_stack() as stack:
        first_day = datetime.now(UTC) + timedelta(days=1)
        S.progress("seeding the simulator and the database")
        seed(stack, first_day)
        starts = free_starts(stack, first_day, args.warmup + args.n)
        stack.sim.set_latency(args.latency)

        booked: dict[str, str] = {}

        def keep(responses: list[S.Response | None], asked: list[str]) -> None:
            for response, start in zip(responses, asked, strict=True):
                if response is not None and response.status == 201:
                    booked[response.json()["id"]] = start

        # Each worker pays its first-request costs (imports, exchangelib's session) here.
        warm = starts[: args.warmup]
        warm_answers = [book(stack, start, i) for i, start in enumerate(warm)]
        for answer in warm_answers:
            if answer.status != 201:
                raise RuntimeError(f"warm-up booking: {answer.status} {answer.body[:300]!r}")
        keep(warm_answers, warm)
        for _ in range(20):
            S.fetch(stack.base_url, "/healthz")

        timed = starts[args.warmup :]
        stack.sim.clear_log()
        S.progress(f"{args.n} bookings from {args.concurrency} threads")
        cpu_before = stack.server.cpu_seconds()
        responses, elapsed = fire(
            [lambda s=s, i=i: book(stack, s, i) for i, s in enumerate(timed, args.warmup)],
            args.concurrency,
            args.budget,
        )
        ews = Counter(entry.operation for entry in stack.sim.log())
        keep(responses, timed)
        bookings = summary(responses, elapsed)
        bookings["cpu"] = (stack.server.cpu_seconds() - cpu_before) / bookings["n"]

        S.progress(f"{bookings['n']} GET /healthz from {args.concurrency} threads")
        cpu_before = stack.server.cpu_seconds()
        health, elapsed = fire(
            [lambda: S.fetch(stack.base_url, "/healthz")] * bookings["n"],
            args.concurrency,
            args.budget,
        )
        healthz = summary(health, elapsed)
        healthz["cpu"] = (stack.server.cpu_seconds() - cpu_before) / healthz["n"]
        failures = [r for r in responses if r is not None and r.status != 201]
        S.progress("verifying the bookings in the database")
        checked = verify(booked)
        load_after = S.machine()

    print(
        f"Booking API on {stack.server.model} + PostgreSQL (DB_CONN_MAX_AGE=60), Redis "
        f"cache, DEBUG off; {args.concurrency} concurrent clients; EWS simulator latency "
        f"{args.latency * 1000:.0f} ms"
    )
    print(
        "page: 06:00-22:00 every day, 15-minute slots every 15 minutes, no buffers; "
        "main calendar = the owner's primary (delegated)"
    )
    print()
    print(
        f"{'':<20}{'requests':>9}{'wall':>9}{'req/s':>8}{'p50':>11}{'p95':>11}"
        f"{'CPU/req':>10}  statuses"
    )
    for label, s in (("POST .../bookings", bookings), ("GET /healthz", healthz)):
        statuses = ", ".join(f"{code} x{n}" for code, n in sorted(s["statuses"].items()))
        print(
            f"{label:<20}{s['n']:>9}{s['wall']:>8.2f}s{s['rps']:>8.1f}"
            f"{S.ms(s['p50']):>11}{S.ms(s['p95']):>11}{S.ms(s['cpu']):>10}  {statuses}"
        )
    print()
    print(
        f"bookings per second / healthz per second = {bookings['rps'] / healthz['rps']:.3f} "
        f"(healthz is {healthz['rps'] / bookings['rps']:.1f}x faster)"
    )
    print(
        f"gunicorn CPU per request, booking / healthz = {S.ratio(bookings['cpu'], healthz['cpu'])} "
        "(user + system time of the workers: hardly affected by other load on the machine)"
    )
    done = bookings["n"]
    per_booking = ", ".join(f"{op} x{n / done:.2f}" for op, n in sorted(ews.items()))
    print(f"EWS requests per booking: {sum(ews.values()) / done:.2f} ({per_booking})")
    print(
        f"verified: {len(booked)} bookings answered 201 and are in the database, confirmed, "
        f"at the slot asked for; {checked['confirmed']} confirmed bookings, none overlapping; "
        f"{checked['writes']} calendar writes queued"
    )
    if done < args.n:
        print(f"time budget: {args.n - done} of {args.n} bookings were not started")
    print(f"machine: before {load_before}; after {load_after}")
    warning = S.busy_machine_warning()
    if warning:
        print(warning)
    if failures:
        print(f"non-201 answers: {[(r.status, r.body[:200]) for r in failures[:5]]}")
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (servers stopped, database dropped)")

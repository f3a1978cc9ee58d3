"""The public slots API on a real server: how much slower than one EWS round trip, how many
EWS requests, and how much the busy-time cache saves.

Run: ``.venv/bin/python bench/bench_slots_api.py [--uncached 20] [--cached 200]``; needs
PostgreSQL and Redis on loopback (``scripts/services.sh postgres redis``). It starts the EWS
simulator (child process), a fresh PostgreSQL database and gunicorn with 2 sync workers and
DEBUG off (bench/_servers.py), and takes them all down again at the end.

Two booking pages, each with 5 calendars owned by 5 people, every calendar with a stand-up
(recurring, weekdays), a weekly meeting (recurring) and two or three one-off events a day:

- ``five-primaries``: the owner's primary calendar (main) and 4 colleagues' primary calendars
  (busy time; one colleague shares free/busy only). Free/busy can batch them all.
- ``primaries-and-subcalendars``: the owner's primary (main), 2 colleagues' primaries and 2
  other colleagues' sub-calendars "Team rota" (busy time), which free/busy can't read:
  CalendarView, one request per sub-calendar, in parallel with the free/busy batch.

For ``GET /api/v1/pages/<slug>/slots`` over 7 days it prints:

(a) uncached latency (the busy-time cache is cleared in Redis before each request), median,
    as a ratio to one raw EWS round trip (a GetFolder POSTed on a fresh connection, same
    simulator latency, default 50 ms); goal < 1.5, i.e. the EWS calls run in parallel;
(b) EWS requests per uncached request, from the simulator's request log, by operation; goal:
    at most one per distinct calendar, free/busy batched;
(c) cached latency, median, as a ratio to ``/healthz`` (a trivial Django view that runs one
    SQL query) on the same server, the two measured alternately.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _servers as S

TZ = "Europe/London"


def seed(stack: S.Stack, first_day: datetime) -> dict[str, list[str]]:
    """Create the people, the connection, both pages; returns each page's calendars."""
    sim = stack.sim
    connection = S.corporate_connection(sim)
    names = ["olivia-owner", "bob", "carol", "dan", "erin"]
    people = [S.person(sim, name) for name in names]
    owner_person, bob, carol, dan, erin = people
    owner = S.staff_user(sim, connection, owner_person)
    sim.set_permission(bob.email, connection.email, "Reviewer")
    sim.set_permission(carol.email, connection.email, "FreeBusyTimeOnly")
    for colleague in (dan, erin):
        sim.set_permission(colleague.email, connection.email, "Reviewer")
        sim.add_calendar(colleague.email, "Team rota")
        sim.set_permission(colleague.email, connection.email, "Reviewer", calendar="Team rota")

    # A fortnight of events around the measured week, in every calendar either page reads.
    start = first_day.date() - timedelta(days=3)
    for i, who in enumerate(people):
        S.add_busy_week(sim, who.email, start, 14, tz=TZ, seed=i)
    for i, who in enumerate((dan, erin)):
        S.add_busy_week(sim, who.email, start, 14, tz=TZ, seed=10 + i, calendar="Team rota")

    rules = {
        "tz": TZ,
        "hours": (wall(8), wall(18)),
        "weekdays": range(5),
        "duration_minutes": 30,
        "interval_minutes": 15,
        "min_notice_minutes": 0,
        "window_days": 60,
    }
    pages = {}
    page = S.booking_page(owner, "five-primaries", **rules)
    pages[page.slug] = S.assign_calendars(
        page,
        connection,
        [(owner_person.email, "", "main")] + [(p.email, "", "busy") for p in people[1:]],
    )
    page = S.booking_page(owner, "primaries-and-subcalendars", **rules)
    pages[page.slug] = S.assign_calendars(
        page,
        connection,
        [
            (owner_person.email, "", "main"),
            (bob.email, "", "busy"),
            (carol.email, "", "busy"),
            (dan.email, "Team rota", "busy"),
            (erin.email, "Team rota", "busy"),
        ],
    )
    # Every owner gets a generation counter, which clear_busy_cache() moves on.
    from calendars import busy

    busy.invalidate(p.email for p in people)
    return pages


def slots_ok(response: S.Response) -> int:
    if response.status != 200:
        raise RuntimeError(f"slots API answered {response.status}: {response.body[:300]!r}")
    body = response.json()
    if body["stale"]:
        raise RuntimeError("slots API served stale busy time: Exchange was not reached")
    if not body["slots"]:
        raise RuntimeError("slots API found no free slot: the scenario is wrong")
    return len(body["slots"])


def measure(stack: S.Stack, path: str, args: argparse.Namespace) -> dict[str, object]:
    sim, server = stack.sim, stack.server
    # Each worker pays its first-request costs (imports, exchangelib's session) here.
    for _ in range(args.warmup):
        stack.clear_busy_cache()
        slots_ok(S.fetch(stack.base_url, path))

    uncached, inside, requests, operations = [], [], [], Counter()
    cpu = {"uncached": 0.0, "simulator": 0.0, "cached": 0.0, "healthz": 0.0}
    slots = 0
    for _ in range(args.uncached):
        stack.clear_busy_cache()
        sim.clear_log()
        app_cpu, sim_cpu = server.cpu_seconds(), sim.cpu_seconds()
        response = S.fetch(stack.base_url, path)
        cpu["uncached"] += server.cpu_seconds() - app_cpu
        cpu["simulator"] += sim.cpu_seconds() - sim_cpu
        slots = slots_ok(response)
        log = sim.log()
        uncached.append(response.seconds)
        # The slowest EWS request as the simulator timed it (injected latency included): the
        # part of the wait that is Exchange's; the rest is the app's and exchangelib's own.
        inside.append(max(entry.duration for entry in log))
        requests.append(len(log))
        operations.update(entry.operation for entry in log)
        failed = [e for e in log if e.status != 200 or e.outcome != "NoError"]
        if failed:
            raise RuntimeError(f"EWS requests failed: {failed}")

    slots_ok(S.fetch(stack.base_url, path))  # fills the cache
    sim.clear_log()
    cached, healthz = [], []
    deadline = time.monotonic() + args.budget
    # Alternating runs of 10, so both see the same machine; CPU is read between runs.
    while len(cached) < args.cached and (len(cached) < 50 or time.monotonic() < deadline):
        before = server.cpu_seconds()
        for _ in range(10):
            health = S.fetch(stack.base_url, "/healthz")
            if health.status != 200:
                raise RuntimeError(f"/healthz answered {health.status}")
            healthz.append(health.seconds)
        middle = server.cpu_seconds()
        for _ in range(10):
            response = S.fetch(stack.base_url, path)
            slots_ok(response)
            cached.append(response.seconds)
        cpu["healthz"] += middle - before
        cpu["cached"] += server.cpu_seconds() - middle
    return {
        "slots": slots,
        "uncached": uncached,
        "inside": inside,
        "requests": requests,
        "operations": {op: n / args.uncached for op, n in operations.items()},
        "cached": cached,
        "cached_ews": len(sim.log()),
        "healthz": healthz,
        "cpu_uncached": cpu["uncached"] / args.uncached,
        "cpu_simulator": cpu["simulator"] / args.uncached,
        "cpu_cached": cpu["cached"] / len(cached),
        "cpu_healthz": cpu["healthz"] / len(healthz),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uncached", type=int, default=20, help="uncached requests per page")
    parser.add_argument("--cached", type=int, default=200, help="cached requests per page")
    parser.add_argument("--warmup", type=int, default=8, help="untimed requests per page first")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the simulator adds per request"
    )
    parser.add_argument("--raw", type=int, default=20, help="raw EWS round trips timed")
    parser.add_argument(
        "--budget",
        type=float,
        default=20,
        help="seconds per page for the cached requests (at least 50 are made)",
    )
    args = parser.parse_args(argv)

    load_before = S.machine()
    with S.running_stack() as stack:
        first_day = datetime.now(UTC) + timedelta(days=1)
        last_day = first_day + timedelta(days=6)
        S.progress("seeding the simulator and the database")
        pages = seed(stack, first_day)

        from calendars.models import ExchangeConnection

        corporate = ExchangeConnection.objects.get()
        stack.sim.set_latency(args.latency)
        S.progress("timing raw EWS round trips")
        round_trips = S.ews_round_trips(
            stack.sim.ews_url, corporate.email, corporate.password, args.raw
        )
        rtt = S.median(round_trips)

        results = {}
        for slug in pages:
            S.progress(f"measuring {slug}")
            path = (
                f"/api/v1/pages/{slug}/slots?start={first_day.date()}&end={last_day.date()}"
                f"&timezone=America/New_York"
            )
            results[slug] = measure(stack, path, args)
        load_after = S.machine()

    report(args, first_day, last_day, pages, rtt, results)
    print(f"\nmachine: before {load_before}; after {load_after}")
    warning = S.busy_machine_warning()
    if warning:
        print(warning)


def report(
    args: argparse.Namespace,
    first_day: datetime,
    last_day: datetime,
    pages: dict[str, list[str]],
    rtt: float,
    results: dict[str, dict],
) -> None:
    print(
        f"Slots API, {first_day.date()}..{last_day.date()} (7 days), gunicorn 2 sync workers, "
        "PostgreSQL (DB_CONN_MAX_AGE=60), Redis cache, DEBUG off; "
        f"EWS simulator latency {args.latency * 1000:.0f} ms"
    )
    print(f"one raw EWS round trip (GetFolder, keep-alive connection): median {S.ms(rtt)}")
    for slug, calendars in pages.items():
        print(f"\n{slug}:")
        for line in calendars:
            print(f"  {line}")
    slugs = list(results)
    width = max(len(s) for s in slugs) + 2

    def row(label: str, cells: list[str]) -> None:
        print(f"{label:<38}" + "".join(f"{c:>{width}}" for c in cells))

    print()
    row("", slugs)
    row("free slots returned", [str(results[s]["slots"]) for s in slugs])
    row(
        f"(a) uncached, median of {args.uncached}",
        [S.ms(S.median(results[s]["uncached"])) for s in slugs],
    )
    row("    p95", [S.ms(S.p95(results[s]["uncached"])) for s in slugs])
    row(
        "    slowest EWS request in simulator",
        [S.ms(S.median(results[s]["inside"])) for s in slugs],
    )
    row(
        "    / one EWS round trip (goal < 1.5)",
        [f"{S.median(results[s]['uncached']) / rtt:.2f}" for s in slugs],
    )
    row("    app CPU per request (gunicorn)", [S.ms(results[s]["cpu_uncached"]) for s in slugs])
    row("    simulator CPU per request", [S.ms(results[s]["cpu_simulator"]) for s in slugs])
    row(
        "(b) EWS requests per request",
        [
            f"{S.median(results[s]['requests']):g} (max {max(results[s]['requests'])})"
            for s in slugs
        ],
    )
    row("    distinct calendars", [str(len(pages[s])) for s in slugs])
    row(
        "(c) cached, median",
        [f"{S.ms(S.median(results[s]['cached']))} (n={len(results[s]['cached'])})" for s in slugs],
    )
    row("    EWS requests while cached", [str(results[s]["cached_ews"]) for s in slugs])
    row("    /healthz, median", [S.ms(S.median(results[s]["healthz"])) for s in slugs])
    row(
        "    cached / healthz",
        [f"{S.median(results[s]['cached']) / S.median(results[s]['healthz']):.2f}" for s in slugs],
    )
    row("    app CPU per cached request", [S.ms(results[s]["cpu_cached"]) for s in slugs])
    row("    app CPU per /healthz", [S.ms(results[s]["cpu_healthz"]) for s in slugs])
    row(
        "    CPU ratio cached / healthz",
        [S.ratio(results[s]["cpu_cached"], results[s]["cpu_healthz"]) for s in slugs],
    )
    print()
    for slug in slugs:
        ops = ", ".join(f"{op} x{n:g}" for op, n in sorted(results[slug]["operations"].items()))
        print(f"EWS operations per uncached request, {slug}: {ops}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (servers stopped, database dropped)")

"""The public slots API on a real server, EWS and Microsoft Graph side by side in one run: how
much slower than one round trip to Exchange, how many requests to it, and how much the
busy-time cache saves.

Run: ``.venv/bin/python bench/bench_slots_api.py [--uncached 20] [--cached 200]``; needs
PostgreSQL and Redis on loopback (``scripts/services.sh postgres redis``). It starts the
simulator (child process; EWS and Graph on one plain-HTTP server, Graph's Bearer tokens from
its identity provider over HTTPS with a throw-away CA that the app trusts through
EXCHANGE_CA_BUNDLE), a fresh PostgreSQL database and gunicorn as the Procfile runs it
(gunicorn.conf.py) and DEBUG off (bench/_servers.py), and takes them all down again at the end.
About 30 s with defaults.

Every calendar has a stand-up (recurring, weekdays), a weekly meeting (recurring) and two or
three one-off events a day. A site has one corporate connection, so the run has two phases
on the same simulator and mailboxes: first an EWS connection (Basic) and its pages, then that
connection is deleted and a Graph one (app-only, client credentials) takes its place.

EWS pages, 5 calendars owned by 5 people each:

- ``five-primaries``: the owner's primary calendar (main) and 4 colleagues' primary calendars
  (busy time; one colleague shares free/busy only). Free/busy can batch them all.
- ``primaries-and-subcalendars``: the owner's primary (main), 2 colleagues' primaries and 2
  other colleagues' sub-calendars "Team rota" (busy time), which free/busy can't read:
  CalendarView, one request per sub-calendar, in parallel with the free/busy batch.

Graph pages (another owner, the same colleagues; app-only reaches every mailbox):

- ``graph-five-primaries``: 5 primaries, one getSchedule (up to 20 schedules per call);
- ``graph-primaries-and-subcalendars``: 3 primaries and the 2 "Team rota" sub-calendars: one
  getSchedule and one calendarView per sub-calendar, in parallel;
- ``graph-25-primaries``: 25 primaries (20 more colleagues, with the first five's event
  times), two getSchedule batches (20 + 5) which should run in parallel: latency close to one
  round trip, and their summed time in the simulator about twice the slowest.

For ``GET /api/v1/pages/<slug>/slots`` over 7 days it prints, per protocol:

(a) uncached latency (the busy-time cache is cleared in Redis before each request), median,
    as a ratio to one raw round trip of that protocol on a keep-alive connection, as the app
    keeps its own (EWS: a GetFolder POSTed; Graph: GET /users/{x}/calendar with a Bearer
    token; same simulator latency, default 50 ms); goal < 1.5 (EWS), <= 1.5 (Graph), i.e.
    the calls run in parallel. For Graph also the token requests made meanwhile (goal 0:
    each worker's token is cached since the warm-up);
(b) requests per uncached request, from the simulator's request log, by operation (Graph's
    logged as ``graph:<name>``); goal: EWS at most one per distinct calendar, free/busy
    batched; Graph ceil(primaries / 20) + sub-calendars;
(c) cached latency, median, as a ratio to ``/healthz`` (a trivial Django view that runs one
    SQL query) on the same server, the two measured alternately; goal for Graph <= 4.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _servers as S

TZ = "Europe/London"
# Every page's rules: 30-minute slots every 15 minutes, 08:00-18:00 on weekdays.
RULES = {
    "tz": TZ,
    "hours": (wall(8), wall(18)),
    "weekdays": range(5),
    "duration_minutes": 30,
    "interval_minutes": 15,
    "min_notice_minutes": 0,
    "window_days": 60,
}


def seed(stack: S.Stack, first_day: datetime) -> tuple[dict[str, list[str]], list[S.Person]]:
    """Create the people, the EWS connection, both EWS pages; returns each page's calendars
    and the people (olivia, bob, carol, dan, erin)."""
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

    pages = {}
    page = S.booking_page(owner, "five-primaries", **RULES)
    pages[page.slug] = S.assign_calendars(
        page,
        connection,
        [(owner_person.email, "", "main")] + [(p.email, "", "busy") for p in people[1:]],
    )
    page = S.booking_page(owner, "primaries-and-subcalendars", **RULES)
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
    return pages, people


def seed_graph(
    stack: S.Stack, first_day: datetime, people: list[S.Person]
) -> tuple[dict[str, list[str]], dict[str, tuple[int, int]], list[S.Person]]:
    """The Graph connection (app-only) and its three pages, over the same mailboxes as the EWS
    pages (bob, carol, dan, erin and their "Team rota"), so the two protocols read the same
    events. Returns each page's calendars, its (primaries, sub-calendars), and the people
    added (grace, the Graph pages' owner, and 20 colleagues for the 25-person page)."""
    sim = stack.sim
    connection = S.graph_connection(sim)
    grace = S.person(sim, "grace-owner")
    owner = S.staff_user(sim, connection, grace)
    _, bob, carol, dan, erin = people
    # 20 more colleagues for 25 primaries: two getSchedule batches (20 + 5). Each has a real
    # fortnight, but with the seeds of the first five people (same times, own items), so
    # the busy time of 25 people leaves free slots as that of 5 does.
    colleagues = [S.person(sim, f"colleague-{i:02}") for i in range(1, 21)]
    start = first_day.date() - timedelta(days=3)
    S.add_busy_week(sim, grace.email, start, 14, tz=TZ, seed=0)
    for i, who in enumerate(colleagues):
        S.add_busy_week(sim, who.email, start, 14, tz=TZ, seed=i % 5)

    layouts: dict[str, list[tuple[str, str, str]]] = {
        "graph-five-primaries": [(grace.email, "", "main")]
        + [(p.email, "", "busy") for p in (bob, carol, dan, erin)],
        "graph-primaries-and-subcalendars": [
            (grace.email, "", "main"),
            (bob.email, "", "busy"),
            (carol.email, "", "busy"),
            (dan.email, "Team rota", "busy"),
            (erin.email, "Team rota", "busy"),
        ],
        "graph-25-primaries": [(grace.email, "", "main")]
        + [(p.email, "", "busy") for p in (bob, carol, dan, erin, *colleagues)],
    }
    pages, shape = {}, {}
    for slug, roles in layouts.items():
        page = S.booking_page(owner, slug, **RULES)
        described = S.assign_calendars(page, connection, roles)
        if len(described) > 5:  # 25 lines would say little more than this
            described[5:] = [f"... and {len(described) - 5} colleagues' primaries, busy"]
        pages[slug] = described
        subs = sum(1 for _, name, _ in roles if name)
        shape[slug] = (len(roles) - subs, subs)
    return pages, shape, [grace, *colleagues]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    S.slots_arguments(parser)
    args = parser.parse_args(argv)

    load_before = S.machine()
    with S.running_stack(graph=True) as stack:
        first_day = datetime.now(UTC) + timedelta(days=1)
        last_day = first_day + timedelta(days=6)
        query = f"start={first_day.date()}&end={last_day.date()}&timezone=America/New_York"
        from calendars import busy
        from calendars.models import ExchangeConnection

        S.progress("seeding the simulator and the database (EWS)")
        pages, people = seed(stack, first_day)
        # Every owner gets a generation counter, which clear_busy_cache() moves on.
        busy.invalidate(p.email for p in people)
        corporate = ExchangeConnection.objects.get()
        stack.sim.set_latency(args.latency)
        S.progress("timing raw EWS round trips")
        rtt = S.median(
            S.ews_round_trips(stack.sim.ews_url, corporate.email, corporate.password, args.raw)
        )
        results = {}
        for slug in pages:
            S.progress(f"measuring {slug}")
            results[slug] = S.measure_slots(stack, f"/api/v1/pages/{slug}/slots?{query}", args)

        # A site has one corporate connection: the EWS one goes (its calendars and members
        # with it; the EWS pages stay, empty) and the Graph one takes its place, over the
        # same simulator, mailboxes and events. Seeding without latency, as above.
        stack.sim.set_latency(0.0)
        corporate.delete()
        S.progress("seeding the Graph connection and pages")
        graph_pages, shapes, graph_people = seed_graph(stack, first_day, people)
        busy.invalidate(p.email for p in [*people, *graph_people])
        graph = ExchangeConnection.objects.get()
        stack.sim.set_latency(args.latency)
        S.progress("timing raw Graph round trips")
        token = S.graph_token(stack.sim, graph.oauth_client_id, graph.oauth_client_secret)
        graph_rtt = S.median(S.graph_round_trips(stack.sim.graph_url, token, graph.email, args.raw))
        for slug in graph_pages:
            S.progress(f"measuring {slug}")
            results[slug] = S.measure_slots(stack, f"/api/v1/pages/{slug}/slots?{query}", args)
        load_after = S.machine()

    report(args, first_day, last_day, pages, rtt, results)
    report_graph(args, graph_pages, shapes, graph_rtt, results)
    print(f"\nmachine: before {load_before}; after {load_after}")
    warning = S.busy_machine_warning()
    if warning:
        print(warning)


def _row_printer(slugs: list[str]) -> Callable[[str, list[str]], None]:
    width = max(len(s) for s in slugs) + 2

    def row(label: str, cells: list[str]) -> None:
        print(f"{label:<38}" + "".join(f"{c:>{width}}" for c in cells))

    return row


def report(
    args: argparse.Namespace,
    first_day: datetime,
    last_day: datetime,
    pages: dict[str, list[str]],
    rtt: float,
    results: dict[str, dict],
) -> None:
    """The EWS pages' table (as it has always been printed)."""
    print(
        f"Slots API, {first_day.date()}..{last_day.date()} (7 days), {S.serving_model()}, "
        "PostgreSQL (DB_CONN_MAX_AGE=60), Redis cache, DEBUG off; "
        f"EWS simulator latency {args.latency * 1000:.0f} ms"
    )
    print(f"one raw EWS round trip (GetFolder, keep-alive connection): median {S.ms(rtt)}")
    for slug, calendars in pages.items():
        print(f"\n{slug}:")
        for line in calendars:
            print(f"  {line}")
    slugs = list(pages)
    row = _row_printer(slugs)

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


def graph_goal(shape: tuple[int, int]) -> int:
    """Graph requests an uncached call should make: getSchedule batches of 20 primaries,
    one calendarView per sub-calendar (7 days: one getSchedule window)."""
    primaries, subs = shape
    return math.ceil(primaries / 20) + subs


def report_graph(
    args: argparse.Namespace,
    pages: dict[str, list[str]],
    shapes: dict[str, tuple[int, int]],
    rtt: float,
    results: dict[str, dict],
) -> None:
    """The Graph pages' table: the EWS table's rows, against Graph's own round trip."""
    print(
        f"\nMicrosoft Graph pages (app-only connection, token from the simulator's identity "
        f"provider over HTTPS; Graph on the simulator's HTTP), latency {args.latency * 1000:.0f} "
        "ms per Graph request"
    )
    print(
        "one raw Graph round trip (GET /users/{x}/calendar, Bearer, keep-alive connection): "
        f"median {S.ms(rtt)}"
    )
    for slug, calendars in pages.items():
        primaries, subs = shapes[slug]
        print(f"\n{slug} ({primaries} primaries, {subs} sub-calendars):")
        for line in calendars:
            print(f"  {line}")
    slugs = list(pages)
    row = _row_printer(slugs)

    print()
    row("", slugs)
    row("free slots returned", [str(results[s]["slots"]) for s in slugs])
    row(
        f"(a) uncached, median of {args.uncached}",
        [S.ms(S.median(results[s]["uncached"])) for s in slugs],
    )
    row("    p95", [S.ms(S.p95(results[s]["uncached"])) for s in slugs])
    row(
        "    slowest Graph request in simulator",
        [S.ms(S.median(results[s]["inside"])) for s in slugs],
    )
    # Summed well above the uncached latency: the requests overlapped (ran in parallel).
    row("    Graph request time summed", [S.ms(S.median(results[s]["summed"])) for s in slugs])
    row(
        "    / one Graph round trip (goal <= 1.5)",
        [f"{S.median(results[s]['uncached']) / rtt:.2f}" for s in slugs],
    )
    row("    app CPU per request (gunicorn)", [S.ms(results[s]["cpu_uncached"]) for s in slugs])
    row("    simulator CPU per request", [S.ms(results[s]["cpu_simulator"]) for s in slugs])
    row("    token requests (all uncached)", [str(results[s]["tokens"]) for s in slugs])
    row(
        "(b) Graph requests per request",
        [
            f"{S.median(results[s]['requests']):g} (max {max(results[s]['requests'])})"
            for s in slugs
        ],
    )
    row("    goal: ceil(primaries/20) + subcals", [str(graph_goal(shapes[s])) for s in slugs])
    row("    distinct calendars", [str(sum(shapes[s])) for s in slugs])
    row(
        "(c) cached, median",
        [f"{S.ms(S.median(results[s]['cached']))} (n={len(results[s]['cached'])})" for s in slugs],
    )
    row("    Graph requests while cached", [str(results[s]["cached_ews"]) for s in slugs])
    row("    /healthz, median", [S.ms(S.median(results[s]["healthz"])) for s in slugs])
    row(
        "    cached / healthz (goal <= 4)",
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
        print(f"Graph operations per uncached request, {slug}: {ops}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (servers stopped, database dropped)")

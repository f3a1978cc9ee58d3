"""Team booking pages: the slots API of a 20-member round-robin page on a real server, over EWS
and Microsoft Graph side by side in one run, the busy-time cache shared with the members' own
pages, and the pure engine on a heavy team.

Run: ``.venv/bin/python bench/bench_team.py [--uncached 20] [--cached 200] [--repeat 5]``;
needs PostgreSQL and Redis on loopback (``scripts/services.sh postgres redis``). Like
bench_slots_api.py it starts the simulator (child process, 50 ms per request by default),
a fresh PostgreSQL database and gunicorn as the Procfile runs it (bench/_servers.py), and
takes them all down again at the end. About two minutes with defaults.

Twenty staff members, each attached to the corporate connection (their mailbox delegates
to it), each with a fortnight of events (bench_slots_api.py's: a stand-up, a weekly meeting,
two or three one-off meetings a day). Pages, all 30-minute slots every 15 minutes,
08:00-18:00 on weekdays, read for 7 days:

- ``team-primaries``: round robin over the 20, each with their primary calendar as main
  booking calendar: one GetUserAvailability (Graph: one getSchedule) for all twenty;
- ``team-subcalendars``: the same 20, and 4 of them also have a "Team rota" sub-calendar for
  busy time, which free/busy can't read: one CalendarView (calendarView) each, in parallel
  with the batch;
- ``member-personal``: the last member's own page, their primary calendar as main.

A site has one corporate connection: the EWS run comes first, then that connection is
deleted, a Graph one (app-only) takes its place, the same people are attached to it again
and the same three pages are made on it (``graph-...``), over the same mailboxes and events.

Per team page and protocol it prints (a) uncached latency (busy-time cache cleared before
each request), median and p95, as a ratio to one raw round trip of that protocol (goal
<= 1.5: the members' busy time is read in parallel, not member by member); (b) requests to
Exchange per uncached request, from the simulator's log (goal: 1 for twenty primaries, plus
one per sub-calendar); (c) cached latency, median and p95, as a ratio to ``/healthz`` on the
same server, measured alternately (goal <= 4). Then (d) that the cache is kept per owner:
right after the team page is read, the member's personal page makes no request to Exchange
(goal 0), where on its own it makes one. Last (e) the pure engine (bookings.availability,
no Django): round_robin_slots and collective_slots for 20 members x 90 days x 500 busy
intervals each, median of --repeat runs, beside 20 calls of free_slots (one per member),
which is what combining the members' answers adds to.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _servers as S
from bench.bench_slots import DAYS, NOW, PAGE, busy_intervals

TZ = "Europe/London"
MEMBERS = 20
WITH_SUBCALENDAR = 4
ROTA = "Team rota"
RULES = {
    "tz": TZ,
    "hours": (wall(8), wall(18)),
    "weekdays": range(5),
    "duration_minutes": 30,
    "interval_minutes": 15,
    "min_notice_minutes": 0,
    "window_days": 60,
}
ENGINE_BUSY = 500  # busy intervals per member for the pure engine


def seed_people(stack: S.Stack, first_day: datetime) -> list[S.Person]:
    """The twenty members' mailboxes, their events, and the first four's "Team rota"."""
    sim = stack.sim
    people = [S.person(sim, f"member-{i:02}") for i in range(1, MEMBERS + 1)]
    start = first_day.date() - timedelta(days=3)
    for i, who in enumerate(people):
        # bench_slots_api.py's five seeds in turn: twenty people's busy time still leaves
        # every member free slots of their own, as a real team's would.
        S.add_busy_week(sim, who.email, start, 14, tz=TZ, seed=i % 5)
    for i, who in enumerate(people[:WITH_SUBCALENDAR]):
        sim.add_calendar(who.email, ROTA)
        S.add_busy_week(sim, who.email, start, 14, tz=TZ, seed=10 + i, calendar=ROTA)
    return people


def seed_pages(
    stack: S.Stack, connection: Any, people: list[S.Person], users: list[Any], prefix: str
) -> dict[str, str]:
    """The two team pages and the last member's personal page on `connection`; returns
    {role in the report ("primaries", "subcalendars", "personal"): slug}."""
    from bookings.models import MemberState, TeamMember, TeamMode

    for who in people[:WITH_SUBCALENDAR]:
        stack.sim.set_permission(who.email, connection.email, "Reviewer", calendar=ROTA)
    slugs = {}
    for kind in ("primaries", "subcalendars"):
        # The first member leads the team and owns its page.
        page = S.booking_page(
            users[0], f"{prefix}team-{kind}", team_mode=TeamMode.ROUND_ROBIN, **RULES
        )
        for i, (who, user) in enumerate(zip(people, users, strict=True)):
            member = TeamMember.objects.create(page=page, user=user, state=MemberState.ACTIVE)
            roles = [(who.email, "", "main")]
            if kind == "subcalendars" and i < WITH_SUBCALENDAR:
                roles.append((who.email, ROTA, "busy"))
            S.assign_calendars(page, connection, roles, member=member)
        slugs[kind] = page.slug
    page = S.booking_page(users[-1], f"{prefix}member-personal", **RULES)
    S.assign_calendars(page, connection, [(people[-1].email, "", "main")])
    slugs["personal"] = page.slug
    return slugs


def measure_sharing(stack: S.Stack, team: str, personal: str, times: int) -> dict[str, list[int]]:
    """Requests to Exchange of the personal page on its own (busy-time cache cleared), and
    right after the team page was read with the cache cleared (so the team page's answer for
    the member is the only one kept)."""
    sim, base = stack.sim, stack.base_url
    alone, after = [], []
    for _ in range(times):
        stack.clear_busy_cache()
        sim.clear_log()
        S.slots_ok(S.fetch(base, personal))
        alone.append(len(sim.log()))
        stack.clear_busy_cache()
        S.slots_ok(S.fetch(base, team))
        # The answer is written to the cache once the response is on its way
        # (scheduler_site.afterresponse): give that write time to land.
        time.sleep(0.2)
        sim.clear_log()
        S.slots_ok(S.fetch(base, personal))
        after.append(len(sim.log()))
    return {"alone": alone, "after": after}


def run_protocol(
    stack: S.Stack,
    connection: Any,
    people: list[S.Person],
    users: list[Any],
    prefix: str,
    query: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    from calendars import busy

    slugs = seed_pages(stack, connection, people, users, prefix)
    # Every owner gets a generation counter, which clear_busy_cache() moves on.
    busy.invalidate(p.email for p in people)
    stack.sim.set_latency(args.latency)
    results: dict[str, Any] = {"slugs": slugs}
    for kind in ("primaries", "subcalendars"):
        S.progress(f"measuring {slugs[kind]}")
        results[kind] = S.measure_slots(stack, f"/api/v1/pages/{slugs[kind]}/slots?{query}", args)
    S.progress("measuring the shared per-owner cache")
    results["sharing"] = measure_sharing(
        stack,
        f"/api/v1/pages/{slugs['primaries']}/slots?{query}",
        f"/api/v1/pages/{slugs['personal']}/slots?{query}",
        args.sharing,
    )
    return results


def measure_engine(repeat: int) -> dict[str, float | int]:
    """The pure engine on bench_slots.py's page (Mon-Fri 08:00-18:00 London, 30-minute slots
    every 15 minutes, 90 days): 20 members, 500 busy intervals each."""
    from bookings.availability import Member, collective_slots, free_slots, round_robin_slots

    team = [
        Member(id=i, busy=busy_intervals(1, ENGINE_BUSY, seed=2027 + i)) for i in range(MEMBERS)
    ]
    end = NOW + timedelta(days=DAYS)
    span = {"now": NOW, "start": NOW, "end": end}

    def median_of(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return {
        "round_robin": median_of(lambda: round_robin_slots(PAGE, team, **span)),
        "collective": median_of(lambda: collective_slots(PAGE, team, **span)),
        "per_member": median_of(lambda: [free_slots(PAGE, busy=m.busy, **span) for m in team]),
        "rr_slots": len(round_robin_slots(PAGE, team, **span)),
        "co_slots": len(collective_slots(PAGE, team, **span)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    S.slots_arguments(parser)
    parser.add_argument("--sharing", type=int, default=5, help="runs of the shared-cache check")
    parser.add_argument("--repeat", type=int, default=5, help="runs per pure-engine figure")
    args = parser.parse_args(argv)

    load_before = S.machine()
    with S.running_stack(graph=True) as stack:
        first_day = datetime.now(UTC) + timedelta(days=1)
        last_day = first_day + timedelta(days=6)
        query = f"start={first_day.date()}&end={last_day.date()}&timezone=America/New_York"

        S.progress("seeding the simulator and the database (EWS)")
        ews = S.corporate_connection(stack.sim)
        people = seed_people(stack, first_day)
        users = [S.staff_user(stack.sim, ews, who) for who in people]
        results = {"ews": run_protocol(stack, ews, people, users, "", query, args)}
        S.progress("timing raw EWS round trips")
        raw = S.ews_round_trips(stack.sim.ews_url, ews.email, ews.password, args.raw)
        rtt = {"ews": S.median(raw)}
        stack.sim.set_latency(0.0)  # seeding the Graph pages without latency

        # The EWS connection goes (its calendars and memberships with it; its pages stay,
        # empty); the Graph one takes its place and the same people are attached to it.
        ews.delete()
        S.progress("seeding the Graph connection and pages")
        graph = S.graph_connection(stack.sim)
        for who, user in zip(people, users, strict=True):
            S.attach_staff(stack.sim, graph, user, who)
        results["graph"] = run_protocol(stack, graph, people, users, "graph-", query, args)
        S.progress("timing raw Graph round trips")
        token = S.graph_token(stack.sim, graph.oauth_client_id, graph.oauth_client_secret)
        raw = S.graph_round_trips(stack.sim.graph_url, token, graph.email, args.raw)
        rtt["graph"] = S.median(raw)
        load_after = S.machine()

    S.progress("timing the pure engine")
    engine = measure_engine(max(1, args.repeat))

    print(
        f"Team pages: slots API, {first_day.date()}..{last_day.date()} (7 days), "
        f"{S.serving_model()}, PostgreSQL, Redis cache, DEBUG off; simulator latency "
        f"{args.latency * 1000:.0f} ms per request"
    )
    print(
        f"{MEMBERS} members, round robin, each attached to the corporate connection with their "
        f"primary calendar as main booking calendar; in 'subcalendars' {WITH_SUBCALENDAR} of "
        f"them also have a {ROTA!r} sub-calendar for busy time"
    )
    for protocol, label in (("ews", "EWS"), ("graph", "Graph")):
        report(protocol, label, rtt[protocol], results[protocol], args)
    report_engine(engine, args)
    print(f"\nmachine: before {load_before}; after {load_after}")
    warning = S.busy_machine_warning()
    if warning:
        print(warning)


def report(
    protocol: str, label: str, rtt: float, results: dict[str, Any], args: argparse.Namespace
) -> None:
    slugs = results["slugs"]
    kinds = ["primaries", "subcalendars"]
    print(f"\n{label}: one raw round trip (keep-alive connection), median {S.ms(rtt)}")
    width = max(len(slugs[k]) for k in kinds) + 2

    def row(name: str, cells: list[str], goal: str = "") -> None:
        print(f"{name:<40}" + "".join(f"{c:>{width}}" for c in cells) + f"   {goal}")

    def each(fn: Callable[[dict[str, Any]], str]) -> list[str]:
        return [fn(results[k]) for k in kinds]

    goals = [str(1 + (WITH_SUBCALENDAR if k == "subcalendars" else 0)) for k in kinds]
    row("", [slugs[k] for k in kinds], "goal")
    row("free slots returned", each(lambda r: str(r["slots"])))
    row(f"(a) uncached, median of {args.uncached}", each(lambda r: S.ms(S.median(r["uncached"]))))
    row("    p95", each(lambda r: S.ms(S.p95(r["uncached"]))))
    row(
        f"    slowest {label} request in simulator",
        each(lambda r: S.ms(S.median(r["inside"]))),
    )
    row(
        f"    / one {label} round trip",
        each(lambda r: f"{S.median(r['uncached']) / rtt:.2f}"),
        "<= 1.5",
    )
    row("    p95 / one round trip", each(lambda r: f"{S.p95(r['uncached']) / rtt:.2f}"))
    row("    app CPU per request (gunicorn)", each(lambda r: S.ms(r["cpu_uncached"])))
    row(
        f"(b) {label} requests per request",
        each(lambda r: f"{S.median(r['requests']):g} (max {max(r['requests'])})"),
        f"{' / '.join(goals)} (1 batch + 1 per sub-calendar)",
    )
    if protocol == "graph":
        row("    token requests (all uncached)", each(lambda r: str(r["tokens"])), "0")
    row(
        "(c) cached, median",
        each(lambda r: f"{S.ms(S.median(r['cached']))} (n={len(r['cached'])})"),
    )
    row("    p95", each(lambda r: S.ms(S.p95(r["cached"]))))
    row("    /healthz, median", each(lambda r: S.ms(S.median(r["healthz"]))))
    row(
        "    cached / healthz",
        each(lambda r: f"{S.median(r['cached']) / S.median(r['healthz']):.2f}"),
        "<= 4",
    )
    row(
        "    p95 cached / p95 healthz",
        each(lambda r: f"{S.p95(r['cached']) / S.p95(r['healthz']):.2f}"),
    )
    row(f"    {label} requests while cached", each(lambda r: str(r["cached_ews"])), "0")
    row("    app CPU per cached request", each(lambda r: S.ms(r["cpu_cached"])))
    row("    app CPU per /healthz", each(lambda r: S.ms(r["cpu_healthz"])))
    for kind in kinds:
        ops = ", ".join(f"{op} x{n:g}" for op, n in sorted(results[kind]["operations"].items()))
        print(f"    {label} operations per uncached request, {slugs[kind]}: {ops}")
    sharing = results["sharing"]
    print(
        f"(d) {slugs['personal']} right after {slugs['primaries']}: {label} requests "
        f"{sharing['after']} (goal 0 each); on its own, uncached: {sharing['alone']}"
    )


def report_engine(engine: dict[str, float | int], args: argparse.Namespace) -> None:
    per_member = float(engine["per_member"])
    print(
        f"\n(e) pure engine, {MEMBERS} members x {DAYS} days x {ENGINE_BUSY} busy intervals each, "
        f"{PAGE.zone} Mon-Fri 08:00-18:00, 30-minute slots every 15 minutes; median of "
        f"{max(1, args.repeat)}"
    )
    print(f"    {MEMBERS} x free_slots (one member each):  {per_member * 1000:8.1f} ms")
    for name, key, slots in (
        ("round_robin_slots", "round_robin", "rr_slots"),
        ("collective_slots ", "collective", "co_slots"),
    ):
        seconds = float(engine[key])
        print(
            f"    {name}:                    {seconds * 1000:8.1f} ms  "
            f"{seconds / per_member:.2f}x the {MEMBERS} calls, {engine[slots]:,} slots"
        )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (servers stopped, database dropped)")

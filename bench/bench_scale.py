"""A scale run of the public slots API: 200 owners, 500 pages, 20,000 slot views spread over a
simulated working day, and what they cost the site's one dedicated Exchange mailbox.

Run: ``.venv/bin/python bench/bench_scale.py [--views 20000] [--hours 8] [--compression 120]``;
needs PostgreSQL and Redis on loopback (bench/_servers.py starts the simulator, a fresh
database and gunicorn, and takes them down again). About 5 minutes with defaults (1 of
seeding, 4 of traffic); ``--views 5000 --hours 2`` is a 1-2 minute smoke run.

The world (seeded in one pipe call, ``Simulator.load_seed``, plus one discovery per mailbox):

- 200 owners (staff, each delegating their calendar to the corporate mailbox), in teams of 5
  with 4 colleagues per team (160 colleagues, Reviewer for the corporate mailbox; 1 in 8
  has a "Team rota" sub-calendar); every calendar has 9 weeks of a realistic calendar
  (daily stand-up, weekly meeting, 2-3 one-off meetings a day, some Tentative/Free/OOF).
- 500 pages: every owner has one, 300 more go to owners chosen with a skew (some have 5+).
  Each page reads 1-4 calendars: the owner's primary (main) and 0-3 busy calendars from the
  team (colleagues' primaries, teammates' primaries, now and then a sub-calendar), so
  colleagues' calendars are shared between pages.

The traffic (a simulated day, compressed into real time; see below):

- Page popularity is Zipf-like (weight 1/rank): the top page gets ~15% of the views, half
  the pages get a handful.
- Views come in bursts (a link shared in a mail, a team's booking week): a burst starts at a
  time drawn from a day profile (morning and afternoon peaks) and brings 1 + geometric(mean
  3) visitors with exponential gaps of 90 s on average: "several visitors within minutes".
- A visitor does what the public page's script (static/js/booking.js) does: it asks for the
  rest of the current month (start = today, end = the month's last day, in the visitor's
  zone; 80% the page's zone, 20% one of four others), and clicking through days costs
  nothing (the month is already loaded). 35% then look at the next month 5-40 s later, and
  a third of those come back (the current month again, which the cache should answer). 15%
  of visitors are API clients asking for a week (starting today or within 3 days), 40% of
  them then the following week. A page whose month has under 2 days left would auto-advance
  (the script does), so that is one more request then; on 3 December it never happens.

Time: the busy cache lives BUSY_CACHE_SECONDS of real time, so the whole day is compressed
by ``--compression`` k (default 120): one simulated second is 1/k real second, and every
lifetime the app reads from settings is divided by k too: BUSY_CACHE_SECONDS 120 -> 1,
BUSY_WARM_FOR_SECONDS 600 -> 5, BUSY_CACHE_STALE_SECONDS 600 -> 5, and the warmer (Celery
beat's warm-busy-cache, every 60 s in production, run here by this process in a thread)
every 60/k s. What decides hits is the ratio of the cache lifetime to the gaps between views
of the same range, and that ratio is kept. The simulator's latency is 300 ms / k. What is
*not* scaled: the app's own CPU per request, and one constant in calendars/busy.py (a range
is re-noted for warming at most every 5 s of real time, i.e. every 10 simulated minutes at
k=120, so the warmer may drop a range with steady traffic for a cycle); both are printed as
caveats. 8 simulated hours at k=120 are 240 s of real traffic, ~85 views/s.

Measured, from the simulator's request log (seeding and discovery excluded):

- EWS requests per 1,000 views, by operation: those the views caused (gunicorn) and those
  the warmer caused (it connects as ``localhost`` instead of ``127.0.0.1``, which the log's
  Host tells apart), and the total; goal < 100 per 1,000 views;
- cache hit rate: the share of views answered without any EWS request, each free/busy
  request attributed to the view it answered (the page's owners are the request's targets,
  and it was logged while that view was in flight);
- the dedicated mailbox's request rate in simulated time: average and peak per minute,
  peak per hour, against the budget below.

The budget assumed: Exchange Server's default throttling policy (GlobalThrottlingPolicy, Exchange
2013-2019 on-premises) charges each EWS caller the server time its requests take, in ms per
hour: EwsMaxBurst 300,000 (an account may run 5 minutes of server time ahead of its
recharge), EwsRechargeRate 900,000 (15 minutes of server time per hour come back),
EwsCutoffBalance 3,000,000 (at a balance of -3,000,000 the account is blocked), and
EwsMaxConcurrency 27. Sources: EWSMaxConcurrency 27 (Exchange 2013 and Online) is in Microsoft's
"EWS throttling in Exchange"
(https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange);
the budget values are those Exchange 2013 itself prints for its default EWS budget in
MSExchange ADAccess event 4023 ("Max Burst: 300000, Recharge Rate: 900000, CutoffBalance:
-3000000", quoted at https://coherence.us/coherence-blogs/how-to-configure-ex-2013-throttling-for-migration/),
with the units (ms of server time, per hour) as Set-ThrottlingPolicy and vendors' guides
describe them. Microsoft does not document these three defaults on a reference page; check
``Get-ThrottlingPolicy | fl Ews*`` on the target server. Into requests: at an assumed
``--server-ms`` (default 250 ms, the middle of the 100-500 ms real Exchange takes for
free/busy) per request, the recharge sustains 900,000 / 250 = 3,600 requests per hour (60
a minute), and the burst credit allows 1,200 more above that before micro-delays start. The
run replays the day through that token bucket (full at the start) and prints its lowest
balance: the goal is that it never goes below 0 (never throttled), and the peak concurrency
Little's law gives (peak rate x server time) stays under 27.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _servers as S

TZ = "Europe/London"
OTHER_ZONES = ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "America/Los_Angeles"]
RULES = {
    "tz": TZ,
    "hours": (wall(8), wall(18)),
    "weekdays": range(5),
    "duration_minutes": 30,
    "interval_minutes": 15,
    "min_notice_minutes": 60,
    "window_days": 60,
}
GOAL_PER_1000 = 100
# Exchange Server's default EWS budget (see the docstring for the source), ms per hour.
EWS_MAX_BURST_MS = 300_000
EWS_RECHARGE_MS_PER_HOUR = 900_000
EWS_CUTOFF_BALANCE_MS = -3_000_000
EWS_MAX_CONCURRENCY = 27
# The host the warmer uses, so the simulator's log tells its requests from the views'.
WARMER_HOST = "localhost"


# --- the world --------------------------------------------------------------------------------


@dataclass
class Page:
    slug: str
    owner: int
    # (mailbox, sub-calendar name or "") of each calendar; the first is the main one.
    calendars: list[tuple[str, str]]
    weight: float = 0.0

    @property
    def mailboxes(self) -> frozenset[str]:
        return frozenset(email for email, _ in self.calendars)

    @property
    def subcalendars(self) -> int:
        return sum(1 for _, name in self.calendars if name)


def mailbox(name: str) -> str:
    return f"{name}@{S.DOMAIN}"


def events_for(rng: random.Random, first_day: date, days: int, calendar: str | None) -> list[dict]:
    """bench/_servers.add_busy_week's calendar, as load_seed entries (one pipe call for all)."""
    monday = first_day - timedelta(days=first_day.weekday())
    extra = {"calendar": calendar} if calendar else {}
    seed = rng.randrange(1000)
    events: list[dict[str, Any]] = [
        {
            "subject": "Stand-up",
            "date": monday.isoformat(),
            "start": f"09:{15 * (seed % 4):02}",
            "minutes": 15,
            "recurrence": {
                "pattern": "weekly",
                "weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                "count": 5 * (days // 7 + 2),
            },
            **extra,
        },
        {
            "subject": "Team meeting",
            "date": (monday + timedelta(days=seed % 5)).isoformat(),
            "start": "14:00",
            "minutes": 60,
            "recurrence": {"pattern": "weekly", "count": days // 7 + 2},
            **extra,
        },
    ]
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for _ in range(rng.choice((2, 2, 3))):
            events.append(
                {
                    "subject": "Meeting",
                    "date": day.isoformat(),
                    "start": f"{rng.randrange(8, 17):02}:{rng.choice((0, 15, 30, 45)):02}",
                    "minutes": rng.choice((30, 30, 45, 60, 90)),
                    "status": rng.choices(("Busy", "Tentative", "Free", "OOF"), (70, 15, 10, 5))[0],
                    **extra,
                }
            )
    return events


def plan_world(rng: random.Random, owners: int, pages: int) -> tuple[list[Page], dict[str, bool]]:
    """The pages and their calendars; returns them and every colleague (True: has a rota)."""
    team_size, colleagues_per_team = 5, 4
    colleagues: dict[str, bool] = {}
    teams: dict[int, list[str]] = {}
    for team in range((owners + team_size - 1) // team_size):
        names = [mailbox(f"colleague-{team:02}-{i}") for i in range(colleagues_per_team)]
        for name in names:
            colleagues[name] = rng.random() < 1 / 8
        teams[team] = names
    # Every owner has a page; the rest go to owners with a skew (a few run many pages).
    page_owners = list(range(owners)) + rng.choices(
        range(owners), weights=[1 / (i + 1) ** 0.8 for i in range(owners)], k=pages - owners
    )
    planned = []
    for n, owner in enumerate(page_owners):
        team = owner // team_size
        own = mailbox(f"owner-{owner:03}")
        teammates = [
            mailbox(f"owner-{o:03}")
            for o in range(team * team_size, team * team_size + team_size)
            if o < owners and o != owner
        ]
        calendars = [(own, "")]
        extra = rng.choices((0, 1, 2, 3), (30, 35, 25, 10))[0]
        pool = teams[team] + teammates
        for who in rng.sample(pool, extra):
            rota = colleagues.get(who, False) and rng.random() < 0.5
            calendars.append((who, "Team rota" if rota else ""))
        planned.append(Page(f"page-{n:03}", owner, calendars))
    # Zipf-like popularity over a random order (a busy page is not always an early one).
    order = list(range(len(planned)))
    rng.shuffle(order)
    for rank, index in enumerate(order, 1):
        planned[index].weight = 1 / rank
    return planned, colleagues


def seed(stack: S.Stack, args: argparse.Namespace, rng: random.Random) -> tuple[list[Page], Any]:
    from django.contrib.auth.models import User

    from bookings.models import PageCalendar, PageCalendarOwner
    from calendars import discovery

    sim = stack.sim
    connection = S.corporate_connection(sim)
    pages, colleagues = plan_world(rng, args.owners, args.pages)
    first_day = date.today() - timedelta(days=3)
    days = 9 * 7
    mailboxes: list[dict[str, Any]] = []
    for i in range(args.owners):
        email = mailbox(f"owner-{i:03}")
        mailboxes.append(
            {
                "email": email,
                "password": f"pw-{i}",
                "timezone": TZ,
                "permissions": [{"grantee": connection.email, "level": "Delegate"}],
                "events": events_for(rng, first_day, days, None),
            }
        )
    for email, rota in colleagues.items():
        events = events_for(rng, first_day, days, None)
        permissions = [{"grantee": connection.email, "level": "Reviewer"}]
        if rota:
            events += events_for(rng, first_day, days, "Team rota")
            permissions.append(
                {"grantee": connection.email, "level": "Reviewer", "calendar": "Team rota"}
            )
        mailboxes.append(
            {
                "email": email,
                "password": "pw",
                "timezone": TZ,
                "calendars": ["Team rota"] if rota else [],
                "permissions": permissions,
                "events": events,
            }
        )
    S.progress(
        f"seeding {len(mailboxes)} mailboxes, "
        f"{sum(len(m['events']) for m in mailboxes)} events (one pipe call)"
    )
    sim.load_seed({"mailboxes": mailboxes})

    # Staff users and their membership, as S.staff_user makes them, in bulk (the delegation
    # is in the seed already).
    from django.utils import timezone

    from calendars.models import CorporateMember, MembershipProof

    users = User.objects.bulk_create(
        User(username=f"owner-{i:03}", email=mailbox(f"owner-{i:03}"), is_staff=True)
        for i in range(args.owners)
    )
    CorporateMember.objects.bulk_create(
        CorporateMember(
            user=user,
            connection=connection,
            mailbox=user.email,
            proof=MembershipProof.ACCOUNT,
            proven_at=timezone.now(),
            access_ok=True,
            can_write=True,
        )
        for user in users
    )

    # One discovery per mailbox (as the page editor would do once), shared by every page.
    needed = sorted({email for page in pages for email, _ in page.calendars})
    S.progress(f"discovering {len(needed)} mailboxes' calendars")
    refs: dict[tuple[str, str], Any] = {}
    for email in needed:
        found = discovery.discover(connection, email)
        if not found.calendars:
            raise RuntimeError(f"discovery of {email}: {found.message}")
        for ref in found.calendars:
            refs[(email, "" if ref.is_primary else ref.name)] = ref

    S.progress(f"creating {len(pages)} pages")
    for page in pages:
        model = S.booking_page(users[page.owner], page.slug, **RULES)
        PageCalendarOwner.objects.bulk_create(
            PageCalendarOwner(page=model, email=email) for email in sorted(page.mailboxes)
        )
        PageCalendar.objects.bulk_create(
            PageCalendar(page=model, calendar=refs[cal], role="main" if i == 0 else "busy")
            for i, cal in enumerate(page.calendars)
        )
    return pages, connection


# --- the traffic ------------------------------------------------------------------------------


@dataclass(order=True)
class View:
    at: float  # simulated seconds since the day began
    page: int = field(compare=False)
    query: str = field(compare=False)
    kind: str = field(compare=False)  # "month", "next month", "month again", "week", ...
    # Filled in by the run (wall-clock unix time, as the simulator's log has it).
    sent: float = field(default=0.0, compare=False)
    received: float = field(default=0.0, compare=False)
    status: int = field(default=0, compare=False)
    lag: float = field(default=0.0, compare=False)  # real seconds behind the schedule


def day_profile(rng: random.Random, hours: float) -> float:
    """A burst's start: a morning and an afternoon peak over a flat base, in seconds."""
    span = hours * 3600
    pick = rng.random()
    if pick < 0.4:
        at = rng.gauss(0.3 * span, 0.12 * span)
    elif pick < 0.8:
        at = rng.gauss(0.7 * span, 0.12 * span)
    else:
        at = rng.uniform(0, span)
    return min(max(at, 0.0), span)


def month_query(today: date, zone: str, months_ahead: int) -> str:
    first = date(
        today.year + (today.month - 1 + months_ahead) // 12,
        (today.month - 1 + months_ahead) % 12 + 1,
        1,
    )
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = max(first, today)
    return f"start={start}&end={after - timedelta(days=1)}&timezone={zone}"


def week_query(first: date, zone: str) -> str:
    return f"start={first}&end={first + timedelta(days=6)}&timezone={zone}"


def plan_views(rng: random.Random, pages: list[Page], n: int, hours: float) -> list[View]:
    """`n` views in bursts of visitors over the day; see the module docstring."""
    weights = [p.weight for p in pages]
    views: list[View] = []
    while len(views) < n:
        page = rng.choices(range(len(pages)), weights)[0]
        at = day_profile(rng, hours)
        visitors = 1 + min(int(rng.expovariate(1 / 3)), 30)
        for _ in range(visitors):
            views += visit(rng, page, at)
            at += rng.expovariate(1 / 90)
    views = views[:n]
    views.sort()
    return views


def visit(rng: random.Random, page: int, at: float) -> list[View]:
    # The visitor's "today" is the server's: the run happens now, in real dates.
    zone = TZ if rng.random() < 0.8 else rng.choice(OTHER_ZONES)
    today = datetime.now(ZoneInfo(zone)).date()
    steps: list[View] = []
    if rng.random() < 0.15:  # an API client: a week at a time
        first = today + timedelta(days=rng.choices((0, 1, 2, 3), (50, 25, 15, 10))[0])
        steps.append(View(at, page, week_query(first, zone), "week"))
        if rng.random() < 0.4:
            at += rng.uniform(5, 40)
            steps.append(View(at, page, week_query(first + timedelta(days=7), zone), "next week"))
        return steps
    steps.append(View(at, page, month_query(today, zone, 0), "month"))
    month_end = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    if (month_end - today).days < 2:  # booking.js auto-advances from an empty month
        at += 1
        steps.append(View(at, page, month_query(today, zone, 1), "next month"))
        return steps
    if rng.random() < 0.35:
        at += rng.uniform(5, 40)
        steps.append(View(at, page, month_query(today, zone, 1), "next month"))
        if rng.random() < 1 / 3:
            at += rng.uniform(5, 30)
            steps.append(View(at, page, month_query(today, zone, 0), "month again"))
    return steps


# --- the run ----------------------------------------------------------------------------------


@contextmanager
def warmer(stack: S.Stack, period: float, cycles: list[tuple[float, float, int]]) -> Iterator[None]:
    """Celery beat's warm-busy-cache, every `period` real seconds, in a thread of this process,
    reaching the simulator as `localhost` so its requests can be told apart in the log."""
    from django.db import connection as db

    from calendars import busy
    from calendars.models import ExchangeConnection

    real_in_bulk = ExchangeConnection.objects.in_bulk
    local = stack.sim.ews_url.replace("127.0.0.1", WARMER_HOST)

    def in_bulk(*a: Any, **kw: Any) -> dict[Any, ExchangeConnection]:
        found = real_in_bulk(*a, **kw)
        for conn in found.values():
            conn.ews_url = local  # only in memory: the warmer's view of the same mailbox
        return found

    stop = threading.Event()

    def loop() -> None:
        try:
            with mock.patch.object(ExchangeConnection.objects, "in_bulk", in_bulk):
                while not stop.wait(period):
                    started = time.time()
                    refreshed = busy.warm()
                    cycles.append((started, time.time(), refreshed))
        finally:
            db.close()

    thread = threading.Thread(target=loop, name="warm-busy-cache", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


def run_views(
    stack: S.Stack, pages: list[Page], views: list[View], k: float, threads: int
) -> float:
    """Send each view at its time (simulated seconds / k after the start); returns the start
    (unix time)."""

    def send(view: View) -> None:
        view.sent = time.time()
        view.lag = view.sent - (start + view.at / k)
        response = S.fetch(
            stack.base_url, f"/api/v1/pages/{pages[view.page].slug}/slots?{view.query}"
        )
        view.received = time.time()
        view.status = response.status

    start = time.time() + 0.5
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for done, view in enumerate(views):
            delay = start + view.at / k - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, view)
            if done % 2000 == 0:
                S.progress(f"{done} views sent, simulated {view.at / 3600:.2f} h")
    return start


def attribute(pages: list[Page], views: list[View], log: list[Any]) -> list[bool]:
    """Which views were answered from the cache: a miss sends one free/busy request (the page's
    mailboxes its targets) while the view is in flight; each request answers one view."""
    by_mailboxes: dict[frozenset[str], list[int]] = defaultdict(list)
    for i, view in enumerate(views):
        by_mailboxes[pages[view.page].mailboxes].append(i)  # views are in time order
    missed = [False] * len(views)
    for entry in log:
        if entry.operation != "GetUserAvailability" or not entry.target:
            continue
        targets = frozenset(t.strip().lower() for t in entry.target.split(","))
        candidates = by_mailboxes.get(targets, [])
        at = entry.timestamp.timestamp()
        # The earliest view in flight at that moment not yet given a request.
        sent = [views[i].sent for i in candidates]  # nearly sorted: the client sends in order
        last = bisect.bisect_right(sent, at + 0.05)
        for j in range(max(0, last - 200), last):  # a view takes far less than 200 views' time
            view = views[candidates[j]]
            # 50 ms of slack: the log's clock is read in another process, after the answer.
            if not missed[candidates[j]] and view.sent - 0.05 <= at <= view.received + 0.05:
                missed[candidates[j]] = True
                break
    return missed


def lowest_balance(bucket: list[float], budget_ms: float) -> float:
    """The lowest balance of Exchange's EWS budget (ms) over these request times (simulated s)."""
    balance, last = float(EWS_MAX_BURST_MS), 0.0
    lowest = balance
    recharge = EWS_RECHARGE_MS_PER_HOUR / 3600
    for at in bucket:
        balance = min(EWS_MAX_BURST_MS, balance + (at - last) * recharge)
        balance -= budget_ms
        last = at
        lowest = min(lowest, balance)
    return lowest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--views", type=int, default=20_000)
    parser.add_argument("--hours", type=float, default=8, help="simulated hours of traffic")
    parser.add_argument(
        "--compression",
        type=int,
        default=120,
        help="simulated seconds per real second; must divide 120 and 600 (cache lifetimes)",
    )
    parser.add_argument("--server-ms", type=float, default=250, help="Exchange time per request")
    parser.add_argument("--threads", type=int, default=64, help="client threads")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers")
    parser.add_argument("--no-warmer", action="store_true", help="run without the warmer")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    k = args.compression
    if 120 % k or 600 % k:
        parser.error("--compression must divide 120 and 600 (the settings are whole seconds)")

    rng = random.Random(args.seed)
    load_before = S.machine()
    extra_env = {
        "BUSY_CACHE_SECONDS": str(120 // k),
        "BUSY_WARM_FOR_SECONDS": str(600 // k),
        "BUSY_CACHE_STALE_SECONDS": str(600 // k),
        # The corporate mailbox is Reviewer on colleagues' calendars, as IT would set it.
        "LOG_LEVEL": "ERROR",
    }
    stack_args: dict[str, Any] = {"extra_env": extra_env}
    if args.workers:
        stack_args["workers"] = args.workers
    cycles: list[tuple[float, float, int]] = []
    with S.running_stack(**stack_args) as stack:
        pages, _ = seed(stack, args, rng)
        views = plan_views(rng, pages, args.views, args.hours)
        latency = 0.3 / k
        stack.sim.set_latency(latency)
        stack.sim.clear_log()
        S.progress(
            f"{len(views)} views over {args.hours:g} simulated hours, "
            f"{args.hours * 3600 / k:.0f} s of real time"
        )
        app_cpu = stack.server.cpu_seconds()
        if args.no_warmer:
            start = run_views(stack, pages, views, k, args.threads)
        else:
            with warmer(stack, 60 / k, cycles):
                start = run_views(stack, pages, views, k, args.threads)
        app_cpu = stack.server.cpu_seconds() - app_cpu
        log = stack.sim.log()
        load_after = S.machine()

    report(args, pages, views, log, start, cycles, latency, app_cpu)
    print(f"\nmachine: before {load_before}; after {load_after}")
    warning = S.busy_machine_warning()
    if warning:
        print(warning)


def report(
    args: argparse.Namespace,
    pages: list[Page],
    views: list[View],
    log: list[Any],
    start: float,
    cycles: list[tuple[float, float, int]],
    latency: float,
    app_cpu: float,
) -> None:
    k = args.compression
    n = len(views)
    bad = Counter(v.status for v in views if v.status != 200)
    from_views = [e for e in log if e.host and not e.host.startswith(WARMER_HOST)]
    from_warmer = [e for e in log if e.host and e.host.startswith(WARMER_HOST)]
    failed = [e for e in log if e.status != 200 or e.outcome != "NoError"]
    missed = attribute(pages, views, from_views)
    hits = n - sum(missed)

    def per_1000(count: int) -> float:
        return 1000 * count / n

    calendars = Counter(len(p.calendars) for p in pages)
    print(
        f"Scale run: {args.owners} owners, {len(pages)} pages "
        f"({', '.join(f'{calendars[c]} with {c}' for c in sorted(calendars))} calendars; "
        f"{sum(1 for p in pages if p.subcalendars)} read a sub-calendar), "
        f"{n} slot views over {args.hours:g} simulated hours"
    )
    kinds = Counter(v.kind for v in views)
    print("views: " + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common()))
    top = sorted(Counter(v.page for v in views).values(), reverse=True)
    print(
        f"views per page: top {top[0]}, median {S.median(top):g}, "
        f"{len(pages) - len(top)} pages unseen; "
        f"distinct (page, range) {len({(v.page, v.query) for v in views})}"
    )
    print(
        f"time compressed {k}x: BUSY_CACHE_SECONDS {120 // k} (120 simulated), warmer every "
        f"{60 / k:g} s (60), BUSY_WARM_FOR_SECONDS {600 // k} (600); simulator latency "
        f"{latency * 1000:.1f} ms (300 ms simulated)"
    )
    lags = sorted(v.lag for v in views)
    print(
        f"client behind schedule: median {S.ms(S.median(lags))}, p95 {S.ms(S.p95(lags))} real "
        f"({S.p95(lags) * k:.1f} simulated s); app CPU {app_cpu:.1f} s, "
        f"{S.ms(app_cpu / n)} per view"
    )
    if S.p95(lags) * k > 12:
        # Views that left late met the cache at other ages than the schedule says, and the
        # rates below are spread over a longer day: the figures are not the modelled day's.
        print(
            "NOT VALID: the client fell behind the schedule by more than a tenth of the cache "
            "lifetime (the server could not keep up); use a lower --compression or fewer views"
        )
    if bad or failed:
        what = Counter(f"{e.operation} {e.outcome}" for e in failed)
        print(f"NOT OK: {dict(bad)} non-200 answers, failed EWS requests: {dict(what)}")

    print()
    row = "{:<44}{:>14}{:>16}"
    print(row.format("", "measured", "goal"))
    total = len(from_views) + len(from_warmer)
    print(
        row.format(
            "EWS requests per 1,000 views, all", f"{per_1000(total):.1f}", f"< {GOAL_PER_1000}"
        )
    )
    print(row.format("  caused by views (gunicorn)", f"{per_1000(len(from_views)):.1f}", ""))
    print(row.format("  caused by the warmer", f"{per_1000(len(from_warmer)):.1f}", ""))
    ops = Counter(e.operation for e in from_views)
    for op, count in ops.most_common():
        print(row.format(f"    views: {op}", f"{per_1000(count):.1f}", ""))
    for op, count in Counter(e.operation for e in from_warmer).most_common():
        print(row.format(f"    warmer: {op}", f"{per_1000(count):.1f}", ""))
    print(row.format("cache hit rate (no EWS request)", f"{100 * hits / n:.1f}%", ""))
    for kind in kinds:
        of_kind = [i for i, v in enumerate(views) if v.kind == kind]
        rate = 100 * sum(1 for i in of_kind if not missed[i]) / len(of_kind)
        print(row.format(f"  {kind}", f"{rate:.1f}%", ""))
    if cycles:
        refreshed = sum(c[2] for c in cycles)
        longest = max(c[1] - c[0] for c in cycles)
        print(
            row.format(
                "warmer: ranges refreshed per cycle",
                f"{refreshed / len(cycles):.1f}",
                f"(n={len(cycles)})",
            )
        )
        print(row.format("  longest cycle, simulated s", f"{longest * k:.0f}", "60 (period)"))

    # The dedicated mailbox's rate, in simulated time: every request is the one account's.
    times = sorted((e.timestamp.timestamp() - start) * k for e in log)
    span_h = max(args.hours, (times[-1] if times else 0) / 3600)  # late views stretch it
    minutes = Counter(int(t // 60) for t in times)
    hours_ = [
        sum(1 for t in times if h * 3600 <= t < (h + 1) * 3600) for h in range(math.ceil(span_h))
    ]
    # Rolling 60-minute windows over the per-minute counts.
    rolling = max(
        (
            sum(minutes.get(m, 0) for m in range(s, s + 60))
            for s in range(max(1, int(span_h * 60) - 59))
        ),
        default=0,
    )
    budget_per_hour = EWS_RECHARGE_MS_PER_HOUR / args.server_ms
    peak_minute = max(minutes.values(), default=0)
    lowest = lowest_balance(times, args.server_ms)
    print()
    print(
        f"dedicated mailbox, simulated time; budget: EwsRechargeRate {EWS_RECHARGE_MS_PER_HOUR:,} "
        f"ms/h, EwsMaxBurst {EWS_MAX_BURST_MS:,} ms, EwsCutoffBalance {EWS_CUTOFF_BALANCE_MS:,} "
        f"ms, EwsMaxConcurrency {EWS_MAX_CONCURRENCY}, at {args.server_ms:g} ms per request"
    )
    print(row.format("", "measured", "budget"))
    print(
        row.format(
            "average requests per minute",
            f"{len(times) / (span_h * 60):.1f}",
            f"{budget_per_hour / 60:.0f} (sustained)",
        )
    )
    print(
        row.format(
            "peak requests in one minute", str(peak_minute), f"{budget_per_hour / 60:.0f} + burst"
        )
    )
    print(row.format("peak requests in one hour (rolling)", str(rolling), f"{budget_per_hour:.0f}"))
    print(row.format("busiest clock hour", str(max(hours_, default=0)), f"{budget_per_hour:.0f}"))
    print(
        row.format(
            "lowest budget balance, ms (full: 300,000)",
            f"{lowest:,.0f}",
            ">= 0 (no delays)",
        )
    )
    concurrency = peak_minute / 60 * args.server_ms / 1000
    print(
        row.format(
            "concurrency at the peak minute (Little)",
            f"{concurrency:.2f}",
            f"<= {EWS_MAX_CONCURRENCY}",
        )
    )
    requests_met = per_1000(total) < GOAL_PER_1000
    budget_met = lowest >= 0 and concurrency <= EWS_MAX_CONCURRENCY
    print(
        f"\ngoal < {GOAL_PER_1000} EWS requests per 1,000 views: "
        f"{'met' if requests_met else 'NOT met'}; within the default EWS budget: "
        f"{'met' if budget_met else 'NOT met'}"
    )
    print(
        "caveats: app CPU per request is not compressed; calendars/busy.py re-notes a range for "
        f"warming at most every 5 real s ({5 * k / 60:g} simulated min)"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (servers stopped, database dropped)")

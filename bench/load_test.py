"""Load test with faults: the public slots and booking endpoints under mixed load, Exchange
down for 30 s and the Celery worker killed mid-run; then nothing may be lost or duplicated.

Run: ``.venv/bin/python bench/load_test.py`` (``make load``); needs PostgreSQL and Redis on
loopback (``scripts/services.sh postgres redis``). Loopback only, bounded in time (about three
minutes) and in requests (``--max-requests``). It brings up (bench/_servers.py):

- the EWS simulator in a child process, 50 ms per round trip;
- a fresh PostgreSQL database, gunicorn as the Procfile starts it (gunicorn.conf.py: worker
  class, workers and threads; WORKER_CLASS, WEB_CONCURRENCY, WEB_THREADS override), DEBUG off;
- Redis as the shared cache (per-run key prefix, db 14) and as the Celery broker (its own
  database, ``LOAD_BROKER_URL``, default db 9 because the test suite's xdist workers use dbs
  10-15 for their caches; it must hold nothing but Celery's keys, and is emptied at the start
  and at the end);
- one real Celery worker (``celery -A scheduler_site worker --pool threads --concurrency 4``)
  on the same environment, with WRITE_MAX_BACKOFF_SECONDS=10 so that failed calendar writes
  come back within seconds. Instead of Celery beat (whose ``retry_due_writes`` runs every 60 s),
  this script sends the same task (``retry_due_writes.delay()``, run by the worker) every 5 s,
  to keep the run short.

Seed: a corporate connection and 4 staff owners, each with a booking page in their own zone,
open 06:00-22:00 every day for 60 days (two pages with 15-minute slots, two with 30-minute
slots every 15 minutes, so neighbouring slots overlap); the main calendar is the owner's
primary, and the next owner's primary is read for busy time. Every calendar holds eight weeks
of meetings (recurring stand-ups and weekly meetings, one-off meetings, some Tentative, Free
or OOF).

Phases:

1. baseline: ``GET /healthz`` (database, cache and broker checks) from the same number of
   client threads, for 15 s;
2. load, 90 s: each client thread loops, mostly ``GET /api/v1/pages/<slug>/slots`` over 7 days
   at a random page, start day and time zone, otherwise ``POST .../bookings`` for a random
   free slot picked from earlier slots answers; some bookings are fired as a pair of
   simultaneous requests for the same slot. Faults: the simulator goes down at 20 s and comes
   back at 50 s; the Celery worker is SIGKILLed at 35 s (while Exchange is down: the retries
   it holds are lost) and at 12 s (while bookings are confirmed: their write messages queue
   up, and its running writes stay leased), each time restarted 10 s later;
3. drain: wait until every calendar write is "written": at most 60 s, or longer when a write
   the killed worker was running stays leased longer (bookings.writes.LEASE, 2 minutes, plus
   two sweeps: the bound the app's design promises).

It prints requests per second, p50 and p95 latency for each endpoint and for /healthz, with
the ratios; the answers' status codes per endpoint; then checks, and prints the counts of:
no 5xx other than 503 (and every 503 with a message), no two 201s for one slot, every 201 is
a confirmed booking in the database and nothing else is, no overlapping bookings of one owner,
every write written once Exchange is back, and in the simulator exactly one event per booking
(found by the booking uid the app stamps as an extended property), at the booking's time, and
no event of the app without a booking. Exit status 1 if any check fails.

Per serving model it prints gunicorn's CPU per request, the CPU bound (requests/s that CPU
allows on the machine's cores) and throughput as a share of it (goal: at least 60%), and the
slots p95 under load over the median uncached slots answer on the idle server (goal: at most
3x). ``--models sync:2,gthread:2x4,gthread:2x16`` compares serving models side by side in one
run: for each, a fresh gunicorn, the warm-up, the unloaded requests, a short /healthz baseline
(``--model-baseline``) and the same mixed load for ``--model-duration`` seconds (30), without
faults; the checks then cover every model's requests together.

Also printed, not checked: how long writes took, the emails sent (file-based email backend:
one per customer, one per owner, and what the admins of ADMIN_EMAILS get), and the Celery
messages a killed worker left unacknowledged in Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import itertools
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from email.utils import getaddresses
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _servers as S

BROKER = os.environ.get("LOAD_BROKER_URL", "redis://127.0.0.1:6379/9")
LATENCY = 0.05
MAX_BACKOFF = 10
SWEEP_EVERY = 5.0
KILL = "Celery worker SIGKILLed"
RESTART = "Celery worker restarted"
ADMIN = "ops@example.org"  # ADMIN_EMAILS: what the site's admins are sent is counted too
UID_PROPERTY = "ExchangeSchedulerBookingUid"  # calendars/backends/ews.py BookingUid
OWNERS = [
    ("ada-owner", "Europe/London", 15),
    ("bo-owner", "America/New_York", 30),
    ("cyd-owner", "Europe/Berlin", 15),
    ("dee-owner", "Asia/Singapore", 30),
]
CUSTOMER_ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC"]
WINDOW_DAYS = 60
CUSTOMERS = itertools.count()  # one email address per booking attempt, across phases
# Celery's own keys in a Redis broker database: anything else there belongs to someone else.
BROKER_KEYS = re.compile(r"^(celery(\x06\x16\d+)?|unacked(_index|_mutex)?|_kombu\..*)$")


# --- the broker database ---------------------------------------------------------------------


def empty_broker(url: str, *, check: bool) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        if check:
            foreign = [
                key.decode(errors="replace")
                for key in itertools.islice(client.scan_iter(count=1000), 1000)
                if not BROKER_KEYS.match(key.decode(errors="replace"))
            ]
            if foreign:
                raise SystemExit(
                    f"{url} holds keys that are not Celery's (e.g. {foreign[:3]}); "
                    "set LOAD_BROKER_URL to an unused Redis database"
                )
        client.flushdb()
    finally:
        client.close()


# --- seeding -----------------------------------------------------------------------------------


@dataclass
class Page:
    slug: str
    owner_email: str
    tz: str
    duration: int


def seed(stack: S.Stack, first_day: date) -> list[Page]:
    sim = stack.sim
    connection = S.corporate_connection(sim)
    people = [S.person(sim, name) for name, _, _ in OWNERS]
    users = [S.staff_user(sim, connection, who) for who in people]
    for i, who in enumerate(people):
        S.add_busy_week(
            sim, who.email, first_day - timedelta(days=2), WINDOW_DAYS, tz=OWNERS[i][1], seed=i
        )
    pages = []
    for i, (name, tz, minutes) in enumerate(OWNERS):
        slug = f"load-{name}"
        page = S.booking_page(
            users[i],
            slug,
            tz=tz,
            hours=(wall(6), wall(22)),
            weekdays=range(7),
            duration_minutes=minutes,
            interval_minutes=15,
            buffer_before_minutes=0,
            buffer_after_minutes=0,
            min_notice_minutes=0,
            window_days=WINDOW_DAYS,
        )
        colleague = people[(i + 1) % len(people)]
        S.assign_calendars(
            page, connection, [(people[i].email, "", "main"), (colleague.email, "", "busy")]
        )
        pages.append(Page(slug, people[i].email, tz, minutes))
    return pages


# --- the clients -------------------------------------------------------------------------------


@dataclass
class Sample:
    endpoint: str  # "slots", "bookings" or "healthz"
    at: float  # seconds since the phase started, when the request was sent
    status: int  # 0: no HTTP answer (connection refused or reset, timeout)
    seconds: float
    body: bytes = b""


@dataclass
class Load:
    base_url: str
    pages: list[Page]
    first_day: date
    started: float
    deadline: float
    max_requests: int
    booking_share: float
    race_share: float
    samples: list[Sample] = field(default_factory=list)
    booked: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (slug, start)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # statuses of racing pairs
    candidates: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def go_on(self) -> bool:
        return time.monotonic() < self.deadline and len(self.samples) < self.max_requests

    def request(self, endpoint: str, path: str, data: Any = None) -> Sample:
        at = time.monotonic() - self.started
        method = "POST" if data is not None else "GET"
        started = time.perf_counter()
        try:
            response = S.fetch(self.base_url, path, method=method, data=data)
            sample = Sample(endpoint, at, response.status, response.seconds, response.body)
        except OSError as exc:
            sample = Sample(endpoint, at, 0, time.perf_counter() - started, repr(exc).encode())
        self.samples.append(sample)  # list.append is atomic under the GIL
        return sample

    def get_slots(self, rng: random.Random) -> None:
        page = rng.choice(self.pages)
        zone = rng.choice(CUSTOMER_ZONES)
        first = self.first_day + timedelta(days=rng.randrange(0, WINDOW_DAYS - 10))
        last = first + timedelta(days=6)
        sample = self.request(
            "slots", f"/api/v1/pages/{page.slug}/slots?start={first}&end={last}&timezone={zone}"
        )
        if sample.status != 200:
            return
        slots = json.loads(sample.body)["slots"]
        picked = [(slot["start"], zone) for slot in rng.sample(slots, min(5, len(slots)))]
        with self.lock:
            pool = self.candidates.setdefault(page.slug, [])
            pool.extend(picked)
            del pool[:-300]  # the freshest few hundred

    def book(self, rng: random.Random) -> None:
        with self.lock:
            slugs = [slug for slug, pool in self.candidates.items() if pool]
            if not slugs:
                return
            slug = rng.choice(slugs)
            pool = self.candidates[slug]
            start, zone = pool.pop(rng.randrange(len(pool)))
        if rng.random() < self.race_share:
            # Two customers press "Book" for the same slot at the same moment.
            barrier = threading.Barrier(2)
            answers: list[Sample] = []

            def other() -> None:
                barrier.wait()
                answers.append(self.post_booking(slug, start, zone))

            thread = threading.Thread(target=other)
            thread.start()
            barrier.wait()
            mine = self.post_booking(slug, start, zone)
            thread.join()
            with self.lock:
                self.pairs.append((mine.status, answers[0].status))
        else:
            self.post_booking(slug, start, zone)

    def post_booking(self, slug: str, start: str, zone: str) -> Sample:
        n = next(CUSTOMERS)
        sample = self.request(
            "bookings",
            f"/api/v1/pages/{slug}/bookings",
            {
                "start": start,
                "name": f"Load Customer {n}",
                "email": f"customer{n}@example.net",
                "timezone": zone,
                "notes": "Load test booking",
            },
        )
        if sample.status == 201:
            booking_id = json.loads(sample.body)["id"]
            with self.lock:
                self.booked[booking_id] = (slug, start)
        return sample

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        while self.go_on():
            if rng.random() < self.booking_share:
                self.book(rng)
            else:
                self.get_slots(rng)

    def healthz_client(self, seed: int) -> None:
        while self.go_on():
            self.request("healthz", "/healthz")


def run_clients(target: Any, clients: int) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    return threads


# --- figures -----------------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    n: int
    rps: float
    p50: float
    p95: float
    statuses: Counter


def figures(label: str, samples: list[Sample], seconds: float) -> Figures | None:
    if len(samples) < 2:
        return None
    times = [s.seconds for s in samples]
    statuses = Counter(s.status for s in samples)
    return Figures(
        label, len(samples), len(samples) / seconds, S.median(times), S.p95(times), statuses
    )


def status_text(statuses: Counter) -> str:
    return ", ".join(
        f"{code or 'no answer'} x{n}" for code, n in sorted(statuses.items(), key=lambda i: i[0])
    )


# --- checks ------------------------------------------------------------------------------------


class Checks:
    def __init__(self) -> None:
        self.lines: list[tuple[bool, str]] = []

    def add(self, ok: bool, text: str) -> None:
        self.lines.append((ok, text))

    @property
    def failed(self) -> int:
        return sum(1 for ok, _ in self.lines if not ok)


def check_answers(load: Load, checks: Checks) -> None:
    public = [s for s in load.samples if s.endpoint in ("slots", "bookings")]
    server_errors = [s for s in public if s.status >= 500 and s.status != 503]
    checks.add(
        not server_errors,
        f"5xx answers other than 503 from the public endpoints: {len(server_errors)}"
        + (
            f" (first: {server_errors[0].status} {server_errors[0].body[:200]!r})"
            if server_errors
            else ""
        ),
    )
    unanswered = [s for s in load.samples if s.status == 0]
    checks.add(
        not unanswered,
        f"requests without an HTTP answer (refused, reset, timed out): {len(unanswered)}"
        + (f" (first: {unanswered[0].body[:200]!r})" if unanswered else ""),
    )
    unavailable = [s for s in public if s.status == 503]
    explained = 0
    for s in unavailable:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            if str(json.loads(s.body).get("detail") or "").strip():
                explained += 1
    checks.add(
        explained == len(unavailable),
        f"503 answers with a message in 'detail': {explained} of {len(unavailable)}",
    )
    expected = {"slots": {200, 503}, "bookings": {201, 409, 503}}
    odd = Counter((s.endpoint, s.status) for s in public if s.status not in expected[s.endpoint])
    checks.add(
        not odd,
        "answers other than 200/503 (slots) and 201/409/503 (bookings): "
        + (", ".join(f"{e} {c} x{n}" for (e, c), n in sorted(odd.items())) or "none"),
    )
    both = sum(1 for a, b in load.pairs if a == b == 201)
    outcomes = Counter(tuple(sorted(p)) for p in load.pairs)
    checks.add(
        both == 0,
        f"racing pairs (two POSTs for one slot at once): {len(load.pairs)}; both 201: {both} "
        f"(outcomes: {', '.join(f'{a}+{b} x{n}' for (a, b), n in sorted(outcomes.items()))})",
    )


def check_bookings(load: Load, checks: Checks) -> list[Any]:
    from bookings.models import Booking, BookingStatus

    in_db = {str(b.pk): b for b in Booking.objects.select_related("page", "owner")}
    confirmed = set(load.booked)
    lost = confirmed - set(in_db)
    extra = set(in_db) - confirmed
    checks.add(
        not lost and not extra,
        f"bookings confirmed (201): {len(confirmed)}; in the database: {len(in_db)} "
        f"(lost: {len(lost)}, extra: {len(extra)})",
    )
    wrong = 0
    for pk, (slug, start) in load.booked.items():
        b = in_db.get(pk)
        if b is not None and (
            b.status != BookingStatus.CONFIRMED
            or b.page.slug != slug
            or b.start != datetime.fromisoformat(start).astimezone(UTC)
        ):
            wrong += 1
    checks.add(not wrong, f"bookings not confirmed, or not at the page and slot asked for: {wrong}")
    overlaps = 0
    by_owner: dict[int, list[Any]] = defaultdict(list)
    for b in in_db.values():
        if b.status == BookingStatus.CONFIRMED:
            by_owner[b.owner_id].append(b)
    for bookings in by_owner.values():
        bookings.sort(key=lambda b: (b.start, b.end))
        overlaps += sum(1 for a, b in itertools.pairwise(bookings) if b.start < a.end)
    checks.add(not overlaps, f"overlapping confirmed bookings of one owner: {overlaps}")
    return list(in_db.values())


def check_events(stack: S.Stack, pages: list[Page], bookings: list[Any], checks: Checks) -> None:
    from bookings.models import EventWrite, WriteState

    events: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    seeded = 0
    for page in pages:
        for item in stack.sim.items(page.owner_email):
            uid = (item["extended"].get(UID_PROPERTY) or [""])[0]
            if uid:
                events[uid].append((page.owner_email, item))
            else:
                seeded += 1
    by_uid = {b.uid: b for b in bookings}
    once = missing = duplicated = misplaced = 0
    for b in bookings:
        found = events.get(b.uid, [])
        if not found:
            missing += 1
            continue
        if len(found) > 1:
            duplicated += 1
        for owner, item in found:
            if owner != b.owner.email.lower() or (item["start"], item["end"]) != (b.start, b.end):
                misplaced += 1
        if len(found) == 1:
            once += 1
    orphans = [uid for uid in events if uid not in by_uid]
    app_events = sum(len(v) for v in events.values())
    checks.add(
        once == len(bookings) and not (missing or duplicated or misplaced or orphans),
        f"events with a booking uid in the owners' calendars: {app_events} (besides {seeded} "
        f"seeded meetings); bookings with exactly one event: {once} of {len(bookings)}; "
        f"with none: {missing}; duplicated: {duplicated}; at another time or in another "
        f"calendar: {misplaced}; events without a booking: {len(orphans)}",
    )
    writes = list(EventWrite.objects.filter(state=WriteState.DONE))
    item_ids = {item["id"] for found in events.values() for _, item in found}
    stale_ids = sum(1 for w in writes if w.item_id not in item_ids)
    checks.add(
        not stale_ids,
        f"written calendar writes whose item id is not the event in Exchange: {stale_ids}",
    )


def write_delays(down: datetime | None, up: datetime | None) -> dict[str, Any]:
    """Seconds from booking to its event written; and for bookings confirmed before Exchange
    went down but written after it came back, seconds from its coming back."""
    from bookings.models import EventWrite, WriteState

    rows = EventWrite.objects.filter(state=WriteState.DONE).values_list(
        "booking__created", "done_at"
    )
    delays = [(done - created).total_seconds() for created, done in rows]
    after_outage = [
        (done - up).total_seconds()
        for created, done in rows
        if down and up and created < down and done > up
    ]
    return {"all": delays, "after_outage": after_outage}


def emails_sent(folder: Path) -> list[tuple[str, str]]:
    """(recipient, subject) of every message Django's file-based email backend wrote."""
    sent = []
    for path in folder.glob("*.log"):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                message = email.message_from_bytes(chunk)
                for _, address in getaddresses(message.get_all("To", [])):
                    sent.append((address.lower(), str(message.get("Subject", ""))))
    return sent


def broker_leftovers(url: str) -> tuple[int, list[tuple[str, str]]]:
    """Messages still queued, and those delivered but never acknowledged (task name and its
    arguments' repr): held by a worker that was killed, Redis hands them out again only after
    the visibility timeout (kombu's default: 1 h)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        queued = client.llen("celery")
        unacked = []
        for raw in client.hvals("unacked"):
            with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                headers = json.loads(raw)[0]["headers"]
                unacked.append((headers["task"], headers.get("argsrepr", "")))
        return queued, unacked
    finally:
        client.close()


# --- serving models ----------------------------------------------------------------------------

# The goals, printed beside the figures.
GOAL_SHARE_OF_CPU_BOUND = 0.6
GOAL_P95_OVER_UNLOADED = 3.0


@dataclass
class ModelRun:
    """One serving model's phases: its /healthz baseline, its load and what it cost."""

    model: S.ServingModel
    healthz: Load
    healthz_seconds: float
    load: Load
    seconds: float
    cpu: float  # gunicorn's CPU seconds (master and workers) during the load
    machine_busy: float  # share of all the machine's cores busy during the load
    unloaded: list[float]  # seconds of uncached slots answers, one request at a time

    def public(self, endpoint: str | None = None) -> list[Sample]:
        wanted = (endpoint,) if endpoint else ("slots", "bookings")
        return [s for s in self.load.samples if s.endpoint in wanted]

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / max(1, len(self.public()))

    @property
    def cpu_bound(self) -> float:
        """Requests/s the app's CPU per request allows on this machine's cores: what
        throughput would be if nothing but CPU limited it (Exchange's waits overlapped)."""
        return (os.cpu_count() or 1) / self.cpu_per_request if self.cpu else math.inf

    @property
    def rps(self) -> float:
        return len(self.public()) / self.seconds


def warm_up(stack: S.Stack, pages: list[Page], first_day: date) -> Load:
    """Each gunicorn worker imports, connects and opens its EWS session."""
    warm = Load(
        stack.base_url, pages, first_day, time.monotonic(), time.monotonic() + 60, 100, 1, 0
    )
    rng = random.Random(0)
    for _ in range(8):
        warm.get_slots(rng)
    for _ in range(2):
        warm.book(rng)
    for _ in range(20):
        warm.request("healthz", "/healthz")
    if any(s.status not in (200, 201) for s in warm.samples):
        bad = next(s for s in warm.samples if s.status not in (200, 201))
        raise RuntimeError(f"warm-up: {bad.endpoint} answered {bad.status}: {bad.body[:300]!r}")
    return warm


def unloaded_uncached(stack: S.Stack, pages: list[Page], first_day: date, n: int) -> list[float]:
    """Seconds of `n` slots answers one at a time with no busy time cached: what a customer
    waits for on an idle server, the yardstick of the latency under load."""
    probe = Load(stack.base_url, pages, first_day, time.monotonic(), math.inf, n, 0, 0)
    rng = random.Random(1)
    for _ in range(n):
        stack.clear_busy_cache()
        probe.get_slots(rng)
    return [s.seconds for s in probe.samples if s.status == 200]


def healthz_baseline(
    stack: S.Stack, pages: list[Page], first_day: date, args: argparse.Namespace, seconds: float
) -> tuple[Load, float]:
    now = time.monotonic()
    base = Load(stack.base_url, pages, first_day, now, now + seconds, args.max_requests, 0, 0)
    for thread in run_clients(base.healthz_client, args.clients):
        thread.join()
    return base, time.monotonic() - base.started


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot (Linux /proc/stat): everything on the
    machine, the simulator, PostgreSQL, Redis, the worker and these clients included."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def machine_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def print_models(runs: list[ModelRun]) -> None:
    cores = os.cpu_count() or 1
    print(
        f"serving models (slots + bookings; CPU = gunicorn's user + system time; CPU bound = "
        f"{cores} cores / CPU per request; goals: throughput >= "
        f"{GOAL_SHARE_OF_CPU_BOUND:.0%} of the CPU bound, slots p95 under load <= "
        f"{GOAL_P95_OVER_UNLOADED:.0f}x the unloaded uncached p50)"
    )
    print(
        f"{'model':<34}{'req/s':>7}{'slots p50':>11}{'p95':>10}{'book p50':>10}{'p95':>10}"
        f"{'CPU/req':>9}{'bound':>8}{'share':>7}{'machine':>9}{'app':>6}{'unloaded':>10}"
        f"{'p95/unl':>9}"
    )
    for run in runs:
        slots = [s.seconds for s in run.public("slots") if s.status == 200]
        books = [s.seconds for s in run.public("bookings") if s.status in (201, 409)]
        unloaded = S.median(run.unloaded) if run.unloaded else math.nan
        slots_p95 = S.p95(slots) if len(slots) > 1 else math.nan
        share = run.rps / run.cpu_bound
        over = slots_p95 / unloaded
        busy_seconds = run.machine_busy * (os.cpu_count() or 1) * run.seconds
        app_share = run.cpu / busy_seconds if busy_seconds else math.nan
        print(
            f"{str(run.model).removeprefix('gunicorn: '):<34}{run.rps:>7.1f}"
            f"{S.ms(S.median(slots)) if slots else 'n/a':>11}"
            f"{S.ms(slots_p95) if len(slots) > 1 else 'n/a':>10}"
            f"{S.ms(S.median(books)) if books else 'n/a':>10}"
            f"{S.ms(S.p95(books)) if len(books) > 1 else 'n/a':>10}"
            f"{S.ms(run.cpu_per_request):>9}{run.cpu_bound:>8.1f}"
            f"{share:>6.0%}{'' if share >= GOAL_SHARE_OF_CPU_BOUND else '!'}"
            f"{run.machine_busy:>8.0%} {app_share:>5.0%}{S.ms(unloaded):>10}"
            f"{over:>8.2f}{'' if over <= GOAL_P95_OVER_UNLOADED else '!'}"
        )
    print(
        "(share: req/s / CPU bound; machine: all cores busy during the load, whoever used them; "
        "app: gunicorn's part of that busy time, the rest being the simulator, PostgreSQL, "
        "Redis, the Celery worker and these clients; unloaded: median uncached slots answer, "
        "one request at a time; ! = goal missed)"
    )


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Fault:
    at: float
    what: str
    action: Any
    done_at: float | None = None  # seconds into the load
    done_wall: datetime | None = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--duration", type=float, default=90, help="seconds of mixed load")
    parser.add_argument("--baseline", type=float, default=15, help="seconds of /healthz")
    parser.add_argument("--max-requests", type=int, default=20000, help="per phase")
    parser.add_argument("--booking-share", type=float, default=0.3)
    parser.add_argument("--race-share", type=float, default=0.2, help="of bookings, as pairs")
    parser.add_argument("--exchange-down-at", type=float, default=20)
    parser.add_argument("--exchange-down-for", type=float, default=30)
    parser.add_argument(
        "--kill-worker-at", type=float, nargs="+", default=[12, 35], help="seconds, one or more"
    )
    parser.add_argument("--worker-down-for", type=float, default=10)
    parser.add_argument(
        "--drain",
        type=float,
        default=60,
        help="longest wait for the writes after the load (longer if a write lease of a killed "
        "worker runs out later)",
    )
    parser.add_argument("--logs", type=Path, help="keep gunicorn's and the worker's logs here")
    parser.add_argument(
        "--models",
        help="serving models side by side, each a fresh gunicorn under the same load, without "
        "faults, e.g. sync:2,gthread:2x4,gthread:2x16 (default: gunicorn.conf.py's, with faults)",
    )
    parser.add_argument(
        "--model-duration", type=float, default=30, help="seconds of load per model (--models)"
    )
    parser.add_argument(
        "--model-baseline", type=float, default=5, help="seconds of /healthz per model (--models)"
    )
    parser.add_argument(
        "--unloaded", type=int, default=12, help="uncached slots requests, one at a time"
    )
    args = parser.parse_args(argv)

    load_before = S.machine()
    empty_broker(BROKER, check=True)
    checks = Checks()
    with contextlib.ExitStack() as outer:
        outer.callback(empty_broker, BROKER, check=False)
        mail = Path(tempfile.mkdtemp(prefix="load-mail-"))
        outer.callback(shutil.rmtree, mail, ignore_errors=True)
        stack = outer.enter_context(
            S.running_stack(
                broker_url=BROKER,
                extra_env={
                    "WRITE_MAX_BACKOFF_SECONDS": str(MAX_BACKOFF),
                    "ADMIN_EMAILS": ADMIN,
                    # Emails as files, one per message batch: counted per recipient below.
                    "EMAIL_URL": f"filemail:///{mail}",  # django-environ drops one "/"
                },
            )
        )
        worker = S.CeleryWorker(stack.env, stack.tmp / "celery-worker.log", concurrency=4)
        outer.callback(worker.stop)  # runs before running_stack drops the database
        outer.callback(S.progress, "stopping the Celery worker")
        S.progress("starting the Celery worker")
        worker.start()

        first_day = datetime.now(UTC).date() + timedelta(days=1)
        S.progress("seeding the simulator and the database")
        pages = seed(stack, first_day)
        stack.sim.set_latency(LATENCY)

        from bookings.tasks import retry_due_writes

        models: list[S.ServingModel | None] = (
            [S.ServingModel.parse(m) for m in args.models.split(",")] if args.models else [None]
        )
        side_by_side = args.models is not None
        runs: list[ModelRun] = []
        booked: dict[str, tuple[str, str]] = {}
        sweeps = 0
        for model in models:
            if side_by_side:
                # A fresh server per model, the same load: the ratios are what counts.
                stack.restart_server(model)
            warm = warm_up(stack, pages, first_day)
            booked.update(warm.booked)
            S.progress(f"unloaded: {args.unloaded} uncached slots requests, one at a time")
            unloaded = unloaded_uncached(stack, pages, first_day, args.unloaded)
            baseline = args.model_baseline if side_by_side else args.baseline
            S.progress(f"baseline: GET /healthz from {args.clients} threads for {baseline:.0f} s")
            base, base_seconds = healthz_baseline(stack, pages, first_day, args, baseline)
            duration = args.model_duration if side_by_side else args.duration
            S.progress(
                f"load ({stack.server.model}): slots and bookings from {args.clients} threads "
                f"for {duration:.0f} s"
            )
            stack.clear_busy_cache()  # every model starts from the same cold cache
            stack.sim.clear_log()
            now = time.monotonic()
            load = Load(
                stack.base_url,
                pages,
                first_day,
                now,
                now + duration,
                args.max_requests,
                args.booking_share,
                args.race_share,
            )
            faults: list[Fault] = []
            if not side_by_side:
                sim, up_at = stack.sim, args.exchange_down_at + args.exchange_down_for
                faults = [
                    Fault(args.exchange_down_at, "simulator down", sim.go_down),
                    Fault(up_at, "simulator up", sim.come_up),
                ]
                for at in args.kill_worker_at:
                    faults.append(Fault(at, KILL, worker.kill))
                    faults.append(
                        Fault(at + args.worker_down_for, RESTART, worker.start_in_background)
                    )
                faults.sort(key=lambda f: f.at)
            cpu_before, machine_before = stack.server.cpu_seconds(), machine_cpu()
            threads = run_clients(load.client, args.clients)
            next_sweep = SWEEP_EVERY
            while any(t.is_alive() for t in threads):
                elapsed = time.monotonic() - load.started
                for fault in faults:
                    if fault.done_at is None and elapsed >= fault.at:
                        S.progress(fault.what)
                        fault.action()
                        fault.done_at = time.monotonic() - load.started
                        fault.done_wall = datetime.now(UTC)
                if elapsed >= next_sweep:
                    retry_due_writes.delay()
                    sweeps += 1
                    next_sweep += SWEEP_EVERY
                time.sleep(0.05)
            load_seconds = time.monotonic() - load.started
            cpu = stack.server.cpu_seconds() - cpu_before
            busy = machine_share(machine_before, machine_cpu())
            for fault in faults:  # a run shorter than the fault schedule still ends healthy
                if fault.done_at is None and fault.what != KILL:
                    fault.action()
            booked.update(load.booked)
            sweep_at = load.started + next_sweep  # the next sweep, on the monotonic clock
            runs.append(
                ModelRun(
                    stack.server.model, base, base_seconds, load, load_seconds, cpu, busy, unloaded
                )
            )
        worker.wait_started()
        if not worker.alive:
            worker.start()
        if side_by_side:
            # The checks below cover every model's requests at once.
            merged = Load(stack.base_url, pages, first_day, load.started, 0, 0, 0, 0)
            for run in runs:
                merged.samples.extend(run.load.samples)
                merged.pairs.extend(run.load.pairs)
            load, load_seconds = merged, sum(run.seconds for run in runs)
            # As if the loads ran back to back, ending when the last one did (the drain's clock).
            merged.started = runs[-1].load.started + runs[-1].seconds - load_seconds
        load.booked.update(booked)
        down_fault = next((f for f in faults if f.what == "simulator down"), None)
        up_fault = next((f for f in faults if f.what == "simulator up"), None)
        if up_fault is None or down_fault is None:  # no outage: every request had Exchange up
            exchange_gone = exchange_back = math.inf
        else:
            exchange_back = up_fault.done_at or load_seconds
            exchange_gone = down_fault.done_at or 0.0

        from bookings.models import EventWrite, WriteState

        # A write that a killed worker was running stays leased (bookings.writes.LEASE) until
        # the lease runs out; the next sweep after that retries it. Wait for that too.
        from bookings.writes import LEASE

        last_kill = max((f.done_at for f in faults if f.what == KILL and f.done_at), default=0)
        lease_bound = last_kill + LEASE.total_seconds() + 2 * SWEEP_EVERY - load_seconds
        drain = max(args.drain, lease_bound)
        S.progress(f"drain: waiting up to {drain:.0f} s for every calendar write")
        deadline = time.monotonic() + drain
        while True:
            pending = EventWrite.objects.exclude(state=WriteState.DONE).count()
            if not pending or time.monotonic() > deadline:
                break
            if time.monotonic() >= sweep_at:
                retry_due_writes.delay()
                sweeps += 1
                sweep_at += SWEEP_EVERY
            time.sleep(0.5)
        drained_after = time.monotonic() - load.started - load_seconds
        total_writes = EventWrite.objects.count()
        unwritten = list(
            EventWrite.objects.exclude(state=WriteState.DONE).values_list(
                "pk", "state", "attempts", "lease_until", "next_attempt_at", "last_error"
            )
        )
        checks.add(
            not unwritten,
            f"calendar writes: {total_writes}; written: {total_writes - len(unwritten)}; "
            + (
                f"all written {drained_after:.1f} s after the load ended (bound {drain:.0f} s)"
                if not unwritten
                else f"NOT written {drained_after:.0f} s after the load ended: {unwritten[:3]}"
            ),
        )

        delays = write_delays(
            down_fault.done_wall if down_fault else None, up_fault.done_wall if up_fault else None
        )
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in [*stack.tmp.glob("gunicorn*.log"), worker.log_path]:
                shutil.copy(log, args.logs / log.name)

        # Emails are not part of the drain: give the queue a few seconds to empty.
        deadline = time.monotonic() + 10
        while broker_leftovers(BROKER)[0] and time.monotonic() < deadline:
            time.sleep(0.5)
        queued, unacked = broker_leftovers(BROKER)
        sent = emails_sent(mail)
        mails = Counter(to for to, _ in sent)
        to_admins = Counter(subject.split(":")[0] for to, subject in sent if to == ADMIN)

        S.progress("checking answers, the database and the simulator's calendars")
        check_answers(load, checks)
        bookings = check_bookings(load, checks)
        check_events(stack, pages, bookings, checks)
        confirmations = Counter(mails[b.email.lower()] for b in bookings)
        held = " ".join(args for task, args in unacked if task.endswith("send_customer_email"))
        unsent_held = sum(1 for b in bookings if not mails[b.email.lower()] and str(b.pk) in held)
        ews = Counter(entry.operation for entry in stack.sim.log())
        worker_log = worker.log_path.read_text(errors="replace")
        load_after = S.machine()

    failed_attempts = re.findall(
        r"calendar write (\d+) failed \((\w*)\), attempt (\d+)", worker_log
    )
    per_write = Counter(pk for pk, _, _ in failed_attempts)

    served = "; ".join(str(run.model) for run in runs)
    print(
        f"Load test: {served} + PostgreSQL + Redis (cache; Celery broker "
        f"{BROKER}) + 1 Celery worker (threads x4); EWS simulator at {LATENCY * 1000:.0f} ms per "
        f"round trip; {args.clients} client threads"
        + (f"; side by side, {args.model_duration:.0f} s of load each" if side_by_side else "")
    )
    print(
        f"pages: {len(pages)} owners, 06:00-22:00 every day, 15- and 30-minute slots every 15 "
        "minutes, main = owner's primary, busy = a colleague's primary"
    )
    print(
        (
            "faults: none (serving models side by side)"
            if side_by_side
            else "faults (s into the load): "
        )
        + "; ".join(f"{f.what} at {f.done_at:.1f}" for f in faults if f.done_at is not None)
        + "".join(
            f"; worker ready again at {t - load.started:.1f}"
            for t in worker.ready_times
            if t > load.started
        )
        + f"; retry_due_writes sent {sweeps} times (every {SWEEP_EVERY:.0f} s, instead of beat's "
        f"60 s); WRITE_MAX_BACKOFF_SECONDS={MAX_BACKOFF}"
    )
    print()
    down_from, down_to = exchange_gone, exchange_back
    up_seconds = load_seconds - (down_to - down_from) if math.isfinite(down_from) else load_seconds

    def up(s: Sample) -> bool:
        """Sent and answered while the simulator was up."""
        return s.at + s.seconds < down_from or s.at >= down_to

    base, base_seconds = runs[0].healthz, runs[0].healthz_seconds
    healthz = figures(f"GET /healthz (baseline, {base_seconds:.0f} s)", base.samples, base_seconds)
    rows = [healthz]
    for endpoint, label in (("slots", "GET slots"), ("bookings", "POST bookings")):
        mine = [s for s in load.samples if s.endpoint == endpoint]
        rows.append(figures(f"{label} (all {load_seconds:.0f} s)", mine, load_seconds))
        rows.append(figures(f"{label} (Exchange up)", [s for s in mine if up(s)], up_seconds))
    public = [s for s in load.samples if s.endpoint in ("slots", "bookings")]
    rows.append(figures(f"slots + bookings (all {load_seconds:.0f} s)", public, load_seconds))
    print_models(runs)
    print()
    if side_by_side:  # the per-model table above says it per model
        rows = []
    else:
        print(
            f"{'':<34}{'requests':>9}{'req/s':>8}{'p50':>10}{'p95':>10}"
            f"{'p50 ratio':>11}{'p95 ratio':>11}  statuses"
        )
    for row in rows:
        if row is None:
            continue
        r50 = S.ratio(row.p50, healthz.p50) if healthz else "n/a"
        r95 = S.ratio(row.p95, healthz.p95) if healthz else "n/a"
        print(
            f"{row.label:<34}{row.n:>9}{row.rps:>8.1f}{S.ms(row.p50):>10}{S.ms(row.p95):>10}"
            f"{r50:>11}{r95:>11}  {status_text(row.statuses)}"
        )
    if healthz and rows and rows[-1]:
        print(
            f"(ratios: latency / /healthz latency; throughput, slots + bookings / healthz = "
            f"{S.ratio(rows[-1].rps, healthz.rps)})"
        )
    print()
    operations = ", ".join(f"{op or 'unparsed'} x{n}" for op, n in ews.most_common())
    print(f"EWS requests during the load: {sum(ews.values())} ({operations})")
    during = [s for s in load.samples if s.endpoint == "slots" and not up(s)]
    stale = sum(1 for s in during if s.status == 200 and json.loads(s.body).get("stale"))
    print(
        f"slots requests while Exchange was down: {len(during)}; answered from the stale "
        f"cache: {stale}; 200 otherwise: {sum(1 for s in during if s.status == 200) - stale}"
    )
    late = [s for s in load.samples if s.status == 503 and up(s)]
    if late:
        print(
            "503s while Exchange was up (s into the load): "
            + ", ".join(f"{s.endpoint} {s.at:.1f}" for s in late[:12])
        )
    if len(delays["all"]) > 1:
        print(
            f"booking -> event written: p50 {S.ms(S.median(delays['all']))}, p95 "
            f"{S.ms(S.p95(delays['all']))}, max {S.ms(max(delays['all']))}; writes of bookings "
            f"confirmed before Exchange went down and written after it came back: "
            f"{len(delays['after_outage'])}"
            + (
                f", the last {max(delays['after_outage']):.1f} s after"
                if delays["after_outage"]
                else ""
            )
        )
    print(
        f"failed write attempts logged by the worker: {len(failed_attempts)} across "
        f"{len(per_write)} writes (most for one write: {max(per_write.values(), default=0)})"
    )
    print(
        f"customer emails: {len(bookings)} bookings; exactly one email: {confirmations[1]}, "
        f"none: {confirmations[0]} (of which {unsent_held} held unacknowledged by a killed "
        f"worker), more than one: {sum(n for k, n in confirmations.items() if k > 1)}; "
        f"owners' emails: {sum(n for a, n in mails.items() if a.endswith(S.DOMAIN))}"
    )
    print(
        f"emails to the admins (ADMIN_EMAILS={ADMIN}): {sum(to_admins.values())}"
        + (
            f" ({', '.join(f'{subject!r} x{n}' for subject, n in to_admins.most_common(4))})"
            if to_admins
            else ""
        )
    )
    tasks = Counter(task for task, _ in unacked)
    print(
        f"Celery messages left in Redis: {queued} queued; "
        f"{len(unacked)} delivered but never acknowledged"
        + (f" ({', '.join(f'{t} x{n}' for t, n in tasks.most_common())})" if unacked else "")
    )
    print()
    for ok, text in checks.lines:
        print(f"{'OK  ' if ok else 'FAIL'} {text}")
    print()
    print(f"machine: before {load_before}; after {load_after}")
    warning = S.busy_machine_warning()
    if warning:
        print(warning)
    if checks.failed:
        print(f"{checks.failed} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted (servers stopped, database dropped)")

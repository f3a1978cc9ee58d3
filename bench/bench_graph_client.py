"""The product's thin Microsoft Graph client against Microsoft's Graph SDK for Python
(msgraph-sdk, on kiota and msgraph-core), side by side in one run: client-side CPU and wall
time per busy-time call, installed size of the dependencies, import time.

Run: ``.venv/bin/python bench/bench_graph_client.py [--calls 12] [--rounds 5]``. msgraph-sdk
is not a dependency of the app, only of this benchmark: install it with
``.venv/bin/pip install -e '.[bench]'`` (or ``.venv/bin/pip install msgraph-sdk``). No
database, Redis or gunicorn; about 20 s.

The simulator (EWS and Graph on one plain-HTTP server, Bearer tokens from its identity
provider over HTTPS with a throw-away CA) runs in a child process (bench/_servers.py's
SimulatorProcess), so this process's CPU time (time.process_time, all its threads) is the
clients' alone: building the request, HTTP, parsing the answer, and reading each event's
start, end and free/busy status into the product's BusyInterval.

The two calls the Graph backend makes for busy time:

- ``getSchedule``: one POST for 20 people over a week, each with a realistic working week
  (a daily stand-up, a weekly meeting, two or three other events a day: add_busy_week);
- ``calendarView``: one GET of a sub-calendar's week with ~50 events (and an all-day one),
  ``$select=showAs,start,end,isAllDay,originalStartTimeZone,originalEndTimeZone``, ``$top=999``.

(a) thin: the product's own code path, GraphBackend._free_busy and _calendar_view
    (calendars/backends/graph.py on graph_client.py: requests through calendars/transport.py,
    msal's cached token, dicts from response.json()). Their sync-log rows are gathered by a
    synclog.Collector and never written: building the row is counted, the database isn't.
(b) sdk: msgraph-sdk 1.x as documented: GraphServiceClient on a GraphRequestAdapter with its
    default httpx client and middleware (retry, redirect, telemetry...), base_url set to the
    simulator, a BaseBearerTokenAuthenticationProvider whose token provider hands out the
    same msal-cached token, and the same Prefer header; the typed answer's values are read
    into BusyInterval by the product's own _interval. The SDK is async: all its calls of a
    round run on one long-lived event loop with one client (keep-alive, as the thin client's
    pooled session), its best case; a sync worker would add a hop to that loop per call.

Both paths must produce the same intervals, or the benchmark fails. Rounds alternate thin and
SDK so that a noisy neighbour on a shared machine hits both alike; the figures are medians over
rounds, and the ratios (SDK / thin) are what to compare across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as metadata
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _servers as S

TZ = "Europe/London"
PEOPLE = 20  # getSchedule's most per call, as the backend batches them
MONDAY = date(2027, 3, 1)  # a Monday, well in the simulator's future
ROTA = "Team rota"
INSTALL_HINT = (
    "msgraph-sdk is not installed (it is only this benchmark's, not the app's): run\n"
    "    .venv/bin/pip install -e '.[bench]'\n"
    "or  .venv/bin/pip install msgraph-sdk"
)


def sdk_installed() -> bool:
    try:
        metadata.version("msgraph-sdk")
    except metadata.PackageNotFoundError:
        return False
    return True


# --- the world: 20 people with busy weeks, one busy sub-calendar ---------------------------


def seed(sim: S.SimulatorProcess) -> tuple[str, list[str], str, str, str]:
    """The sync mailbox, the 20 people, the sub-calendar's owner and Graph id, and the app's
    client id and secret (as 'id:secret')."""
    from calendars.simulator.graph.render import graph_id

    def mailbox(name: str) -> str:
        email = f"{name}-{uuid.uuid4().hex[:6]}@{S.DOMAIN}"
        sim.add_mailbox(email, name.title(), f"pw-{uuid.uuid4().hex}")
        return email

    sync = mailbox("graph-sync")
    people = [mailbox(f"person{i}") for i in range(PEOPLE)]
    # A fortnight around the measured week, as bench_slots_api seeds it.
    for i, email in enumerate(people):
        S.add_busy_week(sim, email, MONDAY - timedelta(days=3), 14, tz=TZ, seed=i)
    owner = people[0]
    folder = sim.add_calendar(owner, ROTA)
    # Three people's weeks in one calendar (a shared rota) make ~50 events in the week, and
    # one all-day event exercises the all-day path (dated in the event's own zone).
    for i in range(3):
        S.add_busy_week(sim, owner, MONDAY, 7, tz=TZ, seed=30 + i, calendar=ROTA)
    day = datetime.combine(MONDAY + timedelta(days=2), datetime.min.time(), ZoneInfo(TZ))
    sim.add_event(
        owner, day, day + timedelta(days=1), "Offsite", tz=TZ, all_day=True, calendar=ROTA
    )
    client_id, secret = str(uuid.uuid4()), f"secret-{uuid.uuid4().hex}"
    sim.idp("register_application", client_id, secret, roles=["Calendars.ReadWrite"])
    return sync, people, owner, graph_id(folder), f"{client_id}:{secret}"


def configure_django(sim: S.SimulatorProcess) -> None:
    """The app's settings pointed at the simulator; no database is ever touched (the
    connection is never saved, sync-log rows are collected, not written)."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "scheduler_site.settings",
            "DEBUG": "True",  # the development keys (nothing here is served)
            "DATABASE_URL": "sqlite://:memory:",
            "EXCHANGE_ALLOW_HTTP": "True",  # Graph on the simulator's plain HTTP
            "EXCHANGE_ALLOW_PRIVATE_HOSTS": "True",
            "MICROSOFT_GRAPH_URL": sim.graph_url,
            "EXCHANGE_CA_BUNDLE": str(sim.ca_path),  # msal reaches the provider over HTTPS
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()


def connection(sim: S.SimulatorProcess, sync: str, app: str) -> Any:
    from calendars.models import AuthType, ConnectionKind, ExchangeConnection, Protocol

    client_id, secret = app.split(":", 1)
    # A primary key without a row: graph_client and oauth key their caches by it, so the
    # session and the token are reused as in a worker, and nothing needs a database.
    return ExchangeConnection(
        pk=1,
        kind=ConnectionKind.CORPORATE,
        email=sync,
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_APP,
        oauth_authority=sim.authority,
        oauth_client_id=client_id,
        oauth_client_secret=secret,
    )


# --- (a) the thin client: the product's own path -------------------------------------------


class Thin:
    def __init__(self, conn: Any, people: list[str], owner: str, folder: str) -> None:
        from calendars.backends.base import CalendarTarget
        from calendars.backends.graph import GraphBackend
        from calendars.synclog import Collector

        self.backend = GraphBackend(conn)
        self.collector = Collector()
        self.targets = [CalendarTarget(email) for email in people]
        self.rota = CalendarTarget(owner, folder)

    def get_schedule(self, start: datetime, end: datetime) -> list[list[Any]]:
        found = self.collector.run(lambda: self.backend._free_busy(self.targets, start, end))
        self.collector.rows.clear()  # built (counted), never written
        return [found[t] for t in self.targets]

    def calendar_view(self, start: datetime, end: datetime) -> list[Any]:
        found = self.collector.run(lambda: self.backend._calendar_view(self.rota, start, end))
        self.collector.rows.clear()
        return found


# --- (b) msgraph-sdk -----------------------------------------------------------------------


class Sdk:
    """GraphServiceClient as its documentation sets it up, at the simulator's base URL."""

    def __init__(self, conn: Any, sync: str, people: list[str], owner: str, folder: str) -> None:
        from django.conf import settings
        from kiota_abstractions.authentication import (
            AccessTokenProvider,
            AllowedHostsValidator,
            BaseBearerTokenAuthenticationProvider,
        )
        from msgraph import GraphRequestAdapter, GraphServiceClient

        from calendars import oauth

        host = settings.MICROSOFT_GRAPH_URL.split("/")[2].split(":")[0]

        class Tokens(AccessTokenProvider):
            # The same msal-cached token the thin client sends (one dict lookup per call),
            # so neither side pays for a token request inside the measurement.
            async def get_authorization_token(
                self, uri: str, additional_authentication_context: dict[str, Any] | None = None
            ) -> str:
                return oauth.graph_access_token(conn)

            def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
                return AllowedHostsValidator([host])

        # The SDK's default httpx client and middleware: what an app using it would get.
        self.adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Tokens()))
        self.adapter.base_url = settings.MICROSOFT_GRAPH_URL
        self.client = GraphServiceClient(request_adapter=self.adapter)
        self.sync, self.people, self.owner, self.folder = sync, people, owner, folder

    def _config(self, query: Any = None) -> Any:
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        config = RequestConfiguration(query_parameters=query)
        config.headers.add("Prefer", 'IdType="ImmutableId"')  # as the thin client asks
        return config

    async def get_schedule(self, start: datetime, end: datetime) -> list[list[Any]]:
        from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
        from msgraph.generated.users.item.calendar.get_schedule.get_schedule_post_request_body import (  # noqa: E501
            GetSchedulePostRequestBody,
        )

        from calendars.backends.graph import _graph_time

        def when(moment: datetime) -> DateTimeTimeZone:
            value = _graph_time(moment)
            return DateTimeTimeZone(date_time=value["dateTime"], time_zone=value["timeZone"])

        body = GetSchedulePostRequestBody(
            schedules=self.people,
            start_time=when(start),
            end_time=when(end),
            availability_view_interval=1440,
        )
        builder = self.client.users.by_user_id(self.sync).calendar.get_schedule
        answer = await builder.post(body, request_configuration=self._config())
        by_address = {(v.schedule_id or "").lower(): v for v in (answer.value or [])}
        result = []
        for email in self.people:
            items = by_address[email].schedule_items or []
            result.append(
                _in_window(
                    (_sdk_interval(i.start, i.end, i.status, False, None, None) for i in items),
                    start,
                    end,
                )
            )
        return result

    async def calendar_view(self, start: datetime, end: datetime) -> list[Any]:
        from msgraph.generated.users.item.calendars.item.calendar_view.calendar_view_request_builder import (  # noqa: E501
            CalendarViewRequestBuilder,
        )

        from calendars.backends.graph import _iso

        query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=_iso(start),
            end_date_time=_iso(end),
            select=[
                "showAs",
                "start",
                "end",
                "isAllDay",
                "originalStartTimeZone",
                "originalEndTimeZone",
            ],
            top=999,
        )
        builder = (
            self.client.users.by_user_id(self.owner)
            .calendars.by_calendar_id(self.folder)
            .calendar_view
        )
        page = await builder.get(request_configuration=self._config(query))
        events = list(page.value or [])
        while page.odata_next_link:  # as the thin client's pages(): to the end
            page = await builder.with_url(page.odata_next_link).get(
                request_configuration=self._config()
            )
            events.extend(page.value or [])
        return _in_window(
            (
                _sdk_interval(
                    e.start,
                    e.end,
                    e.show_as,
                    bool(e.is_all_day),
                    e.original_start_time_zone,
                    e.original_end_time_zone,
                )
                for e in events
            ),
            start,
            end,
        )


def _sdk_interval(
    start: Any, end: Any, status: Any, all_day: bool, start_zone: Any, end_zone: Any
) -> Any:
    """The SDK's typed values through the product's own _interval, so both sides decide the
    same way (a few small dicts per event: microseconds against the SDK's object model)."""
    from calendars.backends.graph import _interval

    def edge(value: Any) -> dict[str, Any] | None:
        return {"dateTime": value.date_time, "timeZone": value.time_zone} if value else None

    item = {
        "start": edge(start),
        "end": edge(end),
        "isAllDay": all_day,
        "originalStartTimeZone": start_zone,
        "originalEndTimeZone": end_zone,
    }
    return _interval(item, status.value if status is not None else None)


def _in_window(intervals: Iterable[Any], start: datetime, end: datetime) -> list[Any]:
    return [i for i in intervals if i is not None and i.end > start and i.start < end]


# --- measuring ------------------------------------------------------------------------------


def timed(calls: int, one: Callable[[], Any]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call over `calls` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        one()
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def timed_async(
    loop: asyncio.AbstractEventLoop, calls: int, one: Callable[[], Awaitable[Any]]
) -> tuple[float, float]:
    async def series() -> None:
        for _ in range(calls):
            await one()

    cpu, wall = time.process_time(), time.perf_counter()
    loop.run_until_complete(series())
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


# --- installed size and import time -----------------------------------------------------------


def _name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return Requirement(requirement).name.lower().replace("_", "-")


def closure(root: str) -> set[str]:
    """The distribution and everything it requires (markers evaluated for this interpreter,
    no extras), by normalised name, as installed here."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def installed_bytes(names: Iterable[str]) -> int:
    """What the distributions occupy in site-packages (every file in their RECORD, .pyc
    included), as du would count them."""
    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            path = Path(str(file.locate()))
            if path.is_file():
                total += path.stat().st_size
    return total


def import_seconds(modules: list[str], repeat: int = 3) -> float:
    """Median time to import `modules` in a fresh interpreter (timed inside it, so the
    interpreter's own start-up is left out)."""
    code = (
        "import importlib, time\n"
        "t = time.perf_counter()\n"
        f"for m in {modules!r}:\n"
        # A few of a package's modules only load from where the package imports them.
        "    try: importlib.import_module(m)\n"
        "    except Exception: pass\n"
        "print(time.perf_counter() - t)\n"
    )
    runs = []
    for _ in range(repeat):
        out = subprocess.run(  # noqa: S603 (our own interpreter, our own code)
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        runs.append(float(out.stdout.strip()))
    return statistics.median(runs)


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=12, help="calls per path per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    if not sdk_installed():
        print(INSTALL_HINT, file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        # First, before any thread exists: SimulatorProcess forks.
        sim = S.SimulatorProcess(ca_path=Path(tmp) / "graph-ca.pem")
        try:
            return run(sim, args.calls, args.rounds)
        finally:
            sim.stop()


def run(sim: S.SimulatorProcess, calls: int, rounds: int) -> int:
    S.progress("seeding 20 people's busy weeks and a ~50-event sub-calendar")
    sync, people, owner, folder, app = seed(sim)
    configure_django(sim)
    conn = connection(sim, sync, app)
    start = datetime.combine(MONDAY, datetime.min.time(), UTC)
    end = start + timedelta(days=7)

    # Loaded before the SDK is: what the SDK adds to the process is what loads after this.
    thin = Thin(conn, people, owner, folder)
    thin_schedule, thin_view = thin.get_schedule(start, end), thin.calendar_view(start, end)
    before_sdk = set(sys.modules)
    sdk = Sdk(conn, sync, people, owner, folder)
    # One loop for the run: the SDK's httpx client keeps its connections on it.
    loop = asyncio.new_event_loop()
    sdk_schedule = loop.run_until_complete(sdk.get_schedule(start, end))
    sdk_view = loop.run_until_complete(sdk.calendar_view(start, end))
    sdk_modules = [m for m in sys.modules if m not in before_sdk]
    if sdk_schedule != thin_schedule or sdk_view != thin_view:
        print("FAIL: the SDK and the thin client read different busy time", file=sys.stderr)
        return 1
    items = sum(len(x) for x in thin_schedule)
    print(f"machine: {S.machine()}; msgraph-sdk {metadata.version('msgraph-sdk')}")
    print(
        f"getSchedule: {PEOPLE} people, one week, {items} busy intervals; "
        f"calendarView: one week, {len(thin_view)} events"
    )

    # Warm-up beyond the first call (lazy imports, connection pools, msal's cache).
    timed(3, lambda: thin.get_schedule(start, end))
    timed_async(loop, 3, lambda: sdk.get_schedule(start, end))
    timed(3, lambda: thin.calendar_view(start, end))
    timed_async(loop, 3, lambda: sdk.calendar_view(start, end))

    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    S.progress(f"{rounds} alternating rounds of {calls} calls per path and call")
    for _ in range(rounds):
        for call in ("getSchedule", "calendarView"):
            if call == "getSchedule":
                a = timed(calls, lambda: thin.get_schedule(start, end))
                b = timed_async(loop, calls, lambda: sdk.get_schedule(start, end))
            else:
                a = timed(calls, lambda: thin.calendar_view(start, end))
                b = timed_async(loop, calls, lambda: sdk.calendar_view(start, end))
            figures.setdefault((call, "thin"), []).append(a)
            figures.setdefault((call, "sdk"), []).append(b)
    loop.run_until_complete(sdk.adapter._http_client.aclose())
    loop.close()

    print()
    print(f"per call (median of {rounds} rounds x {calls} calls)   CPU        wall")
    for call in ("getSchedule", "calendarView"):
        cpu: dict[str, float] = {}
        wall: dict[str, float] = {}
        for side in ("thin", "sdk"):
            cpu[side] = statistics.median(c for c, _ in figures[(call, side)])
            wall[side] = statistics.median(w for _, w in figures[(call, side)])
            print(f"  {call:<13} {side:<5}  {S.ms(cpu[side]):>29}  {S.ms(wall[side]):>9}")
        print(
            f"  {call:<13} SDK / thin: CPU {S.ratio(cpu['sdk'], cpu['thin'])}x, "
            f"wall {S.ratio(wall['sdk'], wall['thin'])}x"
        )

    S.progress("dependency sizes and import times")
    app_deps = closure("exchange-scheduler")
    sdk_deps = closure("msgraph-sdk")
    added = sorted(sdk_deps - app_deps)
    thin_deps = closure("requests")
    thin_file = Path(sys.modules["calendars.backends.graph_client"].__file__ or "")
    print()
    print("installed dependencies")
    print(
        f"  thin: graph_client.py ({thin_file.stat().st_size / 1e3:.0f} kB) on requests, "
        f"which the app has anyway (exchangelib, msal): 0 packages, 0 MB added "
        f"(requests and its own dependencies: {len(thin_deps)} packages, "
        f"{mb(installed_bytes(thin_deps))})"
    )
    print(
        f"  sdk:  {len(added)} packages the app doesn't have, {mb(installed_bytes(added))}: "
        + ", ".join(added)
    )
    print()
    print("import time in a fresh interpreter (median of 3)")
    thin_import = import_seconds(["requests"])
    msgraph_import = import_seconds(["msgraph"])
    # Everything the two SDK calls loaded (kiota imports lazily on first use), in load order.
    sdk_import = import_seconds([m for m in sdk_modules if not m.startswith("calendars")])
    print(f"  thin: import requests                    {S.ms(thin_import):>9}")
    print(f"  sdk:  import msgraph                     {S.ms(msgraph_import):>9}")
    print(
        f"  sdk:  all {len(sdk_modules)} modules the two calls loaded {S.ms(sdk_import):>9}  "
        f"(SDK / thin {S.ratio(sdk_import, thin_import)}x)"
    )
    warning = S.busy_machine_warning()
    if warning:
        print(warning)
    return 0


if __name__ == "__main__":
    sys.exit(main())

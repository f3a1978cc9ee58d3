"""Real servers on loopback for the HTTP benchmarks (bench_slots_api.py, bench_booking.py)
and the load test (load_test.py).

`running_stack()` brings up, and always takes down again (errors, Ctrl-C, SIGTERM):

- the EWS simulator in a child process of its own, driven through a pipe (`SimulatorProcess`):
  it has the whole in-process API (add_mailbox, add_event, set_latency, the request log), but
  its request handling does not compete for the GIL with the benchmark's client threads;
  with ``graph=True`` it also serves Microsoft Graph (same HTTP server, under /v1.0) with
  Bearer tokens from its identity provider (HTTPS, a throw-away CA), which the child runs too;
- a fresh PostgreSQL database (``bench_<pid>``), migrated, dropped at the end;
- the app under gunicorn, started as the Procfile does (gunicorn.conf.py: its worker class,
  workers and threads, which WORKER_CLASS, WEB_CONCURRENCY and WEB_THREADS override) with
  DEBUG off and production-like settings, Redis as
  the shared cache (keys under a per-run prefix, deleted at the end) and a Celery broker in a
  temporary directory (nothing consumes it: calendar writes stay pending, which is what a
  booking request costs before the worker's part), or, with `broker_url`, a Redis broker
  that real Celery workers (`CeleryWorker`, started by the caller) consume.

The benchmark process itself runs Django on the same settings and database, to seed data
(connection, staff, pages, calendar roles through discovery) and to verify results.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import random
import re
import runpy
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as wall
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
DOMAIN = "contoso.example"


# --- the EWS simulator in a child process -------------------------------------------------


def _item_summary(item: Any) -> dict[str, Any]:
    """A simulator calendar item as plain values, safe to send through the pipe."""
    return {
        "id": item.id,
        "start": item.start,
        "end": item.end,
        "subject": item.subject,
        "recurring": item.recurrence is not None,
        # PublicStrings extended properties by name (how the app stamps its booking uid).
        "extended": {
            prop.attrs.get("PropertyName", ""): list(prop.values)
            for prop in item.extended.values()
            if prop.attrs.get("PropertyName")
        },
    }


def _simulator_child(conn: Connection, latency: float, identity_provider: bool) -> None:
    from calendars.simulator import Simulator

    # Ctrl-C reaches the whole process group; the parent decides when the simulator stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ca: Any = None
    idp: Any = None
    if identity_provider:
        from calendars.simulator.idp import IdentityProvider
        from calendars.simulator.tls import TestCA

        # Here, not in the parent: the Simulator validates Graph tokens in-process, so the
        # provider must live beside it; only the CA certificate (public) goes to the parent.
        ca = TestCA()
        idp = IdentityProvider(ca=ca).start()
    sim = Simulator(latency=latency, identity_provider=idp).start()
    conn.send(
        {
            "ews_url": sim.ews_url,
            "graph_url": sim.graph_url,
            "authority": idp.authority if idp else None,
            "ca_pem": ca.ca_cert_pem if ca else None,
        }
    )
    try:
        while True:
            try:
                name, args, kwargs = conn.recv()
            except EOFError:  # the parent went away
                return
            if name == "_stop":
                return
            try:
                if name == "_items":  # calendar items as plain values (SimulatorProcess.items)
                    value = [_item_summary(item) for item in sim.events(*args, **kwargs)]
                elif name == "_idp":  # a method of the identity provider
                    if idp is None:
                        raise RuntimeError("the simulator was started without an identity provider")
                    attr = getattr(idp, args[0])
                    value = attr(*args[1:], **kwargs) if callable(attr) else attr
                else:
                    attr = getattr(sim, name)
                    value = attr(*args, **kwargs) if callable(attr) else attr
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
                continue
            try:
                conn.send(("ok", value))
            except Exception:  # not picklable (e.g. a model object): callers don't need it
                conn.send(("ok", None))
    finally:
        sim.stop()
        if idp is not None:
            idp.stop()
            ca.close()


class SimulatorProcess:
    """calendars.simulator.Simulator in a child process; call its methods as usual:
    ``sim.add_mailbox(...)``, ``sim.set_latency(0.05)``, ``sim.log()`` (a list of LogEntry).

    With `ca_path`, the child also runs the simulator's identity provider (HTTPS, a throw-away
    CA) so Microsoft Graph works: the CA certificate is written to `ca_path` for the app to
    trust (EXCHANGE_CA_BUNDLE), and `idp(...)` calls the provider's methods."""

    def __init__(self, latency: float = 0.0, ca_path: Path | None = None) -> None:
        # fork, not spawn: spawn would re-run the benchmark's main module in the child. It is
        # safe here because it happens first, before any thread or connection exists.
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_simulator_child,
            args=(child, latency, ca_path is not None),
            name="ews-simulator",
            daemon=True,
        )
        self._process.start()
        child.close()
        if not self._conn.poll(30):
            self.stop()
            raise RuntimeError("the EWS simulator did not start")
        started: dict[str, Any] = self._conn.recv()
        self.ews_url: str = started["ews_url"]
        self.graph_url: str = started["graph_url"]
        # The identity provider's authority (https://127.0.0.1:<port>/<tenant>), or None.
        self.authority: str | None = started["authority"]
        self.ca_path: Path | None = None
        if ca_path is not None:
            ca_path.write_bytes(started["ca_pem"])
            self.ca_path = ca_path
        # One request and its answer at a time on the pipe, whichever thread asks.
        self._lock = threading.Lock()

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self._lock:
            self._conn.send((name, args, kwargs))
            status, value = self._conn.recv()
        if status == "error":
            raise RuntimeError(f"simulator.{name}: {value}")
        return value

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._call(name, args, kwargs)

        return call

    def items(self, owner: str, calendar: str | None = None) -> list[dict[str, Any]]:
        """The items of a calendar (``sim.events``) as plain dicts: id, start, end (UTC),
        subject, recurring, and extended = {PublicStrings property name: [values]}. Model
        objects themselves may not survive the pipe (``events`` would then answer None)."""
        return self._call("_items", (owner,), {"calendar": calendar})

    def idp(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A method (or attribute) of the child's identity provider, e.g.
        ``sim.idp("register_application", client_id, secret, roles=[...])``."""
        return self._call("_idp", (method, *args), kwargs)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds([self._process.pid])

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(("_stop", (), {}))
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._conn.close()


def raw_get_folder(email: str) -> bytes:
    """One EWS GetFolder of a mailbox's primary calendar, as exchangelib sends it."""
    return (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        '<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
        "<s:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
        "</m:FolderShape><m:FolderIds>"
        f'<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>{email}'
        "</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>"
        "</m:FolderIds></m:GetFolder></s:Body></s:Envelope>"
    ).encode()


def ews_round_trips(ews_url: str, email: str, password: str, n: int) -> list[float]:
    """Seconds for each of `n` raw EWS requests on one keep-alive connection, as exchangelib
    keeps its connections: the floor for any EWS call the app makes (after one untimed)."""
    import base64

    url = urlsplit(ews_url)
    auth = base64.b64encode(f"{email}:{password}".encode()).decode()
    headers = {"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {auth}"}
    body = raw_get_folder(email)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    timings = []
    try:
        for _ in range(n + 1):
            started = time.perf_counter()
            conn.request("POST", url.path, body, headers)
            response = conn.getresponse()
            payload = response.read()
            timings.append(time.perf_counter() - started)
            if response.status != 200 or b"NoError" not in payload:
                raise RuntimeError(f"raw EWS request failed: HTTP {response.status}")
    finally:
        conn.close()
    return timings[1:]


def graph_token(sim: SimulatorProcess, client_id: str, secret: str) -> str:
    """An app-only Graph access token from the simulator's identity provider, fetched the
    way msal does (client credentials over HTTPS, trusting only the throw-away CA)."""
    import requests

    if sim.authority is None or sim.ca_path is None:
        raise RuntimeError("the simulator was started without an identity provider")
    response = requests.post(
        f"{sim.authority}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        },
        verify=str(sim.ca_path),
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(f"token request failed: HTTP {response.status_code}")
    return response.json()["access_token"]


def graph_round_trips(graph_url: str, token: str, email: str, n: int) -> list[float]:
    """Seconds for each of `n` raw Graph requests (GET /users/{email}/calendar, Bearer) on one
    keep-alive connection, as the app's pooled requests session keeps its connections: the
    floor for any Graph call the app makes (after one untimed, which opens the connection)."""
    url = urlsplit(graph_url)
    path = f"{url.path.rstrip('/')}/users/{email}/calendar"
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
    conn: http.client.HTTPConnection = (
        http.client.HTTPSConnection(url.hostname, url.port, timeout=30)
        if url.scheme == "https"
        else http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    )
    timings = []
    try:
        for _ in range(n + 1):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            timings.append(time.perf_counter() - started)
            if response.status != 200 or b'"id"' not in payload:
                raise RuntimeError(f"raw Graph request failed: HTTP {response.status}")
    finally:
        conn.close()
    return timings[1:]


# --- HTTP client --------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(base_url: str, path: str, *, method: str = "GET", data: Any = None) -> Response:
    """One request on a fresh connection: what gunicorn gets behind nginx, whose proxy_pass
    (HTTP/1.0, no upstream keepalive in deploy/nginx/scheduler.conf) opens one per request;
    sync workers close it after each answer anyway."""
    url = urlsplit(base_url)
    body = json.dumps(data).encode() if data is not None else None
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    return Response(response.status, payload, time.perf_counter() - started)


_STARTED = time.monotonic()


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays the report."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    """CPUs and load: every figure here is wall-clock time on a shared machine."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.1f} (1 min) {five:.1f} (5 min)"


def busy_machine_warning() -> str | None:
    one, five, _ = os.getloadavg()
    cpus = os.cpu_count() or 1
    if max(one, five) > cpus:
        return (
            f"warning: load average {max(one, five):.1f} on {cpus} CPUs: other processes compete "
            "for the CPU, so latencies are inflated and ratios less reliable; rerun when idle"
        )
    return None


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- PostgreSQL, Redis, gunicorn ----------------------------------------------------------


def _admin_connection() -> Any:
    import psycopg

    return psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=10)


def create_database(name: str) -> None:
    from psycopg import sql

    with _admin_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    from psycopg import sql

    with _admin_connection() as conn:
        # FORCE: a gunicorn worker killed mid-request may leave a session behind.
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def delete_cache_keys(pattern: str) -> int:
    """Delete the Redis keys matching `pattern` (the cache's full key, prefix included)."""
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def child_pids(parent: int) -> list[int]:
    """Direct children of a process (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # Fields after the command (which may hold spaces) start after the last ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (Linux /proc; exited ones count 0)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


GUNICORN_CONFIG = REPO / "gunicorn.conf.py"


@dataclass(frozen=True)
class ServingModel:
    """What gunicorn runs: worker class, worker processes, threads per worker."""

    worker_class: str
    workers: int
    threads: int

    def __str__(self) -> str:
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"gunicorn: {self.workers} workers x {threads} ({self.worker_class})"

    def env(self) -> dict[str, str]:
        """The environment variables gunicorn.conf.py reads for this model."""
        return {
            "WORKER_CLASS": self.worker_class,
            "WEB_CONCURRENCY": str(self.workers),
            "WEB_THREADS": str(self.threads),
        }

    @classmethod
    def parse(cls, text: str) -> ServingModel:
        """``sync:2`` (2 sync workers), ``gthread:2x4`` (2 workers of 4 threads) or
        ``gthread:2`` (2 workers of the config file's default threads)."""
        kind, _, size = text.strip().partition(":")
        workers, _, threads = size.partition("x")
        if kind not in ("sync", "gthread") or not workers.isdigit():
            raise ValueError(f"serving model {text!r}: expected sync:<workers> or gthread:<w>x<t>")
        if kind == "sync" and threads:
            raise ValueError(f"serving model {text!r}: sync workers have no threads")
        if not threads:  # gunicorn.conf.py's default for this worker class
            return serving_model({"WORKER_CLASS": kind, "WEB_CONCURRENCY": workers})
        return cls(kind, int(workers), int(threads))


def serving_model(env: dict[str, str] | None = None) -> ServingModel:
    """The model gunicorn.conf.py chooses for this environment (default: ours): the config
    file's own function, so the benchmarks can't drift from what the Procfile runs."""
    config = runpy.run_path(str(GUNICORN_CONFIG))
    worker_class, workers, threads = config["serving_model"](os.environ if env is None else env)
    return ServingModel(worker_class, workers, threads)


class Gunicorn:
    """gunicorn started as the Procfile starts it (``-c gunicorn.conf.py``): only the bind
    address and the access log file are given here; the serving model comes from the config
    file and the environment (WORKER_CLASS, WEB_CONCURRENCY, WEB_THREADS), which `workers`
    (WEB_CONCURRENCY) and `model` override."""

    def __init__(
        self,
        env: dict[str, str],
        port: int,
        workers: int | None,
        log_path: Path,
        *,
        model: ServingModel | None = None,
    ) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = dict(env)
        if model is not None:
            env.update(model.env())
        if workers is not None:
            env["WEB_CONCURRENCY"] = str(workers)
        self.model = serving_model(env)
        self.access_log_path = log_path.with_name(f"{log_path.stem}-access.log")
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(  # noqa: S603 (fixed argv)
            [
                str(VENV_BIN / "gunicorn"),
                "-c",
                str(GUNICORN_CONFIG),
                "scheduler_site.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                # Logged as in production (ACCESS_LOG), to a file of its own so that the
                # error log stays readable in log_tail().
                "--access-logfile",
                str(self.access_log_path),
            ],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C reaches only us, and we stop it in order.
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if fetch(self.base_url, "/healthz").status == 200:
                    self._check_model()
                    return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer /healthz in {timeout} s:\n{self.log_tail()}")

    def _check_model(self) -> None:
        """gunicorn logs the worker class it loaded: it must be the one we print."""
        self._log.flush()
        found = re.search(r"Using worker: (\w+)", self.log_path.read_text(errors="replace"))
        if found and found.group(1) != self.model.worker_class:
            raise RuntimeError(
                f"gunicorn runs {found.group(1)} workers, not {self.model.worker_class}"
            )

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the master and its workers. Unlike wall
        time, CPU per request hardly depends on what else the machine is doing."""
        return process_cpu_seconds([self.process.pid, *child_pids(self.process.pid)])

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # the master stops its workers gracefully
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log.close()


class CeleryWorker:
    """A real Celery worker process (threads pool) on the stack's environment, which can be
    killed with SIGKILL and started again (`start` after `kill`), as a crash would."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 4) -> None:
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.ready_times: list[float] = []  # time.monotonic() when each start was ready
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop())

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        self._log.write(f"\n=== start {self.starts}\n".encode())
        self._log.flush()
        offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(  # noqa: S603 (fixed argv)
            [
                str(VENV_BIN / "celery"),
                "-A",
                "scheduler_site",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "INFO",
                "--hostname",
                f"bench-{os.getpid()}-{self.starts}@%h",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: ours to kill, nobody else's
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited early:\n{self.log_tail()}")
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                if b" ready." in log.read():
                    self.ready_times.append(time.monotonic())
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the Celery worker was not ready in {timeout} s:\n{self.log_tail()}")

    def start_in_background(self) -> None:
        """`start` in a thread, so the caller's schedule goes on while the worker boots."""
        self.wait_started()

        def start() -> None:
            try:
                self.start()
            except BaseException as exc:  # re-raised by wait_started()
                self._start_error = exc

        self._starting = threading.Thread(target=start, name="celery-worker-start", daemon=True)
        self._starting.start()

    def wait_started(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self._start_error is not None:
            error, self._start_error = self._start_error, None
            raise error

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no message handed back to the broker."""
        self.wait_started()
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.wait_started()
        if self.alive:
            assert self.process is not None
            self.process.terminate()  # warm shutdown: running tasks finish
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@dataclass
class Stack:
    sim: SimulatorProcess
    server: Gunicorn
    database: str
    cache_prefix: str
    env: dict[str, str]
    tmp: Path
    restarts: int = 0

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def restart_server(self, model: ServingModel | None = None) -> Gunicorn:
        """Stop gunicorn and start a fresh one on the same port, database, cache and
        environment, serving `model` (None: gunicorn.conf.py's choice for the environment),
        with a log of its own; running_stack() stops whichever runs at the end."""
        self.server.stop()
        self.restarts += 1
        self.server = Gunicorn(
            self.env,
            self.server.port,
            None,
            self.tmp / f"gunicorn-{self.restarts}.log",
            model=model,
        )
        progress(f"restarted as {self.server.model} on 127.0.0.1:{self.server.port}")
        self.server.wait_ready()
        return self.server

    def clear_busy_cache(self) -> int:
        """No cached busy time answers the next request: what a booking does to its owner,
        for every owner (their generation counters move on), and the answers deleted. The
        app writes an answer to the cache as it answers; should that write land after this,
        it carries the old generations and is no answer either."""
        import redis

        client = redis.Redis.from_url(REDIS)
        try:
            for key in client.scan_iter(match=f"{self.cache_prefix}:1:busy-gen:*", count=1000):
                client.incr(key)
        finally:
            client.close()
        # Django's Redis keys are "<prefix>:<version>:<key>"; busy time is "busy:<hash>".
        return delete_cache_keys(f"{self.cache_prefix}:1:busy:*")


def _sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up below


@contextlib.contextmanager
def running_stack(
    *,
    workers: int | None = None,
    conn_max_age: int = 60,
    broker_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    graph: bool = False,
) -> Iterator[Stack]:
    """`broker_url`: a Redis Celery broker instead of the filesystem one nobody consumes (the
    caller runs a `CeleryWorker` and empties that Redis database); `extra_env`: settings for
    every process (gunicorn, workers, this one), e.g. WRITE_MAX_BACKOFF_SECONDS; `graph`: the
    simulator also runs its identity provider, and every process reaches Microsoft Graph at
    the simulator (MICROSOFT_GRAPH_URL) and trusts the provider's CA (EXCHANGE_CA_BUNDLE), so
    `graph_connection()` works; `workers`: WEB_CONCURRENCY for gunicorn (None: what
    gunicorn.conf.py and the environment say, as in production)."""
    signal.signal(signal.SIGTERM, _sigterm)
    with contextlib.ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)

        # The CA file in our temporary directory: readable by gunicorn (same user), removed
        # with the directory at the end.
        sim = SimulatorProcess(ca_path=tmp / "graph-ca.pem" if graph else None)
        cleanup.callback(sim.stop)

        database = f"bench_{os.getpid()}"
        progress(f"creating database {database}, migrating")
        create_database(database)
        cleanup.callback(drop_database, database)

        cache_prefix = f"bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        cleanup.callback(delete_cache_keys, f"{cache_prefix}:*")

        from cryptography.fernet import Fernet

        (tmp / "static").mkdir()
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "scheduler_site.settings",
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FERNET_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "False",
            "SESSION_COOKIE_SECURE": "False",
            "CSRF_COOKIE_SECURE": "False",
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": f"{POSTGRES}/{database}",
            "DB_CONN_MAX_AGE": str(conn_max_age),
            "REDIS_URL": REDIS,
            "CACHE_KEY_PREFIX": cache_prefix,
            "CELERY_BROKER_URL": "filesystem://",
            "CELERY_FILESYSTEM_DIR": str(tmp / "celery"),
            "CELERY_TASK_ALWAYS_EAGER": "False",
            "EXCHANGE_ALLOW_HTTP": "True",
            "EXCHANGE_ALLOW_PRIVATE_HOSTS": "True",
            # Every request comes from one address: no rate limit may get in the way.
            "BOOKING_RATE_LIMIT": "100000",
            "SLOTS_RATE_LIMIT": "1000000",
            "SLOTS_PAGE_RATE_LIMIT": "1000000",
            "STATIC_ROOT": str(tmp / "static"),
            "EMAIL_URL": "consolemail://",
            "LOG_LEVEL": "WARNING",
            "SITE_URL": f"http://127.0.0.1:{port}",
        }
        env.pop("BUSY_CACHE_SECONDS", None)  # the app's default, whatever the shell says
        if sim.ca_path is not None:
            # Graph over the simulator's plain HTTP, as EWS is here (EXCHANGE_ALLOW_HTTP), so
            # the two compare on the same footing; the identity provider is HTTPS (msal
            # refuses anything else), signed by the CA every process now trusts.
            env["MICROSOFT_GRAPH_URL"] = sim.graph_url
            env["EXCHANGE_CA_BUNDLE"] = str(sim.ca_path)
        if broker_url:
            env["CELERY_BROKER_URL"] = broker_url
            del env["CELERY_FILESYSTEM_DIR"]
        env.update(extra_env or {})

        # This process runs Django on the same settings to seed and to verify.
        os.environ.update(env)
        sys.path.insert(0, str(REPO))
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)

        from django.db import connections

        cleanup.callback(connections.close_all)  # before the database is dropped

        server = Gunicorn(env, port, workers, tmp / "gunicorn.log")
        progress(f"started {server.model} on 127.0.0.1:{port}")
        stack = Stack(sim, server, database, cache_prefix, env, tmp)
        # Whichever server is running at the end (restart_server() replaces it).
        cleanup.callback(lambda: stack.server.stop())
        cleanup.callback(progress, "stopping gunicorn, dropping the database")
        server.wait_ready()
        # Clean-up must run to the end once it starts, even if Ctrl-C is pressed again.
        cleanup.callback(signal.signal, signal.SIGINT, signal.SIG_IGN)
        cleanup.callback(signal.signal, signal.SIGTERM, signal.SIG_IGN)
        yield stack


# --- seeding an Exchange world --------------------------------------------------------------


@dataclass
class Person:
    email: str
    name: str
    password: str


def person(sim: SimulatorProcess, name: str) -> Person:
    who = Person(f"{name}@{DOMAIN}", name.replace("-", " ").title(), f"pw-{secrets.token_hex(6)}")
    sim.add_mailbox(who.email, who.name, who.password)
    return who


def corporate_connection(sim: SimulatorProcess) -> Any:
    """The site's dedicated mailbox, Basic auth, as an IT department would set it up."""
    from calendars.models import AuthType, ConnectionKind, ExchangeConnection

    sync = person(sim, "booking-sync")
    return ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email=sync.email,
        ews_url=sim.ews_url,
        auth_type=AuthType.BASIC,
        password=sync.password,
    )


def graph_connection(sim: SimulatorProcess) -> Any:
    """The site's dedicated mailbox on Microsoft Graph with an app registration granted
    application Calendars.ReadWrite (client credentials), as for Exchange Online: app-only
    reaches every mailbox (no RBAC scope set in the simulator). Needs
    ``running_stack(graph=True)``. The secret is on the connection (oauth_client_secret)."""
    from calendars.models import AuthType, ConnectionKind, ExchangeConnection, Protocol

    if sim.authority is None:
        raise RuntimeError("graph_connection needs running_stack(graph=True)")
    client_id, secret = str(uuid.uuid4()), f"secret-{secrets.token_hex(16)}"
    sim.idp("register_application", client_id, secret, roles=["Calendars.ReadWrite"])
    sync = person(sim, "graph-sync")
    return ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email=sync.email,
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_APP,
        oauth_authority=sim.authority,
        oauth_client_id=client_id,
        oauth_client_secret=secret,
    )


def staff_user(sim: SimulatorProcess, connection: Any, who: Person) -> Any:
    """A staff user whose mailbox delegates its calendar to the corporate mailbox."""
    from django.contrib.auth.models import User

    user = User.objects.create_user(who.email.split("@")[0], who.email, None, is_staff=True)
    attach_staff(sim, connection, user, who)
    return user


def attach_staff(sim: SimulatorProcess, connection: Any, user: Any, who: Person) -> None:
    """`user` (mailbox `who`) attached to the corporate `connection`, their mailbox
    delegating its calendar to it: a new staff user, or one attached again after the site's
    connection was replaced (EWS by Graph), which took their membership with it."""
    from django.utils import timezone

    from calendars.models import CorporateMember, MembershipProof

    sim.add_delegate(who.email, connection.email)
    # The address on the user's account, which an administrator set: proven at once.
    CorporateMember.objects.create(
        user=user,
        connection=connection,
        mailbox=who.email,
        proof=MembershipProof.ACCOUNT,
        proven_at=timezone.now(),
        access_ok=True,
        can_write=True,
    )


def booking_page(
    owner: Any,
    slug: str,
    *,
    tz: str,
    hours: tuple[wall, wall],
    weekdays: range,
    **fields: Any,
) -> Any:
    from bookings.models import BookingPage, WeeklyHours

    page = BookingPage.objects.create(
        owner=owner, slug=slug, title=slug.title(), timezone=tz, **fields
    )
    for day in weekdays:
        WeeklyHours.objects.create(page=page, weekday=day, start=hours[0], end=hours[1])
    return page


def assign_calendars(
    page: Any, connection: Any, roles: list[tuple[str, str, str]], *, member: Any = None
) -> list[str]:
    """(owner email, sub-calendar name or "" for the primary, role): discovered over the
    connection's protocol (EWS or Graph), as the page editor does; on a team page, the
    calendars of `member` (a TeamMember). Returns a description of each calendar for the
    report."""
    from bookings.models import PageCalendar, PageCalendarOwner
    from calendars import discovery

    described = []
    for owner, name, role in roles:
        PageCalendarOwner.objects.get_or_create(page=page, member=member, email=owner)
        found = discovery.discover(connection, owner)
        if not found.calendars:
            raise RuntimeError(f"discovery of {owner}: {found.message}")
        ref = next(r for r in found.calendars if (r.name == name if name else r.is_primary))
        PageCalendar.objects.create(page=page, member=member, calendar=ref, role=role)
        kind = f"sub-calendar {name!r}" if name else "primary"
        described.append(f"{owner.split('@')[0]}: {kind} ({ref.permission_level}), {role}")
    return described


def add_busy_week(
    sim: SimulatorProcess,
    owner: str,
    first_day: date,
    days: int,
    *,
    tz: str,
    seed: int,
    calendar: str | None = None,
) -> int:
    """A realistic working fortnight: a daily stand-up (recurring, weekdays), a weekly
    meeting (recurring) and two or three one-off events a day, some Tentative, some Free
    (which must not block), now and then OOF. Returns the number of items created."""
    rng = random.Random(seed)
    zone = ZoneInfo(tz)
    monday = first_day - timedelta(days=first_day.weekday())
    standup = datetime.combine(monday, wall(9, 15 * (seed % 4)), zone)
    sim.add_event(
        owner,
        standup,
        standup + timedelta(minutes=15),
        "Stand-up",
        tz=tz,
        calendar=calendar,
        recurrence={
            "pattern": "weekly",
            "weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
            "count": 5 * (days // 7 + 2),
        },
    )
    weekly = datetime.combine(monday + timedelta(days=seed % 5), wall(14), zone)
    sim.add_event(
        owner,
        weekly,
        weekly + timedelta(hours=1),
        "Team meeting",
        tz=tz,
        calendar=calendar,
        recurrence={"pattern": "weekly", "count": days // 7 + 2},
    )
    created = 2
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for _ in range(rng.choice((2, 2, 3))):
            start = datetime.combine(
                day, wall(rng.randrange(8, 17), rng.choice((0, 15, 30, 45))), zone
            )
            status = rng.choices(("Busy", "Tentative", "Free", "OOF"), (70, 15, 10, 5))[0]
            length = timedelta(minutes=rng.choice((30, 30, 45, 60, 90)))
            sim.add_event(
                owner, start, start + length, "Meeting", tz=tz, status=status, calendar=calendar
            )
            created += 1
    return created


# --- measuring the slots API ------------------------------------------------------------


def slots_ok(response: Response) -> int:
    """The number of free slots in a slots API answer, which must be fresh and not empty."""
    if response.status != 200:
        raise RuntimeError(f"slots API answered {response.status}: {response.body[:300]!r}")
    body = response.json()
    if body["stale"]:
        raise RuntimeError("slots API served stale busy time: Exchange was not reached")
    if not body["slots"]:
        raise RuntimeError("slots API found no free slot: the scenario is wrong")
    return len(body["slots"])


def slots_arguments(parser: Any) -> None:
    """The command-line options of a slots API benchmark (an argparse parser): what
    measure_slots reads, the simulator's latency and the raw round trips timed."""
    parser.add_argument("--uncached", type=int, default=20, help="uncached requests per page")
    parser.add_argument("--cached", type=int, default=200, help="cached requests per page")
    parser.add_argument("--warmup", type=int, default=8, help="untimed requests per page first")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the simulator adds per request"
    )
    parser.add_argument("--raw", type=int, default=20, help="raw round trips timed, per protocol")
    parser.add_argument(
        "--budget",
        type=float,
        default=20,
        help="seconds per page for the cached requests (at least 50 are made)",
    )


def measure_slots(stack: Stack, path: str, args: Any) -> dict[str, Any]:
    """The slots API at `path`, uncached then cached, as bench_slots_api.py and
    bench_team.py report it. `args`: warmup, uncached and cached (request counts) and
    budget (seconds for the cached requests, at least 50 of which are made)."""
    sim, server = stack.sim, stack.server
    # Each worker pays its first-request costs (imports, exchangelib's session) here.
    for _ in range(args.warmup):
        stack.clear_busy_cache()
        slots_ok(fetch(stack.base_url, path))

    uncached, inside, summed, requests, operations = [], [], [], [], Counter()
    cpu = {"uncached": 0.0, "simulator": 0.0, "cached": 0.0, "healthz": 0.0}
    slots = 0
    # Token requests should be none: each worker's token is cached since the warm-up.
    tokens_before = len(sim.idp("request_log"))
    for _ in range(args.uncached):
        stack.clear_busy_cache()
        sim.clear_log()
        app_cpu, sim_cpu = server.cpu_seconds(), sim.cpu_seconds()
        response = fetch(stack.base_url, path)
        cpu["uncached"] += server.cpu_seconds() - app_cpu
        cpu["simulator"] += sim.cpu_seconds() - sim_cpu
        slots = slots_ok(response)
        log = sim.log()
        uncached.append(response.seconds)
        # The slowest EWS request as the simulator timed it (injected latency included): the
        # part of the wait that is Exchange's; the rest is the app's and exchangelib's own.
        inside.append(max(entry.duration for entry in log))
        # Summed over the call's requests: well above `uncached` when they overlap.
        summed.append(sum(entry.duration for entry in log))
        requests.append(len(log))
        operations.update(entry.operation for entry in log)
        failed = [e for e in log if e.status != 200 or e.outcome != "NoError"]
        if failed:
            raise RuntimeError(f"Exchange requests failed: {failed}")
    tokens = len(sim.idp("request_log")) - tokens_before

    slots_ok(fetch(stack.base_url, path))  # fills the cache
    sim.clear_log()
    cached, healthz = [], []
    deadline = time.monotonic() + args.budget
    # Alternating runs of 10, so both see the same machine; CPU is read between runs.
    while len(cached) < args.cached and (len(cached) < 50 or time.monotonic() < deadline):
        before = server.cpu_seconds()
        for _ in range(10):
            health = fetch(stack.base_url, "/healthz")
            if health.status != 200:
                raise RuntimeError(f"/healthz answered {health.status}")
            healthz.append(health.seconds)
        middle = server.cpu_seconds()
        for _ in range(10):
            response = fetch(stack.base_url, path)
            slots_ok(response)
            cached.append(response.seconds)
        cpu["healthz"] += middle - before
        cpu["cached"] += server.cpu_seconds() - middle
    return {
        "slots": slots,
        "uncached": uncached,
        "inside": inside,
        "summed": summed,
        "tokens": tokens,
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

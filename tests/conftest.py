"""Fixtures shared by the whole suite.

The test command (scripts/test.sh) runs the suite twice: on PostgreSQL + Redis, and the fast
tests on SQLite. Tests marked `postgres` or `redis` need those servers; they skip on a
developer's machine without them, and fail under CI=true, where skipping would hide that
they never ran.
"""

import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker gets its own Redis database (1..8), so one worker's cache.clear()
    (FLUSHDB) or rate-limit counters never touch another's. Runs before any cache is built."""
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    from django.conf import settings

    cache = settings.CACHES["default"]
    if "redis" in cache["BACKEND"].lower():
        base, _, _ = cache["LOCATION"].rpartition("/")
        # 1..8: 0 is everyone's default, 13 and 14 belong to the benchmarks in bench/.
        cache["LOCATION"] = f"{base}/{1 + int(worker.removeprefix('gw') or 0) % 8}"
    elif "filebased" in cache["BACKEND"].lower():
        # The embedded default: one directory per worker, for the same reason (clear() empties
        # the whole directory).
        cache["LOCATION"] = str(Path(cache["LOCATION"]) / f"test-{worker}")
    cache["KEY_PREFIX"] = f"test-{worker}"
    # Real password hashing costs seconds per user on a busy CI machine; tests that sign in
    # still go through Django's hasher machinery, just a cheap one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (under CI this test must run, not skip)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _require_backends(request: pytest.FixtureRequest) -> None:
    from django.conf import settings
    from django.db import connection

    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://... (make test does)")
    if request.node.get_closest_marker("redis") and "redis" not in (
        settings.CACHES["default"]["BACKEND"].lower()
    ):
        _missing("needs Redis: set REDIS_URL=redis://... (make test does)")


# --- Exchange: one simulator per xdist worker, and a fresh world per test ---------------


@pytest.fixture(scope="session")
def simulator():
    from calendars.simulator import Simulator

    with Simulator() as sim:
        yield sim


# The site's app registration in the session's identity provider ("Connect with Microsoft",
# and the dedicated mailbox's delegated Graph sign-in in Graph worlds).
SITE_APP_ID = "5e1f0c2a-0000-4000-8000-00000000a11e"
SITE_APP_SECRET = "site-app-secret-for-tests"
SITE_REDIRECT_URI = "http://localhost:8000/connection/microsoft/callback/"


@pytest.fixture(scope="session")
def graph_simulator():
    """Exchange Online for Graph worlds: the simulator with an identity provider over TLS
    (msal refuses http authorities), one per xdist worker like `simulator`."""
    from calendars.simulator import Simulator
    from calendars.simulator.idp import IdentityProvider
    from calendars.simulator.tls import TestCA

    with TestCA() as authority, IdentityProvider(ca=authority) as provider:
        provider.register_application(
            SITE_APP_ID, SITE_APP_SECRET, redirect_uris=[SITE_REDIRECT_URI]
        )
        with Simulator(identity_provider=provider) as sim:
            yield sim


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked `backends("ews", "graph")` run every test using `world` once per
    protocol: the contract both backends keep."""
    marker = metafunc.definition.get_closest_marker("backends")
    # A test's own parametrize("protocol", ["ews"], indirect=True) wins over its module's
    # marker: a test of something only one protocol has.
    own = any("protocol" in m.args[0] for m in metafunc.definition.iter_markers("parametrize"))
    if marker is not None and "world" in metafunc.fixturenames and not own:
        metafunc.parametrize("protocol", marker.args, indirect=True)


@pytest.fixture
def protocol(request: pytest.FixtureRequest) -> str:
    """How the world's connections reach Exchange: "ews" (Exchange Server) unless a
    `backends` marker asks for "graph" (Exchange Online) too."""
    return getattr(request, "param", "ews")


@pytest.fixture
def exchange_settings(request, protocol, settings):
    """Let the app reach the simulator (plain http on loopback) and reset its faults."""
    import exchangelib

    sim = request.getfixturevalue("graph_simulator" if protocol == "graph" else "simulator")
    settings.EXCHANGE_ALLOW_HTTP = True
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True
    settings.EXCHANGE_AUTODISCOVER_ENDPOINTS = {"contoso.example": sim.autodiscover_url}
    if protocol == "graph":
        idp = sim.identity_provider
        settings.MICROSOFT_GRAPH_URL = sim.graph_url
        settings.MICROSOFT_CLIENT_ID = SITE_APP_ID
        settings.MICROSOFT_CLIENT_SECRET = SITE_APP_SECRET
        settings.MICROSOFT_AUTHORITY = idp.authority
        settings.EXCHANGE_CA_BUNDLE = str(idp.ca_cert_path)
    sim.come_up()
    sim.clear_faults()
    sim.clear_log()
    yield sim
    sim.come_up()
    sim.clear_faults()
    exchangelib.close_connections()


@pytest.fixture
def world(exchange_settings, protocol, db):
    from tests.world import World

    return World(exchange_settings, protocol=protocol)


@pytest.fixture
def eager_writes():
    """Run Celery tasks (calendar writes, emails) in-process, at once, as they are queued."""
    from scheduler_site.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def mid_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rate limiter's windows are fixed (per minute): a test whose requests straddled a
    minute boundary would see its count start again. Hold the limiter's clock 30 s into a
    window."""
    from types import SimpleNamespace

    from bookings import ratelimit

    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 1_800_000_030.0))


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache (busy time, rate-limit counters). Each xdist
    worker has its own Redis database, so this never reaches another worker's keys."""
    from django.core.cache import cache

    cache.clear()


# --- TLS and OAuth: a test CA, the identity provider, and a simulator over HTTPS ----------


@pytest.fixture(scope="module")
def ca():
    """A certificate authority the test trusts, as a corporate machine trusts its own."""
    from calendars.simulator.tls import TestCA

    with TestCA() as authority:
        yield authority


@pytest.fixture(scope="module")
def idp(ca):
    """The simulator's Entra-like identity provider, over TLS with the test CA."""
    from calendars.simulator.idp import IdentityProvider

    with IdentityProvider(ca=ca) as provider:
        yield provider


@pytest.fixture(scope="module")
def tls_simulator(ca, idp):
    """An EWS simulator over HTTPS that accepts the identity provider's tokens."""
    from calendars.simulator import Simulator
    from calendars.simulator.tls import server_context

    issued = ca.issue_server_certificate()
    context = server_context(issued.cert_path, issued.key_path)
    with Simulator(ssl_context=context, identity_provider=idp) as simulator:
        yield simulator


@pytest.fixture
def graph_tls(settings, ca, tls_simulator):
    """The HTTPS simulator as Exchange Online, for app-only Graph tests: the app trusts the
    test CA and reaches Graph there; faults and RBAC scopes are reset after each test."""
    settings.EXCHANGE_CA_BUNDLE = str(ca.ca_cert_path)
    settings.EXCHANGE_ALLOW_HTTP = False  # everything here is https
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True
    settings.MICROSOFT_GRAPH_URL = tls_simulator.graph_url
    tls_simulator.clear_faults()
    yield tls_simulator
    tls_simulator.clear_faults()
    tls_simulator.store.app_scopes.clear()

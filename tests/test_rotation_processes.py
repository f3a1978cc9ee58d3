"""Password rotation reaches every process without a restart.

A second Python process plays a web worker or Celery worker: it keeps the app's cached
exchangelib configuration (and so its protocol and pooled sessions) for the corporate
connection and calls Exchange every 100 ms. The admin rotates the password in this process;
the other one must notice through the database's credential_version alone.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection as db_connection

from calendars import connect
from calendars.errors import ExchangeError
from calendars.models import AuthType, ConnectionKind, ExchangeConnection, Protocol
from calendars.simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]

# The second process. It reads the connection row on every call, as a request or a task
# does, but keeps exchangelib's protocol for it between calls (calendars.backends.ews caches
# one Configuration per connection); `config` shows which one served the call.
WORKER = """
import hashlib, json, sys, threading, time
import django
django.setup()
from calendars import connect, oauth
from calendars.errors import ExchangeError
from calendars.backends import ews
from calendars.models import ExchangeConnection

pk, mailbox = int(sys.argv[1]), sys.argv[2]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
while not stop.is_set():
    conn = ExchangeConnection.objects.get(pk=pk)
    error = connect.verify(conn)
    line = {
        "ok": error is None,
        "code": error.code if error else "",
        "version": conn.credential_version,
        # Which credentials served the call: exchangelib's cached protocol over EWS, a
        # digest of the cached access token over Graph (never the token itself).
        "config": (
            id(ews.configuration(conn))
            if conn.protocol == "ews"
            else hashlib.sha256(oauth.graph_access_token(conn).encode()).hexdigest()[:12]
            if error is None
            else ""
        ),
        "delegated": None,
    }
    if error is None:
        line["delegated"] = connect.backend_for(conn).mailbox_access(mailbox).can_write
    print(json.dumps(line), flush=True)
    stop.wait(0.1)
"""


def _database_url() -> str:
    db = db_connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


class Worker:
    """The second process, with its output lines parsed as they arrive."""

    def __init__(self, pk: int, mailbox: str, **settings: str) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "scheduler_site.settings",
            "DATABASE_URL": _database_url(),  # the test database, not the configured one
            "EXCHANGE_ALLOW_HTTP": "true",
            "EXCHANGE_ALLOW_PRIVATE_HOSTS": "true",
            "PYTHONPATH": str(ROOT),
            **settings,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(pk), mailbox],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(json.loads(raw))

    def wait_for(
        self, condition: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> list[dict[str, Any]]:
        """Every line up to and including the first that meets `condition`."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            seen.append(line)
            if condition(line):
                return seen
        stderr = self.proc.stderr.read() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
        raise AssertionError(f"the worker never got there; it said {seen[-5:]} {stderr[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def corporate(exchange_settings: Simulator) -> tuple[ExchangeConnection, str]:
    sim = exchange_settings
    tag = uuid.uuid4().hex[:8]
    email, member = f"booking-sync-{tag}@contoso.example", f"alice-{tag}@contoso.example"
    sim.add_mailbox(email, "Booking sync", f"old-{tag}")
    sim.add_mailbox(member, "Alice", f"alice-{tag}")
    sim.add_delegate(member, email)
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email=email,
        ews_url=sim.ews_url,
        auth_type=AuthType.BASIC,
        password=f"old-{tag}",
    )
    return conn, member


@pytest.fixture
def worker(corporate: tuple[ExchangeConnection, str]) -> Iterator[Worker]:
    conn, member = corporate
    process = Worker(conn.pk, member)
    try:
        yield process
    finally:
        # Before the database is flushed: the worker holds a connection to it.
        process.stop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_rotated_password_reaches_a_running_second_process_without_a_restart(
    exchange_settings: Simulator,
    corporate: tuple[ExchangeConnection, str],
    worker: Worker,
    django_user_model: Any,
) -> None:
    sim = exchange_settings
    conn, _ = corporate
    admin = django_user_model.objects.create_superuser("admin", "admin@contoso.example", None)

    # Working, and reusing one cached protocol call after call.
    first = worker.wait_for(lambda line: line["ok"])[-1]
    more = [worker.wait_for(lambda line: True)[-1] for _ in range(3)]
    assert all(line["ok"] and line["delegated"] for line in more)
    old_config = first["config"]
    assert {line["config"] for line in more} == {old_config}
    assert first["version"] == conn.credential_version

    # IT changes the password in Exchange: the running worker starts failing.
    new_password = f"new-{uuid.uuid4().hex[:8]}"
    sim.set_password(conn.email, new_password)
    failing = worker.wait_for(lambda line: not line["ok"])[-1]
    assert failing["code"] == "auth_failed"

    # The admin rotates it here; the worker picks it up on its next call.
    connect.rotate_secret(conn, new_password, admin)
    recovered = worker.wait_for(lambda line: line["ok"], timeout=10)[-1]
    assert recovered["version"] == conn.credential_version == failing["version"] + 1
    assert recovered["config"] != old_config  # the old credentials' protocol was dropped
    assert recovered["delegated"] is True
    assert worker.proc.poll() is None  # the same process, never restarted

    # And it stays on the new protocol.
    later = [worker.wait_for(lambda line: True)[-1] for _ in range(3)]
    assert all(line["ok"] for line in later)
    assert {line["config"] for line in later} == {recovered["config"]}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("protocol", ["graph"], indirect=True)
def test_a_rotated_client_secret_reaches_a_running_second_process_over_graph(
    exchange_settings: Simulator, django_user_model: Any
) -> None:
    """Exchange Online, app-only: the second process keeps its Graph access token between
    calls; after the admin rotates the client secret here it gets a new one with the new
    secret on its next call, through the credential version alone."""
    sim = exchange_settings
    idp = sim.identity_provider
    tag = uuid.uuid4().hex[:8]
    member = f"alice-{tag}@contoso.example"
    sim.add_mailbox(member, "Alice", f"alice-{tag}")
    client_id, old_secret = str(uuid.uuid4()), f"old-{tag}"
    idp.register_application(client_id, old_secret, roles=["Calendars.ReadWrite"])
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email=member,
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_APP,
        oauth_authority=idp.authority,
        oauth_client_id=client_id,
        oauth_client_secret=old_secret,
    )
    admin = django_user_model.objects.create_superuser("admin", "admin@contoso.example", None)
    worker = Worker(
        conn.pk,
        member,
        MICROSOFT_GRAPH_URL=sim.graph_url,
        EXCHANGE_CA_BUNDLE=str(idp.ca_cert_path),
    )
    try:
        first = worker.wait_for(lambda line: line["ok"])[-1]
        more = [worker.wait_for(lambda line: True)[-1] for _ in range(3)]
        assert all(line["ok"] and line["delegated"] for line in more)
        assert {line["config"] for line in more} == {first["config"]}  # one token, reused

        # A new secret in Entra (the old one stops there at once) and rotated here.
        idp.set_client_secret(client_id, f"new-{tag}")
        idp.expire_tokens()  # the worker's token would otherwise live out its hour
        failing = worker.wait_for(lambda line: not line["ok"])[-1]
        assert failing["code"] == "auth_failed"
        connect.rotate_secret(conn, f"new-{tag}", admin)

        recovered = worker.wait_for(lambda line: line["ok"], timeout=10)[-1]
        assert recovered["version"] == conn.credential_version == failing["version"] + 1
        assert recovered["config"] != first["config"]
        assert recovered["delegated"] is True
        assert worker.proc.poll() is None  # the same process, never restarted
    finally:
        worker.stop()


# --- the re-queue hook ---------------------------------------------------------------------


@pytest.fixture
def rotations() -> Iterator[list[ExchangeConnection]]:
    """Connections the credentials_rotated signal was sent for."""
    sent: list[ExchangeConnection] = []

    def receiver(sender: Any, connection: ExchangeConnection, **kwargs: Any) -> None:
        sent.append(connection)

    connect.credentials_rotated.connect(receiver)
    try:
        yield sent
    finally:
        connect.credentials_rotated.disconnect(receiver)


@pytest.mark.django_db
def test_a_verified_rotation_tells_the_write_queue_to_retry_at_once(
    exchange_settings: Simulator,
    corporate: tuple[ExchangeConnection, str],
    rotations: list[ExchangeConnection],
    django_capture_on_commit_callbacks: Any,
) -> None:
    conn, _ = corporate
    exchange_settings.set_password(conn.email, "rotated-2026")
    with django_capture_on_commit_callbacks(execute=True):
        connect.rotate_secret(conn, "rotated-2026", None)
    assert [c.pk for c in rotations] == [conn.pk]
    assert rotations[0].credential_version == 2


@pytest.mark.django_db
def test_a_rejected_rotation_does_not_retry_writes(
    exchange_settings: Simulator,
    corporate: tuple[ExchangeConnection, str],
    rotations: list[ExchangeConnection],
    django_capture_on_commit_callbacks: Any,
) -> None:
    conn, _ = corporate
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ExchangeError):
        connect.rotate_secret(conn, "not-the-password", None)
    assert rotations == []

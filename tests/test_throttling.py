"""Exchange throttling (ErrorServerBusy) while several threads share one connection: every
thread gets its answer or its error; none waits forever.

exchangelib 5.6 answers ErrorServerBusy by shrinking its session pool, taking a session out
while holding the pool's lock; when every session is checked out it tries to grow the pool
under that same (non-reentrant) lock and deadlocks. A Celery worker's threads then hang for
good (seen in `make load`). calendars/backends/ews.py replaces that one method.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from exchangelib.protocol import Protocol

from calendars.backends.base import CalendarTarget
from calendars.backends.ews import configuration
from calendars.connect import backend_for
from calendars.errors import ExchangeError

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

START = datetime(2027, 3, 1, tzinfo=UTC)


def run_in_threads(n: int, work) -> list[object]:  # type: ignore[no-untyped-def]
    results: list[object] = [None] * n

    def one(i: int) -> None:
        try:
            results[i] = work()
        except Exception as exc:  # what the caller sees
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(t.is_alive() for t in threads), "a thread is stuck inside exchangelib"
    return results


def test_threads_throttled_together_all_get_an_answer(world) -> None:
    owner = world.person("olivia")
    connection = world.corporate()
    world.sim.add_delegate(owner.email, connection.email)
    target = CalendarTarget(owner.email)
    backend = backend_for(connection)
    backend.busy([target], START, START + timedelta(days=1))  # the protocol exists
    # Every request is slow and throttled, so threads hold their sessions at the same time
    # as others shrink the pool.
    world.sim.set_latency(0.2)
    world.sim.throttle(count=1000, back_off_ms=100)
    try:
        results = run_in_threads(
            6, lambda: backend.busy([target], START, START + timedelta(days=1))
        )
    finally:
        world.sim.set_latency(0)
        world.sim.clear_faults()
    assert all(isinstance(r, ExchangeError) and r.code == "throttled" for r in results)
    # And the connection still works afterwards.
    assert backend.busy([target], START, START + timedelta(days=1)) == {target: []}


@pytest.mark.parametrize("protocol", ["ews"], indirect=True)  # exchangelib's session pool
def test_shrinking_the_pool_while_every_session_is_in_use_does_not_block(world) -> None:
    connection = world.corporate()
    protocol = Protocol(config=configuration(connection))
    while protocol.session_pool_size < 2:
        protocol.increase_poolsize()
    held = [protocol.get_session() for _ in range(protocol.session_pool_size)]
    try:
        (outcome,) = run_in_threads(1, protocol.decrease_poolsize)
    finally:
        for session in held:
            protocol.release_session(session)
    assert outcome is None  # nothing idle to close now: it leaves the pool as it is
    assert protocol.session_pool_size == 2

"""Graph face: throttling, the per-app-per-mailbox concurrency limit, and injected faults."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from calendars.simulator import Simulator
from tests.simulator.conftest import AsApp, NewUser


@pytest.fixture(scope="module")
def sim(graph_sim: Simulator) -> Simulator:
    return graph_sim


def test_it_answers_429_with_retry_after_when_throttled(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()
    sim.throttle(count=1, back_off_ms=3000)

    throttled = graph.get(f"/users/{alice.email}/calendar")
    after = graph.get(f"/users/{alice.email}/calendar")

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    assert after.status_code == 200


def test_a_fifth_concurrent_request_for_one_mailbox_gets_429(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    graph = as_app()
    sim.set_latency(0.6)
    statuses: list[int] = []
    lock = threading.Lock()

    def call(who: str) -> None:
        session = requests.Session()
        session.trust_env = False
        response = session.get(
            f"{sim.graph_url}/users/{who}/calendar",
            headers={"Authorization": f"Bearer {graph.token}"},
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=call, args=(alice.email,)) for _ in range(5)]
    other = threading.Thread(target=call, args=(bob.email,))
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    other.start()
    for thread in [*threads, other]:
        thread.join()

    assert sorted(statuses) == [200, 200, 200, 200, 200, 429]
    refused = [e for e in sim.log if e.status == 429]
    assert [e.outcome for e in refused] == ["ApplicationThrottled"]
    assert refused[0].target == alice.email


def test_latency_applies_to_graph_requests(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()
    sim.set_latency(0.3)

    started = time.monotonic()
    graph.get(f"/users/{alice.email}/calendar")

    assert time.monotonic() - started >= 0.3
    assert sim.log[-1].duration >= 0.3


def test_dropped_connections_and_http_failures_apply_to_graph(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()

    sim.drop_connections(1)
    with pytest.raises(requests.ConnectionError):
        graph.get(f"/users/{alice.email}/calendar")
    sim.fail_http(503, 1)
    failed = graph.get(f"/users/{alice.email}/calendar")
    ok = graph.get(f"/users/{alice.email}/calendar")

    assert failed.status_code == 503
    assert ok.status_code == 200
    assert [e.outcome for e in sim.log] == ["dropped", "HTTP 503", "NoError"]

"""Graph face: JSON batching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calendars.simulator import Simulator
from tests.simulator.conftest import AsApp, NewUser


@pytest.fixture(scope="module")
def sim(graph_sim: Simulator) -> Simulator:
    return graph_sim


DAY = datetime(2027, 3, 1, tzinfo=UTC)


def test_a_batch_answers_each_inner_request(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.add_event(alice.email, DAY + timedelta(hours=9), DAY + timedelta(hours=10), "A")

    response = as_app().post(
        "/$batch",
        {
            "requests": [
                {
                    "id": "1",
                    "method": "GET",
                    "url": f"/users/{alice.email}/calendarView?startDateTime=2027-03-01T00:00:00Z"
                    "&endDateTime=2027-03-02T00:00:00Z",
                },
                {
                    "id": "2",
                    "method": "POST",
                    "url": f"/users/{bob.email}/calendar/events",
                    "headers": {"Content-Type": "application/json"},
                    "body": {
                        "subject": "B",
                        "start": {"dateTime": "2027-03-01T09:00:00", "timeZone": "UTC"},
                        "end": {"dateTime": "2027-03-01T10:00:00", "timeZone": "UTC"},
                    },
                },
                {"id": "3", "method": "GET", "url": "/users/nobody@contoso.example/calendar"},
            ]
        },
    )

    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert answers["1"]["status"] == 200
    assert [e["subject"] for e in answers["1"]["body"]["value"]] == ["A"]
    assert answers["2"]["status"] == 201
    assert answers["3"]["status"] == 404
    assert [e.subject for e in sim.events(bob.email)] == ["B"]


def test_a_batch_of_more_than_20_requests_is_refused(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    requests = [
        {"id": str(i), "method": "GET", "url": f"/users/{alice.email}/calendar"} for i in range(21)
    ]

    response = as_app().post("/$batch", {"requests": requests})

    assert response.status_code == 400


def test_inner_requests_are_throttled_on_their_own(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()
    requests = [
        {"id": str(i), "method": "GET", "url": f"/users/{alice.email}/calendar"} for i in range(3)
    ]
    sim.throttle(count=1, back_off_ms=1500)

    response = graph.post("/$batch", {"requests": requests})

    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["responses"]]
    assert statuses == [429, 200, 200]
    assert response.json()["responses"][0]["headers"]["Retry-After"] == "2"
    assert response.json()["responses"][0]["body"]["error"]["code"] == "ApplicationThrottled"


def test_each_inner_request_is_logged_as_its_own_operation(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")

    as_app().post(
        "/$batch",
        {"requests": [{"id": "1", "method": "GET", "url": f"/users/{alice.email}/calendars"}]},
    )

    assert [(e.operation, e.target) for e in sim.log] == [
        ("graph:listCalendars", alice.email),
        ("graph:batch", None),
    ]

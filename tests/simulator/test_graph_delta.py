"""Graph face: calendarView delta rounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calendars.simulator import Simulator
from tests.simulator.conftest import AsApp, Graph, NewUser


@pytest.fixture(scope="module")
def sim(graph_sim: Simulator) -> Simulator:
    return graph_sim


DAY = datetime(2027, 3, 1, tzinfo=UTC)
WINDOW = "startDateTime=2027-03-01T00:00:00Z&endDateTime=2027-03-08T00:00:00Z"


def _round(graph: Graph, url: str) -> tuple[list[dict[str, object]], str]:
    """Follow nextLinks to the deltaLink: (every value, the deltaLink)."""
    values: list[dict[str, object]] = []
    while True:
        page = graph.get(url).json()
        values += page["value"]
        if "@odata.deltaLink" in page:
            return values, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]
        assert "$skiptoken" in url


def test_the_first_round_pages_to_a_delta_link_and_later_rounds_get_only_changes(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    ids = [
        sim.add_event(
            alice.email, DAY + timedelta(hours=h), DAY + timedelta(hours=h, minutes=30), f"E{h}"
        )
        for h in range(12)
    ]
    graph = as_app()
    calendar_id = graph.get(f"/users/{alice.email}/calendar").json()["id"]

    initial, delta_link = _round(
        graph, f"/users/{alice.email}/calendars/{calendar_id}/calendarView/delta?{WINDOW}"
    )
    sim.move_event(alice.email, ids[0], DAY + timedelta(days=1), DAY + timedelta(days=1, hours=1))
    sim.delete_event(alice.email, ids[1])
    sim.add_event(alice.email, DAY + timedelta(days=2), DAY + timedelta(days=2, hours=1), "New")
    changes, next_delta = _round(graph, delta_link)
    nothing, _ = _round(graph, next_delta)

    assert len(initial) == 12
    assert "$deltatoken" in delta_link
    changed = {c.get("subject") for c in changes if "@removed" not in c}
    removed = [c for c in changes if "@removed" in c]
    assert changed == {"E0", "New"}
    assert removed == [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": initial[1]["id"],
            "@removed": {"reason": "deleted"},
        }
    ]
    assert nothing == []


def test_an_unknown_delta_token_answers_410_so_the_client_restarts(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")

    response = as_app().get(
        f"/users/{alice.email}/calendar/calendarView/delta?$deltatoken=not-a-token"
    )

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "SyncStateNotFound"

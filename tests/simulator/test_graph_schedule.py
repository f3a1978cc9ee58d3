"""Graph face: getSchedule (free/busy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calendars.simulator import Simulator
from tests.simulator.conftest import AsApp, AsUser, NewUser


@pytest.fixture(scope="module")
def sim(graph_sim: Simulator) -> Simulator:
    return graph_sim


DAY = datetime(2027, 3, 1, tzinfo=UTC)  # a Monday


def _window(hours: int = 24, interval: int = 60) -> dict[str, object]:
    return {
        "startTime": {"dateTime": "2027-03-01T00:00:00", "timeZone": "UTC"},
        "endTime": {
            "dateTime": (DAY + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S"),
            "timeZone": "UTC",
        },
        "availabilityViewInterval": interval,
    }


def test_get_schedule_answers_items_view_and_working_hours(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.add_event(bob.email, DAY + timedelta(hours=9), DAY + timedelta(hours=10), "Standup")
    sim.add_event(
        bob.email, DAY + timedelta(hours=11), DAY + timedelta(hours=12), "Lunch", status="Free"
    )
    sim.add_event(
        bob.email,
        DAY + timedelta(hours=13),
        DAY + timedelta(hours=14),
        "Home",
        status="WorkingElsewhere",
    )

    response = as_user(alice).post(
        "/me/calendar/getSchedule", {"schedules": [bob.email], **_window()}
    )

    assert response.status_code == 200
    [info] = response.json()["value"]
    assert info["scheduleId"] == bob.email
    assert info["availabilityView"][8:14] == "020000"
    assert [(i["status"], i["start"]["dateTime"]) for i in info["scheduleItems"]] == [
        ("busy", "2027-03-01T09:00:00.0000000"),
        ("free", "2027-03-01T11:00:00.0000000"),
        ("workingElsewhere", "2027-03-01T13:00:00.0000000"),
    ]
    # Default free/busy rights: times only, no subjects.
    assert "subject" not in info["scheduleItems"][0]
    assert info["workingHours"]["daysOfWeek"][0] == "monday"
    assert info["workingHours"]["startTime"] == "08:00:00.0000000"
    assert info["workingHours"]["timeZone"] == {"name": "UTC"}


def test_subjects_show_to_callers_with_detail_rights_but_not_for_private_items(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.set_permission(bob.email, alice.email, "Reviewer")
    sim.add_event(bob.email, DAY + timedelta(hours=9), DAY + timedelta(hours=10), "Standup")
    sim.add_event(
        bob.email,
        DAY + timedelta(hours=15),
        DAY + timedelta(hours=16),
        "Doctor",
        sensitivity="Private",
    )

    [info] = (
        as_user(alice)
        .post("/me/calendar/getSchedule", {"schedules": [bob.email], **_window()})
        .json()["value"]
    )

    assert info["scheduleItems"][0]["subject"] == "Standup"
    assert info["scheduleItems"][1]["isPrivate"] is True
    assert "subject" not in info["scheduleItems"][1]


def test_recurring_series_are_expanded_with_exceptions_and_deletions(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    bob = new_user("bob")
    series = sim.add_event(
        bob.email,
        DAY + timedelta(hours=9),
        DAY + timedelta(hours=10),
        "Daily",
        recurrence={"pattern": "daily", "interval": 1, "count": 5},
    )
    sim.modify_occurrence(bob.email, series, 2, start=DAY + timedelta(days=1, hours=14))
    sim.delete_occurrence(bob.email, series, 3)

    [info] = (
        as_app()
        .post(
            f"/users/{bob.email}/calendar/getSchedule",
            {"schedules": [bob.email], **_window(hours=24 * 5)},
        )
        .json()["value"]
    )

    starts = [i["start"]["dateTime"][:16] for i in info["scheduleItems"]]
    assert starts == [
        "2027-03-01T09:00",
        "2027-03-02T14:00",
        "2027-03-04T09:00",
        "2027-03-05T09:00",
    ]


def test_an_unknown_address_is_an_error_item_not_a_failed_call(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    bob = new_user("bob")

    response = as_app().post(
        f"/users/{bob.email}/calendar/getSchedule",
        {"schedules": ["nobody@contoso.example", bob.email], **_window()},
    )

    assert response.status_code == 200
    unknown, known = response.json()["value"]
    assert unknown["error"]["responseCode"] == "ErrorMailRecipientNotFound"
    assert "error" not in known


def test_an_on_premises_mailbox_is_an_error_item(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    with sim.store.lock:
        sim.store.mailbox(bob.email).on_premises = True

    [info] = (
        as_app()
        .post(f"/users/{alice.email}/calendar/getSchedule", {"schedules": [bob.email], **_window()})
        .json()["value"]
    )

    assert info["error"]["responseCode"] == "MailboxNotEnabledForRESTAPI"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"schedules": [f"u{i}@contoso.example" for i in range(21)]}, "too many schedules"),
        ({"endTime": {"dateTime": "2027-05-02T00:00:00", "timeZone": "UTC"}}, "62 days"),
        ({"availabilityViewInterval": 4}, "interval below 5"),
        ({"availabilityViewInterval": 1441}, "interval above 1440"),
    ],
)
def test_it_refuses_requests_beyond_graphs_limits(
    sim: Simulator, new_user: NewUser, as_app: AsApp, change: dict[str, object], why: str
) -> None:
    bob = new_user("bob")
    body = {"schedules": [bob.email], **_window(), **change}

    response = as_app().post(f"/users/{bob.email}/calendar/getSchedule", body)

    assert response.status_code == 400, why


def test_times_come_in_the_preferred_time_zone(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    bob = new_user("bob")
    sim.add_event(bob.email, DAY + timedelta(hours=9), DAY + timedelta(hours=10), "Standup")

    [info] = (
        as_app()
        .post(
            f"/users/{bob.email}/calendar/getSchedule",
            {"schedules": [bob.email], **_window()},
            headers={"Prefer": 'outlook.timezone="W. Europe Standard Time"'},
        )
        .json()["value"]
    )

    assert info["scheduleItems"][0]["start"] == {
        "dateTime": "2027-03-01T10:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }


def test_the_actions_parameters_are_matched_without_regard_to_case(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    # Graph's metadata names them "Schedules", "StartTime"... (what msgraph-sdk sends); the
    # documentation writes them in camel case. Both reach the same action.
    alice, bob = new_user("alice"), new_user("bob")
    sim.add_event(bob.email, DAY + timedelta(hours=9), DAY + timedelta(hours=10), "Standup")
    window = {key[0].upper() + key[1:]: value for key, value in _window().items()}

    response = as_user(alice).post("/me/calendar/getSchedule", {"Schedules": [bob.email], **window})

    assert response.status_code == 200, response.text
    [info] = response.json()["value"]
    assert info["scheduleId"] == bob.email
    assert info["availabilityView"][8:11] == "020"  # busy 09:00-10:00 only

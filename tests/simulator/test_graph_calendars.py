"""Graph face: calendars, calendar groups and calendar permissions."""

from __future__ import annotations

import pytest

from calendars.simulator import Simulator
from tests.simulator.conftest import AsApp, AsUser, NewUser


@pytest.fixture(scope="module")
def sim(graph_sim: Simulator) -> Simulator:
    return graph_sim


def test_the_primary_calendar_is_the_default_one_and_teams_is_allowed(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice = new_user("alice")

    body = as_user(alice).get("/me/calendar").json()

    assert body["name"] == "Calendar"
    assert body["isDefaultCalendar"] is True
    assert body["canEdit"] is True and body["canShare"] is True
    assert body["allowedOnlineMeetingProviders"] == ["teamsForBusiness"]
    assert body["defaultOnlineMeetingProvider"] == "teamsForBusiness"
    assert body["owner"] == {"name": alice.name, "address": alice.email}


def test_users_calendars_lists_every_calendar_of_the_mailbox(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    sim.add_calendar(alice.email, "Rooms")

    names = [c["name"] for c in as_app().get(f"/users/{alice.email}/calendars").json()["value"]]

    assert sorted(names) == ["Calendar", "Rooms"]


def test_my_calendars_include_calendars_shared_with_me(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.add_delegate(alice.email, bob.email, view_private_items=False)

    calendars = as_user(bob).get("/me/calendars").json()["value"]

    shared = [c for c in calendars if c["owner"]["address"] == alice.email]
    assert len(shared) == 1
    assert shared[0]["canEdit"] is True
    assert shared[0]["canShare"] is False
    assert shared[0]["canViewPrivateItems"] is False
    assert shared[0]["isDefaultCalendar"] is False


def test_a_free_busy_only_caller_is_denied_the_calendar_list(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")

    response = as_user(bob).get(f"/users/{alice.email}/calendars")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ErrorAccessDenied"


def test_calendar_groups_hold_the_users_calendars(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()

    groups = graph.get(f"/users/{alice.email}/calendarGroups").json()["value"]
    calendars = graph.get(
        f"/users/{alice.email}/calendarGroups/{groups[0]['id']}/calendars"
    ).json()["value"]

    assert [g["name"] for g in groups] == ["My Calendars"]
    assert [c["name"] for c in calendars] == ["Calendar"]


def test_the_owner_sees_permissions_mapped_to_graph_roles(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob, carol, dave, erin = (new_user(n) for n in ("alice", "bob", "carol", "dave", "erin"))
    sim.set_permission(alice.email, bob.email, "Reviewer")
    sim.set_permission(alice.email, carol.email, "FreeBusyTimeAndSubjectAndLocation")
    sim.add_delegate(alice.email, dave.email, view_private_items=True)
    sim.add_delegate(alice.email, erin.email, view_private_items=False)
    graph = as_user(alice)
    calendar_id = graph.get("/me/calendar").json()["id"]

    entries = graph.get(f"/me/calendars/{calendar_id}/calendarPermissions").json()["value"]

    roles = {
        e["emailAddress"].get("address", e["emailAddress"]["name"]): e["role"] for e in entries
    }
    assert roles == {
        "My Organization": "freeBusyRead",
        bob.email: "read",
        carol.email: "limitedRead",
        dave.email: "delegateWithPrivateEventAccess",
        erin.email: "delegateWithoutPrivateEventAccess",
    }


def test_a_sharee_gets_an_empty_permission_list(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.set_permission(alice.email, bob.email, "Editor")
    calendar_id = as_user(alice).get("/me/calendar").json()["id"]

    response = as_user(bob).get(f"/users/{alice.email}/calendars/{calendar_id}/calendarPermissions")

    assert response.status_code == 200
    assert response.json()["value"] == []


def test_an_app_can_list_calendar_permissions(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.set_permission(alice.email, bob.email, "Editor")
    graph = as_app()
    calendar_id = graph.get(f"/users/{alice.email}/calendar").json()["id"]

    entries = graph.get(f"/users/{alice.email}/calendars/{calendar_id}/calendarPermissions").json()[
        "value"
    ]

    assert {e["role"] for e in entries} == {"freeBusyRead", "write"}

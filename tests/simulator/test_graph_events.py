"""Graph face: creating, changing and deleting events, idempotency, extended properties,
Teams meetings, immutable ids, and the same events seen over EWS (one store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import exchangelib
import pytest
from exchangelib import CalendarItem, ExtendedProperty

from calendars.simulator import Simulator
from tests.simulator.conftest import AsApp, AsUser, Login, NewUser

GUID = "c11ff724-aa03-4555-9952-8fa248a11c3e"
PROPERTY = f"String {{{GUID}}} Name BookingUid"
DAY = datetime(2027, 3, 1, tzinfo=UTC)
WINDOW = "startDateTime=2027-03-01T00:00:00Z&endDateTime=2027-03-08T00:00:00Z"


@pytest.fixture(scope="module")
def sim(graph_sim: Simulator) -> Simulator:
    return graph_sim


class BookingUid(ExtendedProperty):
    property_set_id = GUID
    property_name = "BookingUid"
    property_type = "String"


@pytest.fixture
def booking_uid() -> Iterator[None]:
    CalendarItem.register("graph_booking_uid", BookingUid)
    yield
    CalendarItem.deregister("graph_booking_uid")


def _event(subject: str = "Consultation", **extra: object) -> dict[str, object]:
    return {
        "subject": subject,
        "body": {"contentType": "text", "content": "See you"},
        "start": {"dateTime": "2027-03-01T09:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2027-03-01T10:00:00", "timeZone": "W. Europe Standard Time"},
        "location": {"displayName": "Room 1"},
        **extra,
    }


def test_creating_an_event_answers_201_with_the_event(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")

    response = as_app().post(f"/users/{alice.email}/calendar/events", _event(showAs="tentative"))

    assert response.status_code == 201
    event = response.json()
    assert event["subject"] == "Consultation"
    assert event["start"] == {"dateTime": "2027-03-01T08:00:00.0000000", "timeZone": "UTC"}
    assert event["showAs"] == "tentative"
    assert event["type"] == "singleInstance"
    assert event["organizer"]["emailAddress"]["address"] == alice.email
    [item] = sim.events(alice.email)
    assert item.start == DAY + timedelta(hours=8)
    assert item.tz == "Europe/Berlin"


def test_an_event_created_over_graph_is_seen_over_ews(
    sim: Simulator, new_user: NewUser, as_app: AsApp, login: Login
) -> None:
    alice = new_user("alice")
    as_app().post(f"/users/{alice.email}/calendar/events", _event(subject="Over Graph"))

    account = login(alice)
    items = list(account.calendar.view(start=DAY, end=DAY + timedelta(days=1)))

    assert [i.subject for i in items] == ["Over Graph"]
    assert items[0].location == "Room 1"
    assert items[0].legacy_free_busy_status == "Busy"


def test_an_event_created_over_ews_is_seen_over_graph(
    sim: Simulator, new_user: NewUser, as_user: AsUser, login: Login
) -> None:
    alice = new_user("alice")
    account = login(alice)
    tz = exchangelib.EWSTimeZone("Europe/London")
    CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Over EWS",
        start=exchangelib.EWSDateTime(2027, 3, 1, 9, tzinfo=tz),
        end=exchangelib.EWSDateTime(2027, 3, 1, 10, tzinfo=tz),
        legacy_free_busy_status="OOF",
    ).save()

    [event] = as_user(alice).get(f"/me/calendarView?{WINDOW}").json()["value"]

    assert event["subject"] == "Over EWS"
    assert event["showAs"] == "oof"


def test_the_subject_is_cut_at_255_characters(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")

    event = as_app().post(f"/users/{alice.email}/events", _event(subject="x" * 300)).json()

    assert len(event["subject"]) == 255


def test_attendees_get_an_invitation(sim: Simulator, new_user: NewUser, as_app: AsApp) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    attendees = [{"emailAddress": {"address": bob.email, "name": "Bob"}, "type": "required"}]

    event = as_app().post(f"/users/{alice.email}/events", _event(attendees=attendees)).json()

    assert event["attendees"][0]["emailAddress"]["address"] == bob.email
    sent = [m for m in sim.sent if m.sender == alice.email]
    assert [(m.kind, m.recipients) for m in sent] == [("invitation", [bob.email])]


def test_a_second_post_with_the_same_transaction_id_returns_the_first_event(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()

    first = graph.post(f"/users/{alice.email}/events", _event(transactionId="tx-1")).json()
    again = graph.post(f"/users/{alice.email}/events", _event(transactionId="tx-1")).json()

    assert again["id"] == first["id"]
    assert first["transactionId"] == "tx-1"
    assert len(sim.events(alice.email)) == 1


def test_a_delegate_writes_into_the_owners_calendar_and_a_reviewer_cannot(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob, carol = new_user("alice"), new_user("bob"), new_user("carol")
    sim.add_delegate(alice.email, bob.email)
    sim.set_permission(alice.email, carol.email, "Reviewer")

    by_delegate = as_user(bob).post(f"/users/{alice.email}/calendar/events", _event())
    by_reviewer = as_user(carol).post(f"/users/{alice.email}/calendar/events", _event())

    assert by_delegate.status_code == 201
    assert by_delegate.json()["organizer"]["emailAddress"]["address"] == alice.email
    assert by_reviewer.status_code == 403
    assert by_reviewer.json()["error"]["code"] == "ErrorAccessDenied"


def test_an_extended_property_is_found_by_filter_and_seen_over_ews(
    sim: Simulator, new_user: NewUser, as_app: AsApp, login: Login, booking_uid: None
) -> None:
    alice = new_user("alice")
    graph = as_app()
    graph.post(
        f"/users/{alice.email}/events",
        _event(singleValueExtendedProperties=[{"id": PROPERTY, "value": "b-42"}]),
    )
    graph.post(f"/users/{alice.email}/events", _event(subject="Other"))

    found = graph.get(
        f"/users/{alice.email}/events",
        params={
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROPERTY}' and "
            "ep/value eq 'b-42')",
            "$expand": f"singleValueExtendedProperties($filter=id eq '{PROPERTY}')",
        },
    ).json()["value"]
    account = login(alice)
    over_ews = {i.subject: i.graph_booking_uid for i in account.calendar.all()}

    assert [e["subject"] for e in found] == ["Consultation"]
    assert found[0]["singleValueExtendedProperties"] == [{"id": PROPERTY, "value": "b-42"}]
    assert over_ews == {"Consultation": "b-42", "Other": None}


def test_a_teams_meeting_gets_a_join_url(sim: Simulator, new_user: NewUser, as_app: AsApp) -> None:
    alice = new_user("alice")

    event = (
        as_app()
        .post(
            f"/users/{alice.email}/events",
            _event(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness"),
        )
        .json()
    )

    assert event["isOnlineMeeting"] is True
    assert event["onlineMeetingProvider"] == "teamsForBusiness"
    assert event["onlineMeeting"]["joinUrl"].startswith(
        "https://teams.microsoft.com/l/meetup-join/"
    )


def test_patch_moves_the_event_keeps_its_id_and_changes_its_change_key(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    graph = as_app()
    attendees = [{"emailAddress": {"address": bob.email}, "type": "required"}]
    created = graph.post(f"/users/{alice.email}/events", _event(attendees=attendees)).json()

    response = graph.patch(
        f"/users/{alice.email}/events/{created['id']}",
        {
            "start": {"dateTime": "2027-03-02T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-03-02T10:00:00", "timeZone": "UTC"},
        },
    )

    assert response.status_code == 200
    moved = response.json()
    assert moved["id"] == created["id"]
    assert moved["changeKey"] != created["changeKey"]
    assert moved["start"]["dateTime"] == "2027-03-02T09:00:00.0000000"
    assert [m.kind for m in sim.sent if m.sender == alice.email] == ["invitation", "update"]


def test_delete_answers_204_moves_to_deleted_items_and_a_second_delete_404(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()
    created = graph.post(f"/users/{alice.email}/events", _event()).json()

    first = graph.delete(f"/users/{alice.email}/events/{created['id']}")
    second = graph.delete(f"/users/{alice.email}/events/{created['id']}")

    assert first.status_code == 204
    assert second.status_code == 404
    assert second.json()["error"]["code"] == "ErrorItemNotFound"
    assert sim.events(alice.email) == []
    assert [i.subject for i in sim.deleted_items(alice.email)] == ["Consultation"]


def test_immutable_ids_stay_the_same_across_a_change(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()
    prefer = {"Prefer": 'IdType="ImmutableId"'}
    created = graph.post(f"/users/{alice.email}/events", _event(), headers=prefer).json()

    fetched = graph.get(f"/users/{alice.email}/events/{created['id']}", headers=prefer).json()
    plain = graph.get(f"/users/{alice.email}/events/{created['id']}").json()

    assert fetched["id"] == created["id"]
    assert plain["id"] != created["id"]  # the regular id names the same item


def test_an_occurrence_can_be_changed_and_deleted(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    sim.add_event(
        alice.email,
        DAY + timedelta(hours=9),
        DAY + timedelta(hours=10),
        "Daily",
        recurrence={"pattern": "daily", "count": 3},
    )
    graph = as_app()
    first, second, _ = graph.get(f"/users/{alice.email}/calendarView?{WINDOW}").json()["value"]

    changed = graph.patch(f"/users/{alice.email}/events/{first['id']}", {"subject": "Special"})
    deleted = graph.delete(f"/users/{alice.email}/events/{second['id']}")
    after = graph.get(f"/users/{alice.email}/calendarView?{WINDOW}").json()["value"]

    assert changed.status_code == 200 and changed.json()["type"] == "exception"
    assert deleted.status_code == 204
    assert [(e["subject"], e["type"]) for e in after] == [
        ("Special", "exception"),
        ("Daily", "occurrence"),
    ]


def test_an_immutable_id_still_finds_the_event_after_it_moved_to_deleted_items(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()
    prefer = {"Prefer": 'IdType="ImmutableId"'}
    created = graph.post(f"/users/{alice.email}/events", _event(), headers=prefer).json()
    plain_id = graph.get(f"/users/{alice.email}/events/{created['id']}").json()["id"]

    graph.delete(f"/users/{alice.email}/events/{created['id']}", headers=prefer)

    by_immutable = graph.get(f"/users/{alice.email}/events/{created['id']}", headers=prefer)
    assert by_immutable.status_code == 200
    assert by_immutable.json()["id"] == created["id"]
    assert graph.get(f"/users/{alice.email}/events/{plain_id}").status_code == 404


def test_a_delegate_creates_through_the_shared_entry_of_their_calendar_list(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.add_delegate(alice.email, bob.email)
    graph = as_user(bob)
    [shared] = [
        c
        for c in graph.get("/me/calendars").json()["value"]
        if c["owner"]["address"] == alice.email
    ]

    response = graph.post(f"/me/calendars/{shared['id']}/events", _event(subject="For Alice"))

    assert response.status_code == 201
    assert [e.subject for e in sim.events(alice.email)] == ["For Alice"]


def test_expanding_calendar_names_the_calendar_the_event_is_in_now(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    """event.calendar is "the calendar that contains the event": after the owner moved it,
    or deleted it into Deleted Items, it is no longer the calendar it was created in."""
    alice = new_user("alice")
    graph = as_app()
    prefer = {"Prefer": 'IdType="ImmutableId"'}
    primary = graph.get(f"/users/{alice.email}/calendar").json()["id"]
    created = graph.post(f"/users/{alice.email}/events", _event(), headers=prefer).json()
    url = f"/users/{alice.email}/events/{created['id']}?$expand=calendar($select=id)"

    assert graph.get(url, headers=prefer).json()["calendar"]["id"] == primary
    graph.delete(f"/users/{alice.email}/events/{created['id']}", headers=prefer)
    moved = graph.get(url, headers=prefer).json()
    assert moved["id"] == created["id"] and moved["calendar"]["id"] != primary
    assert (
        "calendar"
        not in graph.get(f"/users/{alice.email}/events/{created['id']}", headers=prefer).json()
    )

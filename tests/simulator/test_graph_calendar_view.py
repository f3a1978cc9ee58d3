"""Graph face: calendarView (expansion, paging, $select, time zones, access)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from calendars.simulator import Simulator
from tests.simulator.conftest import AsApp, AsUser, NewUser


@pytest.fixture(scope="module")
def sim(graph_sim: Simulator) -> Simulator:
    return graph_sim


DAY = datetime(2027, 3, 1, tzinfo=UTC)
WINDOW = "startDateTime=2027-03-01T00:00:00Z&endDateTime=2027-03-08T00:00:00Z"


def test_it_needs_a_start_and_an_end(sim: Simulator, new_user: NewUser, as_app: AsApp) -> None:
    alice = new_user("alice")

    response = as_app().get(f"/users/{alice.email}/calendar/calendarView")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ErrorInvalidParameter"


def test_it_expands_series_with_exceptions_and_gives_their_types(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    series = sim.add_event(
        alice.email,
        DAY + timedelta(hours=9),
        DAY + timedelta(hours=10),
        "Daily",
        recurrence={"pattern": "daily", "count": 3},
    )
    sim.modify_occurrence(
        alice.email, series, 2, subject="Moved", start=DAY + timedelta(days=1, hours=15)
    )
    single = sim.add_event(alice.email, DAY + timedelta(hours=12), DAY + timedelta(hours=13), "One")

    values = as_app().get(f"/users/{alice.email}/calendarView?{WINDOW}").json()["value"]

    assert [(v["subject"], v["type"]) for v in values] == [
        ("Daily", "occurrence"),
        ("One", "singleInstance"),
        ("Moved", "exception"),
        ("Daily", "occurrence"),
    ]
    assert values[0]["seriesMasterId"] == values[2]["seriesMasterId"]
    assert values[1]["id"].replace("-", "+").replace("_", "/") == single
    assert values[1]["start"] == {"dateTime": "2027-03-01T12:00:00.0000000", "timeZone": "UTC"}


def test_it_pages_by_ten_and_follows_next_links_with_a_skiptoken(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    for hour in range(23):
        start = DAY + timedelta(hours=hour)
        sim.add_event(alice.email, start, start + timedelta(minutes=30), f"E{hour}")
    graph = as_app()

    first = graph.get(f"/users/{alice.email}/calendar/calendarView?{WINDOW}").json()
    second = graph.get(first["@odata.nextLink"]).json()
    third = graph.get(second["@odata.nextLink"]).json()

    assert len(first["value"]) == 10 and len(second["value"]) == 10
    assert len(third["value"]) == 3 and "@odata.nextLink" not in third
    assert "$skiptoken" in parse_qs(urlsplit(first["@odata.nextLink"]).query)
    assert first["@odata.nextLink"].startswith(sim.graph_url)


def test_top_sets_the_page_size_up_to_999(sim: Simulator, new_user: NewUser, as_app: AsApp) -> None:
    alice = new_user("alice")
    for hour in range(12):
        start = DAY + timedelta(hours=hour)
        sim.add_event(alice.email, start, start + timedelta(minutes=30), f"E{hour}")
    graph = as_app()

    page = graph.get(f"/users/{alice.email}/calendarView?{WINDOW}&$top=999").json()

    assert len(page["value"]) == 12 and "@odata.nextLink" not in page
    assert graph.get(f"/users/{alice.email}/calendarView?{WINDOW}&$top=1000").status_code == 400


def test_select_and_preferred_time_zone_shape_the_answer(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    sim.add_event(
        alice.email, DAY + timedelta(hours=9), DAY + timedelta(hours=10), "X", status="OOF"
    )

    [event] = (
        as_app()
        .get(
            f"/users/{alice.email}/calendarView?{WINDOW}&$select=showAs,start,end,isAllDay",
            headers={"Prefer": 'outlook.timezone="Europe/Berlin"'},
        )
        .json()["value"]
    )

    assert set(event) == {"@odata.etag", "id", "showAs", "start", "end", "isAllDay"}
    assert event["showAs"] == "oof"
    assert event["start"] == {
        "dateTime": "2027-03-01T10:00:00.0000000",
        "timeZone": "Europe/Berlin",
    }


def test_items_overlapping_the_window_edges_are_included(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    sim.add_event(alice.email, DAY - timedelta(hours=1), DAY + timedelta(hours=1), "Across")
    sim.add_event(alice.email, DAY - timedelta(hours=2), DAY, "Ends at start")

    values = as_app().get(f"/users/{alice.email}/calendarView?{WINDOW}").json()["value"]

    assert [v["subject"] for v in values] == ["Across"]


def test_a_free_busy_only_caller_is_denied_the_events(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")

    response = as_user(bob).get(f"/users/{alice.email}/calendar/calendarView?{WINDOW}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ErrorAccessDenied"


def test_private_items_hide_their_details_from_a_reviewer(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.set_permission(alice.email, bob.email, "Reviewer")
    sim.add_event(
        alice.email,
        DAY + timedelta(hours=9),
        DAY + timedelta(hours=10),
        "Doctor",
        sensitivity="Private",
        location="Clinic",
    )

    [seen_by_bob] = as_user(bob).get(f"/users/{alice.email}/calendarView?{WINDOW}").json()["value"]
    [seen_by_alice] = as_user(alice).get(f"/me/calendarView?{WINDOW}").json()["value"]

    assert seen_by_bob["subject"] is None and seen_by_bob["location"]["displayName"] == ""
    assert seen_by_bob["sensitivity"] == "private" and seen_by_bob["showAs"] == "busy"
    assert seen_by_alice["subject"] == "Doctor"


def test_get_event_by_id(sim: Simulator, new_user: NewUser, as_app: AsApp) -> None:
    alice = new_user("alice")
    sim.add_event(alice.email, DAY + timedelta(hours=9), DAY + timedelta(hours=10), "One")
    graph = as_app()
    [listed] = graph.get(f"/users/{alice.email}/calendarView?{WINDOW}").json()["value"]

    got = graph.get(f"/users/{alice.email}/events/{listed['id']}")
    missing = graph.get(f"/users/{alice.email}/events/AAMkAGI2TAAA")

    assert got.status_code == 200 and got.json()["subject"] == "One"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ErrorItemNotFound"


def test_an_all_day_event_comes_as_its_dates_in_its_own_zone_whatever_the_answers_zone(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    # Exchange Online dates all-day events rather than timing them: the midnights of the
    # event's own zone's wall clock, under the answer's zone name (UTC, or the Prefer zone),
    # and the event's zone in originalStartTimeZone. Here London's spring-forward Sunday,
    # 23 hours long: 2027-03-28T00:00Z to 2027-03-28T23:00Z as instants.
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    alice = new_user("alice")
    sim.add_event(
        alice.email,
        datetime(2027, 3, 28, tzinfo=london),
        datetime(2027, 3, 29, tzinfo=london),
        "Holiday",
        all_day=True,
        tz="Europe/London",
    )
    window = "startDateTime=2027-03-27T00:00:00Z&endDateTime=2027-03-30T00:00:00Z"
    path = f"/users/{alice.email}/calendarView?{window}"
    graph = as_app()

    (plain,) = graph.get(path).json()["value"]
    (tokyo,) = graph.get(path, headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'}).json()[
        "value"
    ]

    assert plain["isAllDay"] is True
    assert (plain["start"], plain["end"]) == (
        {"dateTime": "2027-03-28T00:00:00.0000000", "timeZone": "UTC"},
        {"dateTime": "2027-03-29T00:00:00.0000000", "timeZone": "UTC"},
    )
    assert (tokyo["start"]["dateTime"], tokyo["start"]["timeZone"]) == (
        "2027-03-28T00:00:00.0000000",
        "Tokyo Standard Time",
    )
    assert plain["originalStartTimeZone"] == plain["originalEndTimeZone"] == "GMT Standard Time"

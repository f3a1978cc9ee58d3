"""Reading busy time over the wire: our lean reader (calendars/backends/ews_busy.py) must
read exactly what exchangelib's own object model reads from the same Exchange answer, and
the Graph backend what exchangelib reads of the same calendar over EWS (the simulator serves
the same mailboxes both ways)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from exchangelib import DELEGATE, Account, FolderCollection
from exchangelib.folders import Calendar, Root
from exchangelib.util import TNS

from calendars.backends.base import BusyInterval, CalendarTarget
from calendars.backends.ews import UTC_TZ, configuration
from calendars.backends.ews_busy import CalendarViewTimes
from calendars.connect import backend_for

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]
# What only the EWS backend has: exchangelib's requests, version cache and transport.
EWS_ONLY = pytest.mark.parametrize("protocol", ["ews"], indirect=True)

LONDON = ZoneInfo("Europe/London")
# The week London moves its clocks forward (Sunday 28 March 2027).
WEEK = datetime(2027, 3, 22, tzinfo=UTC)
END = WEEK + timedelta(days=10)


def fill(world, owner: str, calendar: str | None) -> None:  # type: ignore[no-untyped-def]
    """Every kind of event that shapes busy time, around a DST change."""

    def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = LONDON) -> datetime:
        return datetime.combine(WEEK.date() + timedelta(days=day), time(hour, minute), zone)

    add = world.sim.add_event
    add(owner, at(0, 9), at(0, 10), "Busy one", calendar=calendar, tz="Europe/London")
    add(owner, at(0, 11), at(0, 11, 45), "Maybe", status="Tentative", calendar=calendar)
    add(owner, at(1, 13), at(1, 14), "Lunch", status="Free", calendar=calendar)
    add(owner, at(2, 8), at(2, 17), "Site visit", status="WorkingElsewhere", calendar=calendar)
    kolkata = ZoneInfo("Asia/Kolkata")
    add(
        owner,
        at(3, 0, zone=kolkata),
        at(5, 0, zone=kolkata),
        "Holiday",
        status="OOF",
        all_day=True,
        tz="Asia/Kolkata",
        calendar=calendar,
    )
    add(
        owner,
        at(4, 9),
        at(4, 9, 30),
        "Stand-up",
        tz="Europe/London",
        calendar=calendar,
        # Daily across the change: 09:00 London is 09:00 UTC, then 08:00 UTC.
        recurrence={"pattern": "daily", "count": 6},
    )
    add(owner, at(6, 23), at(7, 1), "Overnight", tz="Europe/London", calendar=calendar)


def ews_account(world, email: str) -> Account:  # type: ignore[no-untyped-def]
    """exchangelib reaching `email`'s mailbox over EWS: as the connection's dedicated mailbox
    on-premises; in a Graph world (no EWS connection to borrow) signed in as `email`."""
    if world.graph:
        return world.outlook(email)
    config = configuration(world.corporate())
    return Account(email, config=config, autodiscover=False, access_type=DELEGATE)


def sub_calendar(world, owner: str) -> tuple[str, CalendarTarget]:  # type: ignore[no-untyped-def]
    """The "Rota" sub-calendar, shared as Reviewer: its EWS folder id, and the backend's
    target (Graph spells the same folder's id its own way)."""
    folder_id = world.sub_calendar(owner, "Rota", "Reviewer")
    return folder_id, CalendarTarget(owner, world.folder_ref(folder_id))


def exchangelib_view(account: Account, folder_id: str) -> list[BusyInterval]:
    """What exchangelib's object model makes of the same CalendarView."""
    folder = Calendar(root=Root(account=account), id=folder_id)
    items = (
        FolderCollection(account=account, folders=[folder])
        .view(start=WEEK.astimezone(UTC_TZ), end=END.astimezone(UTC_TZ))
        .only("start", "end", "legacy_free_busy_status", "is_all_day", "_start_timezone")
    )
    found = []
    for item in items:
        start, end = item.start, item.end
        if item.is_all_day:  # exchangelib hands back dates, the end one inclusive
            zone = ZoneInfo(item._start_timezone.key)
            start = datetime.combine(start, time(0), zone)
            end = datetime.combine(end + timedelta(days=1), time(0), zone)
        found.append(
            BusyInterval(
                start=datetime.fromisoformat(start.isoformat()).astimezone(UTC),
                end=datetime.fromisoformat(end.isoformat()).astimezone(UTC),
                status=item.legacy_free_busy_status,
            )
        )
    return sorted(found, key=lambda b: (b.start, b.end))


def exchangelib_free_busy(account: Account, owner: str) -> list[BusyInterval]:
    """What exchangelib's object model makes of a free/busy answer for the same range."""
    (view,) = account.protocol.get_free_busy_info(
        accounts=[(owner, "Required", False)],
        start=WEEK.astimezone(UTC_TZ),
        end=END.astimezone(UTC_TZ),
        merged_free_busy_interval=30,
        requested_view="FreeBusy",
    )
    return sorted(
        (
            BusyInterval(
                start=datetime.fromisoformat(e.start.isoformat()).astimezone(UTC),
                end=datetime.fromisoformat(e.end.isoformat()).astimezone(UTC),
                status=e.busy_type,
            )
            for e in view.calendar_events or []
        ),
        key=lambda b: (b.start, b.end),
    )


def read(connection, target: CalendarTarget) -> list[BusyInterval]:  # type: ignore[no-untyped-def]
    found = backend_for(connection).busy([target], WEEK, END)[target]
    return sorted(found, key=lambda b: (b.start, b.end))


def test_a_sub_calendar_reads_as_exchangelib_reads_it(world) -> None:
    owner = world.person("olivia")
    folder_id, target = sub_calendar(world, owner.email)
    fill(world, owner.email, "Rota")
    connection = world.corporate()
    ours = read(connection, target)
    assert ours == exchangelib_view(ews_account(world, owner.email), folder_id)
    # 6 one-offs, 6 stand-ups; the Free one is read (the page decides what blocks).
    assert len(ours) == 12
    assert {b.status for b in ours} == {"Busy", "Tentative", "Free", "WorkingElsewhere", "OOF"}
    # The stand-up keeps London's 09:00 across the change.
    standups = [b.start for b in ours if b.end - b.start == timedelta(minutes=30)]
    assert [s.astimezone(LONDON).time() for s in standups] == [time(9)] * 6
    assert {s.utcoffset() for s in standups} == {timedelta(0)}
    assert sorted({s.hour for s in standups}) == [8, 9]


def test_a_primary_calendar_reads_through_free_busy_as_exchangelib_reads_it(world) -> None:
    owner = world.person("olivia")
    world.sim.add_delegate(owner.email, world.corporate().email)
    fill(world, owner.email, None)
    connection = world.corporate()
    ours = read(connection, CalendarTarget(owner.email))
    assert ours == exchangelib_free_busy(ews_account(world, connection.email), owner.email)
    assert len(ours) == 12
    holiday = next(b for b in ours if b.status == "OOF")
    # Two days in Kolkata: 18:30 UTC the evening before, for 48 hours.
    assert holiday.start == datetime(2027, 3, 24, 18, 30, tzinfo=UTC)
    assert holiday.end - holiday.start == timedelta(days=2)


def test_an_empty_calendar_reads_as_free(world) -> None:
    owner = world.person("olivia")
    _, target = sub_calendar(world, owner.email)
    world.sim.add_delegate(owner.email, world.corporate().email)
    connection = world.corporate()
    assert read(connection, CalendarTarget(owner.email)) == []
    assert read(connection, target) == []


def test_an_all_day_event_given_as_utc_midnights_is_still_dated_in_its_own_zone() -> None:
    # Some Exchange versions report an all-day item at the midnights of the request's zone
    # (UTC here) rather than of the item's; exchangelib dates it in the item's zone, so do we.
    item = ElementTree.fromstring(  # noqa: S314 (our own literal)
        f"""<t:CalendarItem xmlns:t="{TNS}">
          <t:Start>2027-03-25T00:00:00Z</t:Start>
          <t:End>2027-03-27T00:00:00Z</t:End>
          <t:LegacyFreeBusyStatus>OOF</t:LegacyFreeBusyStatus>
          <t:IsAllDayEvent>true</t:IsAllDayEvent>
          <t:StartTimeZone Id="India Standard Time"/>
          <t:EndTimeZone Id="India Standard Time"/>
        </t:CalendarItem>"""
    )
    found = CalendarViewTimes._elem_to_obj(None, item)  # type: ignore[arg-type]
    assert found == BusyInterval(
        start=datetime(2027, 3, 24, 18, 30, tzinfo=UTC),
        end=datetime(2027, 3, 26, 18, 30, tzinfo=UTC),
        status="OOF",
    )


@EWS_ONLY
def test_a_new_process_does_not_ask_the_server_its_version_again(world) -> None:
    from calendars.backends import ews

    owner = world.person("olivia")
    world.sim.add_delegate(owner.email, world.corporate().email)
    connection = world.corporate()
    ews._versions_shared.clear()
    ews.forget_connection(connection.pk)
    world.sim.clear_log()
    read(connection, CalendarTarget(owner.email))
    # The first process to reach this server asks its version (exchangelib's ConvertId probe).
    assert [e.operation for e in world.sim.log] == ["ConvertId", "GetUserAvailability"]

    # Another gunicorn or Celery process: no protocol, no configuration, same shared cache.
    ews.forget_connection(connection.pk)
    world.sim.clear_log()
    read(connection, CalendarTarget(owner.email))
    assert [e.operation for e in world.sim.log] == ["GetUserAvailability"]


@EWS_ONLY
def test_exchangelib_reads_each_answer_in_large_chunks_not_byte_by_byte(world) -> None:
    # exchangelib parses answers through response.iter_content() with requests' default
    # chunk size of one byte: a Python loop per byte. Our transport hands it 64 KiB chunks.
    import requests

    from calendars.backends.ews import TlsAdapter

    session = requests.Session()
    session.mount("http://", TlsAdapter())
    connection = world.corporate()
    response = session.post(
        world.sim.ews_url,
        data=b"<not-soap/>",
        auth=(connection.email, connection.password),
        stream=True,
    )
    chunks = list(response.iter_content())
    body = b"".join(chunks)
    assert len(body) > 100  # a SOAP fault explaining the bad request
    assert len(chunks) <= 1 + len(body) // (64 * 1024)


@EWS_ONLY
def test_a_long_range_is_read_in_windows_and_an_event_across_their_edge_once(
    world, settings
) -> None:
    settings.EXCHANGE_FREE_BUSY_MAX_DAYS = 3
    owner = world.person("olivia")
    world.sim.add_delegate(owner.email, world.corporate().email)
    edge = WEEK + timedelta(days=3)
    world.sim.add_event(owner.email, edge - timedelta(hours=1), edge + timedelta(hours=1), "Late")
    world.sim.add_event(owner.email, WEEK + timedelta(days=8, hours=9), END, "Later")
    world.sim.clear_log()
    found = read(world.corporate(), CalendarTarget(owner.email))
    assert [(b.start, b.end) for b in found] == [
        (edge - timedelta(hours=1), edge + timedelta(hours=1)),
        (WEEK + timedelta(days=8, hours=9), END),
    ]
    # 10 days in windows of 3: four requests, sent together (besides the version probe).
    operations = [e.operation for e in world.sim.log if e.operation != "ConvertId"]
    assert operations == ["GetUserAvailability"] * 4


@EWS_ONLY
def test_more_than_a_hundred_mailboxes_are_read_in_batches_of_a_hundred(world) -> None:
    # GetUserAvailability takes at most 100 mailboxes (ErrorMailboxDataArrayTooBig beyond):
    # a 130-member team is two requests, sent together, and every member's time comes back.
    people = [world.person(f"m{i}") for i in range(130)]
    start = WEEK + timedelta(hours=9)
    for i, person in enumerate(people):
        world.sim.add_event(
            person.email, start + timedelta(minutes=i), start + timedelta(hours=1), "x"
        )
    targets = [CalendarTarget(p.email) for p in people]
    world.sim.clear_log()
    found = backend_for(world.corporate()).busy(targets, WEEK, END)
    assert [found[t][0].start for t in targets] == [
        start + timedelta(minutes=i) for i in range(130)
    ]
    operations = [e.operation for e in world.sim.log if e.operation != "ConvertId"]
    assert operations == ["GetUserAvailability"] * 2


def test_over_graph_a_long_range_is_read_in_windows_and_an_event_across_their_edge_once(
    world,
) -> None:
    if not world.graph:
        pytest.skip("over EWS: the test above")
    # getSchedule answers windows under 62 days: 130 days is three, one edge at day 61.
    owner = world.person("olivia")
    world.sim.add_delegate(owner.email, world.corporate().email)
    end = WEEK + timedelta(days=130)
    edge = WEEK + timedelta(days=61)
    world.sim.add_event(owner.email, edge - timedelta(hours=1), edge + timedelta(hours=1), "Late")
    world.sim.add_event(owner.email, end - timedelta(hours=2), end, "Later")
    world.sim.clear_log()
    target = CalendarTarget(owner.email)
    found = backend_for(world.corporate()).busy([target], WEEK, end)[target]
    assert [(b.start, b.end) for b in found] == [
        (edge - timedelta(hours=1), edge + timedelta(hours=1)),
        (end - timedelta(hours=2), end),
    ]
    assert [e.operation for e in world.sim.log] == ["graph:getSchedule"] * 3


def test_an_event_that_only_touches_the_start_of_the_range_blocks_nothing(world) -> None:
    # Exchange's CalendarView includes items ending exactly at its StartDate.
    owner = world.person("olivia")
    _, target = sub_calendar(world, owner.email)
    world.sim.add_event(owner.email, WEEK - timedelta(hours=1), WEEK, "Before", calendar="Rota")
    world.sim.add_event(owner.email, WEEK, WEEK + timedelta(hours=1), "First", calendar="Rota")
    connection = world.corporate()
    found = read(connection, target)
    assert [(b.start, b.end) for b in found] == [(WEEK, WEEK + timedelta(hours=1))]


@EWS_ONLY
def test_a_sub_calendar_with_more_entries_than_exchange_lists_at_once_is_read_in_parts(
    world,
) -> None:
    owner = world.person("olivia")
    folder_id, target = sub_calendar(world, owner.email)
    fill(world, owner.email, "Rota")
    # Exchange refuses a whole view above its find-count limit (1,000 by default).
    world.sim.find_count_limit = 5
    connection = world.corporate()
    world.sim.clear_log()
    try:
        ours = read(connection, target)
    finally:
        world.sim.find_count_limit = 1000
    assert ours == exchangelib_view(ews_account(world, owner.email), folder_id)
    assert len(ours) == 12
    outcomes = [e.outcome for e in world.sim.log if e.operation == "FindItem"]
    assert "ErrorExceededFindCountLimit" in outcomes and outcomes[-1] == "NoError"


def test_over_graph_a_sub_calendar_with_more_events_than_a_page_is_read_in_pages(world) -> None:
    if not world.graph:
        pytest.skip("over EWS: the test above")
    # calendarView answers at most 999 events a page ($top); the rest follow nextLinks.
    owner = world.person("olivia")
    _, target = sub_calendar(world, owner.email)
    starts = [WEEK + timedelta(minutes=10 * i) for i in range(1001)]
    for start in starts:
        world.sim.add_event(owner.email, start, start + timedelta(minutes=5), "E", calendar="Rota")
    world.sim.clear_log()
    ours = read(world.corporate(), target)
    assert [b.start for b in ours] == starts
    assert [e.operation for e in world.sim.log] == ["graph:calendarCalendarView"] * 2


@EWS_ONLY
def test_our_free_busy_request_is_byte_for_byte_the_one_exchangelib_builds(world) -> None:
    from exchangelib.properties import FreeBusyViewOptions, MailboxData, TimeWindow
    from exchangelib.services import GetUserAvailability
    from lxml import etree

    from calendars.backends.ews import _UTC_AVAILABILITY_ZONE
    from calendars.backends.ews_busy import FreeBusyTimes

    connection = world.corporate()
    account = Account(connection.email, config=configuration(connection), autodiscover=False)

    def arguments() -> dict:
        return {
            "mailbox_data": [
                MailboxData(email=f"p{i}@contoso.example", attendee_type="Required")
                for i in range(3)
            ],
            "timezone": _UTC_AVAILABILITY_ZONE,
            "free_busy_view_options": FreeBusyViewOptions(
                time_window=TimeWindow(start=WEEK.astimezone(UTC_TZ), end=END.astimezone(UTC_TZ)),
                merged_free_busy_interval=30,
                requested_view="FreeBusy",
            ),
        }

    theirs = GetUserAvailability(account.protocol).get_payload(**arguments())
    ours = FreeBusyTimes(account.protocol).get_payload(**arguments())
    assert etree.tostring(ours) == etree.tostring(theirs)


@pytest.mark.parametrize("protocol", ["ews"], indirect=True)
def test_our_calendar_view_request_is_byte_for_byte_the_one_exchangelib_builds(world) -> None:
    from exchangelib.folders import SHALLOW
    from exchangelib.items import ID_ONLY
    from exchangelib.properties import CalendarView
    from exchangelib.services import FindItem
    from lxml import etree

    from calendars.backends.ews import _calendar
    from calendars.backends.ews_busy import CalendarViewTimes, _field_paths

    owner = world.person("vera").email
    connection = world.corporate()
    account = Account(owner, config=configuration(connection), autodiscover=False)
    folder_id = world.sub_calendar(owner, "Rota", "Reviewer")

    def arguments(folder_id: str) -> dict:
        return {
            "folders": [_calendar(account, folder_id)],
            "additional_fields": _field_paths(),
            "restriction": None,
            "order_fields": None,
            "query_string": None,
            "shape": ID_ONLY,
            "depth": SHALLOW,
            "calendar_view": CalendarView(
                start=WEEK.astimezone(UTC_TZ), end=END.astimezone(UTC_TZ)
            ),
            "page_size": None,
        }

    for folder in (folder_id, ""):  # a sub-calendar by id, the primary by its distinguished id
        theirs = FindItem(account=account).get_payload(**arguments(folder))
        ours = CalendarViewTimes(account=account).get_payload(**arguments(folder))
        assert etree.tostring(ours) == etree.tostring(theirs)
        # Twice: the second copy comes from the kept template.
        again = CalendarViewTimes(account=account).get_payload(**arguments(folder))
        assert etree.tostring(again) == etree.tostring(theirs)

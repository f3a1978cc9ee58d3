"""SyncFolderItems through exchangelib: first sync, changes since a state, paging, Ignore,
invalid states and permissions."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorAccessDenied, ErrorInvalidSyncStateData
from exchangelib.folders import Calendar, Root
from exchangelib.properties import DistinguishedFolderId, ItemId, Mailbox

# The app's repair makes exchangelib raise a SyncFolderItems error answer as its own
# exception (calendars.backends.ews._sync_element_container); import it like the app does.
import calendars.backends.ews  # noqa: F401

LONDON = ZoneInfo("Europe/London")
TZ = EWSTimeZone("Europe/London")
MONDAY = datetime(2025, 6, 2, 9, 0, tzinfo=LONDON)


def _sync(folder, state=None, **kwargs):
    """[(change type, item id)] and the new state, the way the app reads changes: ids only."""
    kwargs.setdefault("only_fields", ["id", "changekey"])
    changes = [
        (kind, item.id if hasattr(item, "id") else item[0].id)
        for kind, item in folder.sync_items(sync_state=state, **kwargs)
    ]
    return changes, folder.item_sync_state


def _add(sim, owner, hour, subject="Meeting", **kwargs):
    start = MONDAY + timedelta(hours=hour)
    return sim.add_event(owner, start, start + timedelta(minutes=30), subject, **kwargs)


def _ops(sim):
    return [e.operation for e in sim.log]


def test_the_first_sync_lists_every_item_once_and_a_series_as_its_master(sim, new_user, login):
    alice = new_user("alice")
    single = _add(sim, alice.email, 0)
    series = _add(
        sim,
        alice.email,
        2,
        "Stand-up",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 10},
    )
    calendar = login(alice).calendar
    changes, state = _sync(calendar)
    assert sorted(changes) == sorted([("create", single), ("create", series)])
    assert state and base64.b64decode(state)[:2] == b"\x1f\x8b"  # gzip, like Exchange's "H4sI"
    assert _ops(sim)[-1] == "SyncFolderItems"


def test_a_sync_from_a_state_reports_only_what_changed_since(sim, new_user, login):
    alice = new_user("alice")
    kept, moved, deleted = (_add(sim, alice.email, h) for h in (0, 1, 2))
    calendar = login(alice).calendar
    _, state = _sync(calendar)

    sim.move_event(alice.email, moved, MONDAY + timedelta(hours=5), MONDAY + timedelta(hours=6))
    account = calendar.account
    (gone,) = account.fetch(ids=[(deleted, None)])
    gone.delete()  # HardDelete
    created = CalendarItem(
        account=account,
        folder=calendar,
        subject="New",
        start=EWSDateTime.from_datetime(MONDAY + timedelta(days=1)),
        end=EWSDateTime.from_datetime(MONDAY + timedelta(days=1, hours=1)),
    )
    created.save()

    changes, new_state = _sync(calendar, state)
    assert sorted(changes) == sorted(
        [("update", moved), ("delete", deleted), ("create", created.id)]
    )
    assert kept not in {item_id for _, item_id in changes}
    assert new_state != state


def test_a_sync_with_nothing_new_reports_nothing_and_keeps_the_state(sim, new_user, login):
    alice = new_user("alice")
    _add(sim, alice.email, 0)
    calendar = login(alice).calendar
    _, state = _sync(calendar)
    sim.clear_log()
    changes, again = _sync(calendar, state)
    assert changes == []
    assert again == state
    assert _ops(sim) == ["SyncFolderItems"]


def test_changes_come_in_pages_of_max_changes_returned(sim, new_user, login):
    alice = new_user("alice")
    ids = {_add(sim, alice.email, h) for h in range(5)}
    calendar = login(alice).calendar
    sim.clear_log()
    changes, state = _sync(calendar, max_changes_returned=2)
    # exchangelib asks again while IncludesLastItemInRange is false: 2 + 2 + 1.
    assert _ops(sim) == ["SyncFolderItems"] * 3
    assert sorted(item_id for _, item_id in changes) == sorted(ids)
    assert _sync(calendar, state)[0] == []


def test_it_refuses_more_than_512_changes_per_call(sim, new_user, login):
    alice = new_user("alice")
    calendar = login(alice).calendar
    with pytest.raises(Exception, match="MaxChangesReturned"):
        _sync(calendar, max_changes_returned=513)
    assert sim.log[-1].outcome == "ErrorSchemaValidation"


def test_ignored_items_are_not_reported(sim, new_user, login):
    alice = new_user("alice")
    mine, theirs = _add(sim, alice.email, 0), _add(sim, alice.email, 1)
    calendar = login(alice).calendar
    _, state = _sync(calendar)
    sim.move_event(alice.email, mine, MONDAY + timedelta(hours=3), MONDAY + timedelta(hours=4))
    sim.move_event(alice.email, theirs, MONDAY + timedelta(hours=5), MONDAY + timedelta(hours=6))
    changes, state = _sync(calendar, state, ignore=[ItemId(id=mine)])
    assert changes == [("update", theirs)]
    assert _sync(calendar, state)[0] == []  # and not reported later either


@pytest.mark.parametrize("state", ["not base64!", base64.b64encode(b"garbage").decode()])
def test_a_corrupt_sync_state_is_refused_with_error_invalid_sync_state_data(
    sim, new_user, login, state
):
    alice = new_user("alice")
    calendar = login(alice).calendar
    with pytest.raises(ErrorInvalidSyncStateData):
        _sync(calendar, state)
    assert sim.log[-1].outcome == "ErrorInvalidSyncStateData"


def test_a_sync_state_of_another_folder_is_refused(sim, new_user, login):
    alice = new_user("alice")
    sim.add_calendar(alice.email, "Bookings")
    account = login(alice)
    _, state = _sync(account.calendar)
    (sub_calendar,) = account.calendar.children
    with pytest.raises(ErrorInvalidSyncStateData):
        _sync(sub_calendar, state)


def test_full_shapes_carry_the_item_properties(sim, new_user, login):
    alice = new_user("alice")
    item_id = _add(sim, alice.email, 0, "Planning")
    calendar = login(alice).calendar
    ((kind, item),) = list(calendar.sync_items(only_fields=["subject", "start", "end"]))
    assert (kind, item.id, item.subject) == ("create", item_id, "Planning")
    assert item.start == EWSDateTime.from_datetime(MONDAY).astimezone(TZ)


def test_a_free_busy_only_colleague_may_not_sync_the_calendar(sim, new_user, login):
    owner, app = new_user("owner"), new_user("svc")
    account = login(app, owner)  # Default: FreeBusyTimeOnly
    calendar = Calendar(
        root=Root(account=account),
        _distinguished_id=DistinguishedFolderId(
            id="calendar", mailbox=Mailbox(email_address=owner.email)
        ),
    )
    with pytest.raises(ErrorAccessDenied):
        _sync(calendar)


def test_a_delegate_syncs_the_owners_calendar(sim, new_user, login):
    owner, app = new_user("owner"), new_user("svc")
    sim.add_delegate(owner.email, app.email)
    item_id = _add(sim, owner.email, 0)
    calendar = login(app, owner).calendar
    changes, _ = _sync(calendar)
    assert changes == [("create", item_id)]


def test_a_sync_with_every_property_answers_schema_valid_xml(sim, new_user, login):
    """The schema check (conftest) runs after every test; this one fills Changes with items
    carrying everything exchangelib asks for by default: a series, attendees, all-day."""
    alice = new_user("alice")
    _add(
        sim,
        alice.email,
        0,
        "Series",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday", "Thursday"], "count": 4},
        attendees=["bob@contoso.example"],
        extended_properties={"BookingUid": "b-1"},
    )
    sim.add_event(alice.email, MONDAY, MONDAY + timedelta(days=1), "Leave", all_day=True)
    calendar = login(alice).calendar
    changes = list(calendar.sync_items())  # only_fields=None: every field
    assert sorted(item.subject for _, item in changes) == ["Leave", "Series"]
    assert {item.type for _, item in changes} == {"RecurringMaster", "Single"}
    with pytest.raises(ErrorInvalidSyncStateData):
        list(calendar.sync_items(sync_state="H4sI-broken"))
    assert sim.schema_errors == []

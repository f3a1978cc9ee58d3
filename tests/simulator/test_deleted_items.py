"""DeleteItem's DeleteType and the Deleted Items folder, seen through exchangelib."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorAccessDenied, ErrorItemNotFound
from exchangelib.folders import DeletedItems, Root
from exchangelib.items import HARD_DELETE, MOVE_TO_DELETED_ITEMS, SOFT_DELETE
from exchangelib.properties import DistinguishedFolderId, Mailbox

LONDON = ZoneInfo("Europe/London")
TZ = EWSTimeZone("Europe/London")
MONDAY = datetime(2025, 6, 2, 9, 0, tzinfo=LONDON)


def _event(sim, owner, subject="Interview"):
    return sim.add_event(
        owner, MONDAY, MONDAY + timedelta(hours=1), subject, attendees=["x@y.example"]
    )


def _view(account):
    start = EWSDateTime.from_datetime(MONDAY - timedelta(days=1))
    return list(account.calendar.view(start, start + timedelta(days=3)).only("subject"))


def _deleted_items(account):
    """What is in Deleted Items, as SyncFolderItems lists it (the simulator's FindItem only
    reads calendars): a first sync, from no state, lists every item as created."""
    trash = account.trash
    trash.item_sync_state = None  # exchangelib would carry on from its last state
    return [item for _, item in trash.sync_items(only_fields=["subject", "start"])]


def _fetch(account, item_id):
    (item,) = account.fetch(ids=[(item_id, None)], only_fields=["subject"])
    return item


def test_move_to_deleted_items_moves_the_event_under_a_new_id(sim, new_user, login):
    alice = new_user("alice")
    item_id = _event(sim, alice.email)
    account = login(alice)
    account.bulk_delete(ids=[(item_id, None)], delete_type=MOVE_TO_DELETED_ITEMS)
    assert _view(account) == []
    # Since Exchange 2010 an id names the item in its folder: the old one is not found...
    assert isinstance(_fetch(account, item_id), ErrorItemNotFound)
    # ...and the event is in Deleted Items, with its subject, under a new id.
    (moved,) = _deleted_items(account)
    assert moved.subject == "Interview" and moved.id != item_id
    assert moved.start == EWSDateTime.from_datetime(MONDAY).astimezone(TZ)
    (fetched,) = account.fetch(ids=[(moved.id, None)], only_fields=["parent_folder_id"])
    assert fetched.parent_folder_id.id == account.trash.id


def test_a_moved_event_no_longer_blocks_free_busy(sim, new_user, login):
    alice = new_user("alice")
    item_id = _event(sim, alice.email)
    account = login(alice)
    account.bulk_delete(ids=[(item_id, None)], delete_type=MOVE_TO_DELETED_ITEMS)
    start = EWSDateTime.from_datetime(MONDAY - timedelta(days=1))
    (view,) = account.protocol.get_free_busy_info(
        [(alice.email, "Required", False)], start, start + timedelta(days=3)
    )
    assert not view.calendar_events


@pytest.mark.parametrize("delete_type", [HARD_DELETE, SOFT_DELETE])
def test_hard_and_soft_deletes_leave_nothing_in_deleted_items(sim, new_user, login, delete_type):
    alice = new_user("alice")
    item_id = _event(sim, alice.email)
    account = login(alice)
    account.bulk_delete(ids=[(item_id, None)], delete_type=delete_type)
    assert _view(account) == []
    assert isinstance(_fetch(account, item_id), ErrorItemNotFound)
    assert _deleted_items(account) == []


def test_deleting_from_deleted_items_removes_the_item(sim, new_user, login):
    alice = new_user("alice")
    item_id = _event(sim, alice.email)
    account = login(alice)
    account.bulk_delete(ids=[(item_id, None)], delete_type=MOVE_TO_DELETED_ITEMS)
    (moved,) = _deleted_items(account)
    account.bulk_delete(ids=[(moved.id, None)], delete_type=MOVE_TO_DELETED_ITEMS)
    assert _deleted_items(account) == []


def test_every_delete_type_sends_the_cancellation_asked_for(sim, new_user, login):
    alice = new_user("alice")
    item_id = _event(sim, alice.email)
    account = login(alice)
    account.bulk_delete(
        ids=[(item_id, None)],
        delete_type=MOVE_TO_DELETED_ITEMS,
        send_meeting_cancellations="SendToAllAndSaveCopy",
    )
    assert [(m.kind, m.item_id) for m in sim.sent if m.sender == alice.email] == [
        ("cancellation", item_id)
    ]


def test_a_delegate_deletes_into_the_owners_deleted_items(sim, new_user, login):
    owner, app = new_user("owner"), new_user("svc")
    sim.add_delegate(owner.email, app.email)
    item_id = _event(sim, owner.email)
    login(app, owner).bulk_delete(ids=[(item_id, None)], delete_type=MOVE_TO_DELETED_ITEMS)
    (moved,) = _deleted_items(login(owner))
    assert moved.subject == "Interview"


def test_deleted_items_is_a_mail_folder_the_delegate_cannot_open(sim, new_user, login):
    owner, app = new_user("owner"), new_user("svc")
    sim.add_delegate(owner.email, app.email)
    trash = login(owner).trash
    assert (trash.name, trash.folder_class) == ("Deleted Items", "IPF.Note")
    account = login(app, owner)
    folder = DeletedItems(
        root=Root(account=account),
        _distinguished_id=DistinguishedFolderId(
            id="deleteditems", mailbox=Mailbox(email_address=owner.email)
        ),
    )
    with pytest.raises(ErrorAccessDenied):
        DeletedItems.resolve(account=account, folder=folder)
    # Discovery lists calendars only: Deleted Items is no calendar.
    assert [f.name for f in login(owner).calendar.children] == []


def test_the_calendar_sync_reports_a_moved_event_as_deleted(sim, new_user, login):
    alice = new_user("alice")
    item_id = _event(sim, alice.email)
    account = login(alice)
    list(account.calendar.sync_items(only_fields=["id"]))
    state = account.calendar.item_sync_state
    account.bulk_delete(ids=[(item_id, None)], delete_type=MOVE_TO_DELETED_ITEMS)
    changes = [
        (k, i.id) for k, i in account.calendar.sync_items(sync_state=state, only_fields=["id"])
    ]
    assert changes == [("delete", item_id)]

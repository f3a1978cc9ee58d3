"""Two-way sync from Exchange's change tracking: sync back reads what changed in each main
calendar since its last run (SyncFolderItems; over Graph calendarView/delta), and looks only
at those booked events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from bookings import actions, syncback, writes
from bookings.models import Booking, WriteState
from calendars.backends.base import CalendarTarget, SyncStateLost
from calendars.connect import backend_for
from calendars.models import FolderSyncState
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

CUSTOMER = actions.CustomerDetails("Ann Customer", "ann@example.com", "Europe/Paris")


def booked(world, hour=10, owner=None, **page_kwargs):  # type: ignore[no-untyped-def]
    owner = owner or world.staff("olivia")
    page = world.page(owner, **page_kwargs)
    booking = actions.book(page, monday_after().replace(hour=hour), CUSTOMER)
    for write in booking.writes.all():
        writes.perform(write.pk)
    main = booking.writes.get(role="main")
    assert main.state == WriteState.DONE
    return owner, booking, main


def operations(world) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.operation for e in world.sim.log if e.operation != "ConvertId"]


def track(world) -> str:  # type: ignore[no-untyped-def]
    """The call that lists a primary calendar's changes."""
    return "graph:primaryCalendarViewDelta" if world.graph else "SyncFolderItems"


def read(world) -> str:  # type: ignore[no-untyped-def]
    """The call that reads booked events (one GetItem for all; over Graph one GET each)."""
    return "graph:getEvent" if world.graph else "GetItem"


def test_the_first_run_reads_every_booked_event_and_starts_a_sync_state(world) -> None:
    _, _, main = booked(world)
    world.sim.clear_log()
    result = syncback.sync_back()
    assert result.errors == [] and result.cancelled == [] and result.moved == []
    assert read(world) in operations(world) and track(world) in operations(world)
    saved = FolderSyncState.objects.get(owner_email=main.owner_email)
    assert saved.folder_id == main.folder_id and saved.state


def test_when_nothing_changed_sync_back_asks_exchange_once_and_reads_no_event(world) -> None:
    booked(world)
    syncback.sync_back()
    world.sim.clear_log()
    result = syncback.sync_back()
    assert result.errors == []
    # No GetItem for the events, no busy-time read for conflicts: one SyncFolderItems.
    assert operations(world) == [track(world)]


def test_an_event_the_owner_deleted_in_outlook_cancels_the_booking(
    world, eager_writes, django_capture_on_commit_callbacks
) -> None:
    owner, booking, main = booked(world)
    syncback.sync_back()  # the state from before the owner's change
    moved_id = world.sim.delete_event(owner.email, world.in_store(main.item_id))  # to Deleted
    assert [i.id for i in world.sim.deleted_items(owner.email)] == [moved_id]
    with django_capture_on_commit_callbacks(execute=True):
        result = syncback.sync_back()
    assert result.cancelled == [str(booking.pk)]
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.cancelled_by == "exchange"
    assert any(m.to == ["ann@example.com"] and "cancel" in m.subject.lower() for m in mail.outbox)


def test_an_event_deleted_for_good_in_outlook_cancels_the_booking(world) -> None:
    owner, booking, main = booked(world)
    syncback.sync_back()
    world.sim.delete_event(owner.email, world.in_store(main.item_id), hard=True)
    assert syncback.sync_back().cancelled == [str(booking.pk)]


def test_an_event_moved_in_outlook_moves_the_booking_and_only_that_one_is_read(world) -> None:
    owner, booking, main = booked(world, hour=10)
    page = booking.page
    other = actions.book(page, monday_after().replace(hour=13), CUSTOMER)
    for write in other.writes.all():
        writes.perform(write.pk)
    syncback.sync_back()
    new_start = monday_after().replace(hour=15)
    world.sim.move_event(
        owner.email, world.in_store(main.item_id), new_start, new_start + timedelta(minutes=30)
    )
    world.sim.clear_log()

    result = syncback.sync_back()

    assert result.moved == [str(booking.pk)]
    booking.refresh_from_db()
    assert booking.start == new_start
    other.refresh_from_db()
    assert other.start == monday_after().replace(hour=13)
    (get_item,) = [e for e in world.sim.log if e.operation == read(world)]
    assert get_item.outcome == "NoError"
    # A second run: the booking's own update is the only change, and it matches.
    assert syncback.sync_back().moved == []


def test_a_lost_sync_state_falls_back_to_reading_every_event_and_still_finds_the_change(
    world,
) -> None:
    owner, booking, main = booked(world)
    syncback.sync_back()
    if world.graph:
        # A deltaLink whose token Graph no longer knows (expired): 410 SyncStateNotFound.
        link = FolderSyncState.objects.get().state
        FolderSyncState.objects.update(state=link.split("$deltatoken=")[0] + "$deltatoken=gone")
        refused = (track(world), "SyncStateNotFound")
    else:
        FolderSyncState.objects.update(state="H4sIAAAAAAAAA-not-a-state")
        refused = ("SyncFolderItems", "ErrorInvalidSyncStateData")
    new_start = monday_after().replace(hour=14)
    world.sim.move_event(
        owner.email, world.in_store(main.item_id), new_start, new_start + timedelta(minutes=30)
    )
    world.sim.clear_log()

    result = syncback.sync_back()

    assert result.moved == [str(booking.pk)] and result.errors == []
    outcomes = [(e.operation, e.outcome) for e in world.sim.log]
    assert refused in outcomes
    # A new state was started and works: the next run reads nothing.
    world.sim.clear_log()
    syncback.sync_back()
    assert operations(world) == [track(world)]


def test_a_conflicting_meeting_added_after_the_last_run_is_flagged(world) -> None:
    owner, booking, _ = booked(world)
    syncback.sync_back()
    world.sim.add_event(
        owner.email,
        booking.start - timedelta(minutes=15),
        booking.start + timedelta(minutes=15),
        "Board meeting",
    )
    result = syncback.sync_back()
    assert result.conflicts == [str(booking.pk)]
    booking.refresh_from_db()
    assert booking.status == "confirmed" and "overlaps" in booking.conflict


def test_a_run_that_fails_keeps_the_old_state_so_the_change_is_seen_next_time(world) -> None:
    owner, booking, main = booked(world)
    syncback.sync_back()
    before = FolderSyncState.objects.get().state
    new_start = monday_after().replace(hour=16)
    world.sim.move_event(
        owner.email, world.in_store(main.item_id), new_start, new_start + timedelta(minutes=30)
    )
    world.sim.go_down()
    assert syncback.sync_back().errors
    assert FolderSyncState.objects.get().state == before
    world.sim.come_up()
    assert syncback.sync_back().moved == [str(booking.pk)]


def test_an_event_found_outside_its_calendar_counts_as_gone(world) -> None:
    """Exchange gives a moved item a new id; should the old id still resolve (ids that
    survive moves), an event no longer in the calendar it was written to is gone all the
    same."""
    owner, _, main = booked(world)
    world.sub_calendar(owner.email, "Private")
    store = world.sim.store
    with store.lock:
        folder, item = store.find_item(world.in_store(main.item_id))
        (private,) = [f for f in store.calendars(owner.email) if f.name == "Private"]
        del folder.items[item.id]
        item.folder_id = private.id
        private.items[item.id] = item  # moved, keeping its id
    target = CalendarTarget(owner_email=main.owner_email, folder_id=main.folder_id)
    assert backend_for(world.corporate()).event_times(target, [main.item_id]) == {
        main.item_id: None
    }


def test_the_apps_cancellation_leaves_the_event_in_the_owners_deleted_items(
    world, eager_writes, django_capture_on_commit_callbacks
) -> None:
    owner, booking, main = booked(world)
    with django_capture_on_commit_callbacks(execute=True):
        actions.cancel(booking, by="customer")
    main.refresh_from_db()
    assert main.state == WriteState.DONE
    assert world.sim.events(owner.email) == []
    (kept,) = world.sim.deleted_items(owner.email)
    assert kept.start == booking.start
    outcomes = [(e.operation, e.outcome) for e in world.sim.log]
    assert ("graph:deleteEvent" if world.graph else "DeleteItem", "NoError") in outcomes
    assert Booking.objects.get(pk=booking.pk).status == "cancelled"


def test_the_backend_tracks_a_primary_calendar_named_only_by_its_owner(world) -> None:
    owner, booking, main = booked(world)
    backend = backend_for(world.corporate())
    target = CalendarTarget(owner_email=owner.email, folder_id="")  # the distinguished id
    assert backend.event_times(target, [main.item_id]) == {
        main.item_id: (booking.start, booking.end)
    }
    first = backend.changes(target, "")
    assert first.changed_ids == {main.item_id} and first.deleted_ids == frozenset()
    assert not backend.changes(target, first.state).any
    moved_id = world.sim.delete_event(owner.email, world.in_store(main.item_id))
    after = backend.changes(target, first.state)
    # Over Graph the immutable id stays the item's in Deleted Items: the change list still
    # names it as removed from the calendar, never as changed.
    assert after.deleted_ids == {main.item_id} and moved_id not in after.changed_ids
    assert main.item_id not in after.changed_ids
    assert backend.event_times(target, [main.item_id]) == {main.item_id: None}
    with pytest.raises(SyncStateLost):
        backend.changes(target, "bm90IGEgc3RhdGU=")

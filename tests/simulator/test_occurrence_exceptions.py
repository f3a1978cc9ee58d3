"""Modified and deleted occurrences of recurring series (exceptions), recurring masters and
private items, through exchangelib over the wire.

What Exchange does is taken from exchangelib's own tests against live servers
(tests/test_items/test_calendaritems.py: test_recurring_item, test_change_occurrence,
test_change_occurrence_via_index, test_delete_occurrence_via_index).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import (
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorOccurrenceCrossingBoundary,
)
from exchangelib.items import CalendarItem

LONDON = ZoneInfo("Europe/London")
TZ = EWSTimeZone("Europe/London")


def ews(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> EWSDateTime:
    return EWSDateTime(year, month, day, hour, minute, tzinfo=TZ)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def standup(sim, owner, *, first=datetime(2027, 1, 4, 9, tzinfo=LONDON), count=4, **kwargs):
    """A weekly Monday 09:00-09:30 London series; returns the master's id."""
    return sim.add_event(
        owner.email,
        first,
        first + timedelta(minutes=30),
        "Stand-up",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": count},
        **kwargs,
    )


def master_of(account, item_id: str) -> CalendarItem:
    (master,) = account.fetch(ids=[(item_id, None)])
    return master


def view(account, start, end, *fields):
    only = fields or ("start", "end", "subject", "type", "is_recurring", "original_start")
    return list(account.calendar.view(start, end).only(*only))


def free_busy(account, email, start, end):
    (fb,) = account.protocol.get_free_busy_info(
        [(email, "Required", False)], start, end, requested_view="Detailed"
    )
    return fb.calendar_events


def test_it_moves_one_occurrence_by_its_index_and_shows_it_at_the_new_time(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    master = master_of(account, standup(sim, alice))
    before = view(account, ews(2027, 1, 1), ews(2027, 2, 1))

    second = master.occurrence(index=2)
    second.start, second.end = ews(2027, 1, 11, 11), ews(2027, 1, 11, 11, 45)
    second.save(update_fields=["start", "end"])

    after = view(account, ews(2027, 1, 1), ews(2027, 2, 1))
    assert [(i.start.astimezone(TZ).day, i.start.astimezone(TZ).hour) for i in after] == [
        (4, 9),
        (11, 11),
        (18, 9),
        (25, 9),
    ]
    assert [i.type for i in after] == ["Occurrence", "Exception", "Occurrence", "Occurrence"]
    assert all(i.is_recurring for i in after)
    moved = after[1]
    assert moved.end - moved.start == timedelta(minutes=45)
    assert moved.original_start == ews(2027, 1, 11, 9)
    # An exception keeps its occurrence's id, and UpdateItem answers with it.
    assert moved.id == before[1].id == second.id


def test_a_recurring_master_is_not_recurring_and_lists_its_occurrences(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    master = master_of(account, standup(sim, alice))
    assert (master.type, master.is_recurring) == ("RecurringMaster", False)
    assert master.first_occurrence.start == ews(2027, 1, 4, 9)
    assert master.last_occurrence.start == ews(2027, 1, 25, 9)
    assert master.modified_occurrences is None and master.deleted_occurrences is None
    occurrences = view(account, ews(2027, 1, 1), ews(2027, 2, 1))
    assert master.first_occurrence.id == occurrences[0].id
    assert master.last_occurrence.id == occurrences[-1].id

    # Changed through the view's occurrences, as Outlook's clients do.
    occurrences[1].start += timedelta(hours=2)
    occurrences[1].end += timedelta(hours=2)
    occurrences[1].save(update_fields=["start", "end"])
    occurrences[2].delete()
    master.refresh()

    (modified,) = master.modified_occurrences
    assert (modified.id, modified.start, modified.original_start) == (
        occurrences[1].id,
        ews(2027, 1, 11, 11),
        ews(2027, 1, 11, 9),
    )
    (deleted,) = master.deleted_occurrences
    assert deleted.start == ews(2027, 1, 18, 9)
    assert master.is_recurring is False


def test_first_and_last_occurrence_skip_deleted_ones_and_show_exceptions_where_they_are(
    sim, new_user, login
):
    alice = new_user("alice")
    account = login(alice)
    item_id = standup(sim, alice)
    sim.delete_occurrence(alice.email, item_id, 1)
    sim.modify_occurrence(alice.email, item_id, 4, start=datetime(2027, 1, 25, 15, tzinfo=LONDON))

    master = master_of(account, item_id)
    assert master.first_occurrence.start == ews(2027, 1, 11, 9)
    assert master.last_occurrence.start == ews(2027, 1, 25, 15)
    assert master.last_occurrence.original_start == ews(2027, 1, 25, 9)


def test_a_series_without_an_end_has_no_last_occurrence(sim, new_user, login):
    alice = new_user("alice")
    first = datetime(2027, 1, 4, 9, tzinfo=LONDON)
    item_id = sim.add_event(
        alice.email,
        first,
        first + timedelta(minutes=30),
        "Forever",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"]},
    )
    master = master_of(login(alice), item_id)
    assert master.first_occurrence.start == ews(2027, 1, 4, 9)
    assert master.last_occurrence is None


def test_get_item_on_an_exception_returns_its_own_values(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    master = master_of(account, standup(sim, alice, location="Room 1"))

    third = master.occurrence(index=3)
    third.subject, third.legacy_free_busy_status = "Stand-up (demo week)", "Tentative"
    third.save(update_fields=["subject", "legacy_free_busy_status"])

    (fetched,) = account.fetch(ids=[third])
    assert (fetched.type, fetched.subject, fetched.legacy_free_busy_status) == (
        "Exception",
        "Stand-up (demo week)",
        "Tentative",
    )
    assert fetched.location == "Room 1"  # what it didn't change comes from the master
    assert fetched.start == ews(2027, 1, 18, 9)
    master.refresh()
    assert (master.subject, master.legacy_free_busy_status) == ("Stand-up", "Busy")
    others = [i for i in view(account, ews(2027, 1, 1), ews(2027, 2, 1)) if i.id != third.id]
    assert {i.subject for i in others} == {"Stand-up"}


def test_an_exception_that_only_moved_follows_a_later_change_of_the_masters_subject(
    sim, new_user, login
):
    alice = new_user("alice")
    account = login(alice)
    item_id = standup(sim, alice)
    sim.modify_occurrence(alice.email, item_id, 2, start=datetime(2027, 1, 11, 10, tzinfo=LONDON))
    master = master_of(account, item_id)
    master.subject = "Daily sync"
    master.save(update_fields=["subject"])

    items = view(account, ews(2027, 1, 1), ews(2027, 2, 1))
    assert [i.subject for i in items] == ["Daily sync"] * 4
    assert items[1].start == ews(2027, 1, 11, 10)


def test_an_exception_moved_out_of_the_window_vanishes_and_one_moved_in_appears(
    sim, new_user, login
):
    alice = new_user("alice")
    account = login(alice)
    item_id = standup(sim, alice)
    # The 11 January stand-up moves to Tuesday 12 January.
    sim.modify_occurrence(
        alice.email,
        item_id,
        2,
        start=datetime(2027, 1, 12, 9, tzinfo=LONDON),
        end=datetime(2027, 1, 12, 9, 30, tzinfo=LONDON),
    )
    assert view(account, ews(2027, 1, 11), ews(2027, 1, 12)) == []
    (moved,) = view(account, ews(2027, 1, 12), ews(2027, 1, 13))
    assert (moved.type, moved.start, moved.original_start) == (
        "Exception",
        ews(2027, 1, 12, 9),
        ews(2027, 1, 11, 9),
    )


def test_it_refuses_to_move_an_occurrence_onto_the_day_of_the_next_one(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    master = master_of(account, standup(sim, alice))
    second = master.occurrence(index=2)
    second.start, second.end = ews(2027, 1, 18, 14), ews(2027, 1, 18, 14, 30)
    with pytest.raises(ErrorOccurrenceCrossingBoundary):
        second.save(update_fields=["start", "end"])
    assert view(account, ews(2027, 1, 11), ews(2027, 1, 12))[0].type == "Occurrence"


def test_deleting_an_exception_drops_it_and_its_changes(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    master = master_of(account, standup(sim, alice))
    second = master.occurrence(index=2)
    second.start, second.end = ews(2027, 1, 11, 14), ews(2027, 1, 11, 14, 30)
    second.save(update_fields=["start", "end"])

    master.occurrence(index=2).delete()

    assert [
        i.start.astimezone(TZ).day for i in view(account, ews(2027, 1, 1), ews(2027, 2, 1))
    ] == [
        4,
        18,
        25,
    ]
    master.refresh()
    assert master.modified_occurrences is None
    # A deleted exception is listed at its original time.
    assert [d.start for d in master.deleted_occurrences] == [ews(2027, 1, 11, 9)]
    with pytest.raises(ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        master.occurrence(index=2).refresh()


def test_free_busy_shows_an_exception_at_its_new_time_and_says_it_is_one(sim, new_user, login):
    alice, bob = new_user("alice"), new_user("bob")
    sim.set_permission(alice.email, bob.email, "Reviewer")
    item_id = standup(sim, alice)
    sim.modify_occurrence(
        alice.email,
        item_id,
        2,
        start=datetime(2027, 1, 11, 13, tzinfo=LONDON),
        end=datetime(2027, 1, 11, 14, tzinfo=LONDON),
    )
    events = free_busy(login(bob), alice.email, ews(2027, 1, 11), ews(2027, 1, 19))
    assert [(e.start.hour, e.end.hour, e.start.day) for e in events] == [(13, 14, 11), (9, 9, 18)]
    moved, plain = events
    assert (moved.details.is_recurring, moved.details.is_exception) == (True, True)
    assert (plain.details.is_recurring, plain.details.is_exception) == (True, False)


def test_a_moved_occurrence_after_the_spring_change_keeps_its_new_local_time(sim, new_user, login):
    """Weekly Mondays 09:00 London from 15 March 2027; clocks go forward on 28 March. The
    29 March stand-up (index 3) moves to 11:00 BST (10:00 UTC)."""
    alice, bob = new_user("alice"), new_user("bob")
    item_id = standup(sim, alice, first=datetime(2027, 3, 15, 9, tzinfo=LONDON))
    sim.modify_occurrence(
        alice.email,
        item_id,
        3,
        start=datetime(2027, 3, 29, 11, tzinfo=LONDON),
        end=datetime(2027, 3, 29, 11, 30, tzinfo=LONDON),
    )
    account = login(alice)
    starts = [i.start for i in view(account, ews(2027, 3, 1), ews(2027, 4, 30))]
    assert starts == [
        utc(2027, 3, 15, 9),
        utc(2027, 3, 22, 9),
        utc(2027, 3, 29, 10),
        utc(2027, 4, 5, 8),
    ]
    master = master_of(account, item_id)
    (modified,) = master.modified_occurrences
    assert (modified.start, modified.original_start) == (utc(2027, 3, 29, 10), utc(2027, 3, 29, 8))

    # Free/busy (free/busy-only rights, the organisation default) sees the same times.
    events = free_busy(login(bob), alice.email, ews(2027, 3, 29), ews(2027, 3, 30))
    assert [(e.start.astimezone(TZ).hour, e.busy_type) for e in events] == [(11, "Busy")]


def test_a_private_exception_blocks_its_time_but_hides_its_details_in_free_busy(
    sim, new_user, login
):
    alice, bob, dee = new_user("alice"), new_user("bob"), new_user("dee")
    sim.set_permission(alice.email, bob.email, "Reviewer")
    sim.add_delegate(alice.email, dee.email)  # a delegate who may see private items
    item_id = standup(sim, alice, location="Room 1")
    sim.modify_occurrence(alice.email, item_id, 2, sensitivity="Private", subject="Doctor")

    window = ews(2027, 1, 11), ews(2027, 1, 12)
    (event,) = free_busy(login(bob), alice.email, *window)
    assert (event.busy_type, event.details.is_private) == ("Busy", True)
    assert (event.details.subject, event.details.location, event.details.id) == (None, None, None)
    (event,) = free_busy(login(dee), alice.email, *window)
    assert (event.details.subject, event.details.location) == ("Doctor", "Room 1")


def test_a_reviewer_reads_a_private_item_in_full_as_exchange_server_does(sim, new_user, login):
    """Exchange Server enforces folder permissions only: the Private flag is for clients
    (Outlook, OWA) to honour. Microsoft's "Make an appointment private" note: anyone with
    read permission can see a private item's details with other programs."""
    alice, bob = new_user("alice"), new_user("bob")
    sim.set_permission(alice.email, bob.email, "Reviewer")
    start = datetime(2027, 1, 5, 10, tzinfo=LONDON)
    sim.add_event(alice.email, start, start + timedelta(hours=1), "Doctor", sensitivity="Private")
    (item,) = view(login(bob, alice), ews(2027, 1, 5), ews(2027, 1, 6), "subject", "sensitivity")
    assert (item.subject, item.sensitivity) == ("Doctor", "Private")


def test_saving_the_whole_master_keeps_its_exceptions_and_a_new_pattern_drops_them(
    sim, new_user, login
):
    alice = new_user("alice")
    account = login(alice)
    item_id = standup(sim, alice)
    sim.modify_occurrence(alice.email, item_id, 2, start=datetime(2027, 1, 11, 10, tzinfo=LONDON))
    sim.delete_occurrence(alice.email, item_id, 3)
    master = master_of(account, item_id)
    master.body = "Agenda in the wiki"
    master.save()  # every field, the same Recurrence included
    master.refresh()
    assert (len(master.modified_occurrences), len(master.deleted_occurrences)) == (1, 1)

    master.recurrence.boundary.number = 6
    master.save(update_fields=["recurrence"])
    master.refresh()
    assert master.modified_occurrences is None and master.deleted_occurrences is None
    assert [
        i.start.astimezone(TZ).hour for i in view(account, ews(2027, 1, 1), ews(2027, 3, 1))
    ] == [9] * 6

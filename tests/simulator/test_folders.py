"""GetFolder / FindFolder: distinguished folders, sub-calendars, paging."""

from __future__ import annotations

import pytest
from exchangelib.errors import ErrorNonExistentMailbox
from exchangelib.folders import SHALLOW, FolderCollection

from .conftest import connect


def test_the_calendar_is_found_through_the_root_like_exchange(sim, new_user, login):
    alice = new_user("alice")
    calendar = login(alice).calendar
    assert (calendar.name, calendar.folder_class) == ("Calendar", "IPF.Appointment")
    assert [(e.operation, e.outcome) for e in sim.log] == [("GetFolder", "NoError")] * 2


def test_sub_calendars_are_listed_with_one_shallow_find_folder(sim, new_user, login):
    alice = new_user("alice")
    for name in ("Rota", "Holidays", "Consulting"):
        sim.add_calendar(alice.email, name)
    calendar = login(alice).calendar
    sim.clear_log()
    found = list(
        FolderCollection(account=calendar.account, folders=[calendar]).find_folders(depth=SHALLOW)
    )
    assert sorted(f.name for f in found) == ["Consulting", "Holidays", "Rota"]
    assert all(
        f.folder_class == "IPF.Appointment" and f.parent_folder_id.id == calendar.id for f in found
    )
    assert [e.operation for e in sim.log] == ["FindFolder"]


def test_a_deep_walk_finds_nested_calendars_across_pages(sim, new_user, login):
    alice = new_user("alice")
    parent = sim.add_calendar(alice.email, "Teams")
    sim.add_calendar(alice.email, "Team A", parent=parent)
    sim.add_calendar(alice.email, "Team B", parent=parent)
    account = login(alice)
    names = {f.name for f in account.root.walk()}
    assert {"Calendar", "Teams", "Team A", "Team B"} <= names
    found = list(
        FolderCollection(account=account, folders=[account.calendar]).find_folders(
            depth="Deep", page_size=2
        )
    )
    assert sorted(f.name for f in found) == ["Team A", "Team B", "Teams"]


def test_an_unknown_mailbox_is_reported(sim, new_user):
    alice = new_user("alice")
    account = connect(sim, alice.email, alice.password, mailbox="ghost@contoso.example")
    with pytest.raises(ErrorNonExistentMailbox):
        _ = account.root

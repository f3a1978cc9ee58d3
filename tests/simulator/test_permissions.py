"""Calendar folder permissions as Exchange enforces them, seen through exchangelib."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorAccessDenied, ErrorNoFreeBusyAccess
from exchangelib.folders import Calendar, Root
from exchangelib.properties import CalendarView, DistinguishedFolderId, Mailbox
from exchangelib.services import FindItem

LONDON = ZoneInfo("Europe/London")
TZ = EWSTimeZone("Europe/London")
MONDAY = datetime(2025, 6, 2, 9, 0, tzinfo=LONDON)


def _calendar_of(account, owner_email):
    """The owner's calendar as a folder object, without the GetFolder calls that
    `account.calendar` makes (free/busy-only callers may not open folders)."""
    return Calendar(
        root=Root(account=account),
        _distinguished_id=DistinguishedFolderId(
            id="calendar", mailbox=Mailbox(email_address=owner_email)
        ),
    )


def _window():
    return EWSDateTime(2025, 6, 1, tzinfo=TZ), EWSDateTime(2025, 6, 8, tzinfo=TZ)


def _book(account, folder):
    start = EWSDateTime.from_datetime(MONDAY + timedelta(hours=5))
    item = CalendarItem(
        account=account,
        folder=folder,
        subject="Booked",
        start=start,
        end=start + timedelta(hours=1),
    )
    item.save()
    return item


def _free_busy(account, owner_email):
    start, end = _window()
    return list(account.protocol.get_free_busy_info([(owner_email, "Required", False)], start, end))


@pytest.fixture
def owner_and_app(sim, new_user):
    owner, app = new_user("owner"), new_user("svc")
    sim.add_event(owner.email, MONDAY, MONDAY + timedelta(hours=1), "Stand-up", tz="Europe/London")
    return owner, app


@pytest.mark.parametrize("level", ["None", "FreeBusyTimeOnly", "FreeBusyTimeAndSubjectAndLocation"])
def test_it_refuses_the_calendar_below_reviewer(sim, login, owner_and_app, level):
    owner, app = owner_and_app
    sim.set_permission(owner.email, "Default", level)
    account = login(app, owner)
    with pytest.raises(ErrorAccessDenied):
        _ = account.calendar
    assert sim.log[-1].outcome == "ErrorAccessDenied"


def test_it_refuses_finditem_with_free_busy_only_permission(sim, login, owner_and_app):
    owner, app = owner_and_app
    account = login(app, owner)  # Default is FreeBusyTimeOnly, the organisation default
    start, end = _window()
    find_item = FindItem(account=account).call(
        folders=[_calendar_of(account, owner.email)],
        additional_fields=None,
        restriction=None,
        order_fields=None,
        shape="IdOnly",
        query_string=None,
        depth="Shallow",
        calendar_view=CalendarView(start=start, end=end),
        max_items=None,
        offset=0,
    )
    with pytest.raises(ErrorAccessDenied):
        list(find_item)
    assert [(e.operation, e.outcome) for e in sim.log] == [("FindItem", "ErrorAccessDenied")]


def test_free_busy_only_still_answers_availability_without_details(sim, login, owner_and_app):
    owner, app = owner_and_app
    (view,) = _free_busy(login(app), owner.email)
    assert view.view_type == "FreeBusyMerged"
    (event,) = view.calendar_events
    assert (event.start.hour, event.busy_type, event.details) == (9, "Busy", None)


def test_limited_details_shows_subjects_in_availability(sim, login, owner_and_app):
    owner, app = owner_and_app
    sim.set_permission(owner.email, app.email, "FreeBusyTimeAndSubjectAndLocation")
    (view,) = _free_busy(login(app), owner.email)
    assert view.view_type == "DetailedMerged"
    assert view.calendar_events[0].details.subject == "Stand-up"


def test_permission_none_yields_no_free_busy_access(sim, login, owner_and_app):
    owner, app = owner_and_app
    sim.set_permission(owner.email, "Default", "None")
    with pytest.raises(ErrorNoFreeBusyAccess):
        _free_busy(login(app), owner.email)


def test_an_explicit_entry_overrides_default(sim, login, owner_and_app):
    owner, app = owner_and_app
    sim.set_permission(owner.email, "Default", "Reviewer")
    sim.set_permission(owner.email, app.email, "None")
    with pytest.raises(ErrorAccessDenied):
        _ = login(app, owner).calendar


def test_reviewer_reads_but_cannot_create(sim, login, owner_and_app):
    owner, app = owner_and_app
    sim.set_permission(owner.email, app.email, "Reviewer")
    account = login(app, owner)
    calendar = account.calendar
    assert [i.subject for i in calendar.view(*_window())] == ["Stand-up"]
    assert calendar.effective_rights.read and not calendar.effective_rights.create_contents
    with pytest.raises(ErrorAccessDenied):
        _book(account, calendar)
    assert sim.events(owner.email)[0].subject == "Stand-up"


@pytest.mark.parametrize("level", ["Editor", "Delegate", "Owner"])
def test_editor_delegate_and_owner_create_update_and_delete(sim, login, owner_and_app, level):
    owner, app = owner_and_app
    if level == "Delegate":
        sim.add_delegate(owner.email, app.email)
    else:
        sim.set_permission(owner.email, app.email, level)
    account = login(app, owner)
    calendar = account.calendar
    assert calendar.effective_rights.create_contents
    item = _book(account, calendar)
    item.subject = "Moved"
    item.save(update_fields=["subject"])
    assert {e.subject for e in sim.events(owner.email)} == {"Stand-up", "Moved"}
    theirs = next(i for i in calendar.all() if i.subject == "Stand-up")
    theirs.location = "Room 1"
    theirs.save(update_fields=["location"])  # other people's items too
    item.delete()
    theirs.delete()
    assert sim.events(owner.email) == []


def test_author_may_change_only_its_own_items(sim, login, owner_and_app):
    owner, app = owner_and_app
    sim.set_permission(owner.email, app.email, "Author")
    account = login(app, owner)
    calendar = account.calendar
    mine = _book(account, calendar)
    mine.subject = "Mine, moved"
    mine.save(update_fields=["subject"])
    theirs = next(i for i in calendar.all() if i.subject == "Stand-up")
    theirs.subject = "Hijacked"
    with pytest.raises(ErrorAccessDenied):
        theirs.save(update_fields=["subject"])
    with pytest.raises(ErrorAccessDenied):
        theirs.delete()
    mine.delete()


def test_the_permission_set_reports_each_level_like_exchange(sim, login, owner_and_app):
    owner, app = owner_and_app
    sim.add_delegate(owner.email, app.email)
    calendar = login(app, owner).calendar
    by_user = {
        (p.user_id.distinguished_user or p.user_id.primary_smtp_address): p
        for p in calendar.permission_set.calendar_permissions
    }
    assert by_user["Default"].calendar_permission_level == "FreeBusyTimeOnly"
    assert by_user["Default"].read_items == "TimeOnly"
    assert not by_user["Default"].is_folder_visible
    assert by_user[app.email].calendar_permission_level == "Editor"
    assert by_user[app.email].can_create_items
    assert calendar.effective_rights.view_private_items  # delegates see private items


def test_the_owner_has_every_right(sim, login, owner_and_app):
    owner, _ = owner_and_app
    rights = login(owner).calendar.effective_rights
    assert all(
        getattr(rights, name)
        for name in (
            "create_associated",
            "create_contents",
            "create_hierarchy",
            "delete",
            "modify",
            "read",
        )
    )


def test_without_delegation_another_mailbox_is_refused(sim, login, owner_and_app):
    owner, app = owner_and_app
    with pytest.raises(ErrorAccessDenied):
        _ = login(app, owner).root


def test_a_sub_calendar_has_its_own_permissions(sim, login, owner_and_app):
    owner, app = owner_and_app
    rota = sim.add_calendar(owner.email, "Team rota")
    sim.set_permission(owner.email, app.email, "Reviewer")  # primary calendar only
    calendar = login(app, owner).calendar
    assert list(calendar.children) == []  # the sub-calendar is not visible
    sim.set_permission(owner.email, app.email, "Editor", calendar=rota)
    calendar = login(app, owner).calendar
    (child,) = calendar.children
    assert (child.name, child.effective_rights.create_contents) == ("Team rota", True)

"""Every operation's responses, success and error alike, validate against Microsoft's schema."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorAccessDenied, ErrorItemNotFound, ErrorNameResolutionNoResults
from exchangelib.folders import SHALLOW, FolderCollection
from exchangelib.properties import AlternateId, Attendee, Mailbox
from lxml import etree

from calendars.simulator.ews.schema import load_schema, validate_envelope
from calendars.simulator.ews.soap import envelope, m, make, response_message, sub

from .conftest import HAVE_SCHEMA, SCHEMA_DIR

pytestmark = pytest.mark.skipif(not HAVE_SCHEMA, reason=f"EWS schema not found in {SCHEMA_DIR}")
LONDON = ZoneInfo("Europe/London")
TZ = EWSTimeZone("Europe/London")


def test_every_operation_answers_schema_valid_xml(sim, new_user, login):
    owner, svc, reviewer = new_user("owner"), new_user("svc"), new_user("reviewer")
    sim.add_delegate(owner.email, svc.email)
    sim.set_permission(owner.email, reviewer.email, "Reviewer")
    sim.add_calendar(owner.email, "Rota")
    first = datetime(2025, 3, 3, 9, tzinfo=LONDON)
    sim.add_event(
        owner.email,
        first,
        first + timedelta(hours=1),
        "Series",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday", "Thursday"], "count": 8},
        extended_properties={"BookingUid": "b-1"},
        sensitivity="Private",
    )
    sim.add_event(
        owner.email,
        first,
        first + timedelta(days=1),
        "Leave",
        all_day=True,
        status="OOF",
        tz="Europe/London",
    )

    account = login(svc, owner, discover_version=True)  # ConvertId
    calendar = account.calendar  # GetFolder
    list(
        FolderCollection(account=account, folders=[calendar]).find_folders(depth=SHALLOW)
    )  # FindFolder
    start, end = EWSDateTime(2025, 3, 1, tzinfo=TZ), EWSDateTime(2025, 4, 1, tzinfo=TZ)
    occurrences = list(calendar.view(start, end))  # FindItem, CalendarView, all properties
    masters = list(calendar.all())  # FindItem, IndexedPageItemView
    list(calendar.filter(subject="Series"))  # FindItem with a restriction
    account.fetch(ids=masters + occurrences[:1])  # GetItem incl. recurrence and an occurrence
    item = CalendarItem(
        account=account,
        folder=calendar,
        subject="New",
        start=start + timedelta(days=2, hours=9),
        end=start + timedelta(days=2, hours=10),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=svc.email))],
    )
    item.save(send_meeting_invitations="SendToAllAndSaveCopy")  # CreateItem
    item.subject = "Renamed"
    item.save(update_fields=["subject"])  # UpdateItem
    item_id = (item.id, item.changekey)
    item.delete()  # DeleteItem
    (gone,) = account.fetch(ids=[item_id])  # GetItem error message
    assert isinstance(gone, ErrorItemNotFound)
    list(
        account.protocol.get_free_busy_info(  # GetServerTimeZones + GetUserAvailability
            [(owner.email, "Required", False), ("ghost@contoso.example", "Required", False)],
            start,
            end,
        )
    )
    list(
        account.protocol.get_free_busy_info(  # the plain FreeBusy view the app asks for
            [(owner.email, "Required", False)], start, end, requested_view="FreeBusy"
        )
    )
    list(account.protocol.get_timezones(return_full_timezone_data=True))
    account.protocol.resolve_names([owner.email])
    (none,) = account.protocol.resolve_names(["nobody-at-all"])
    assert isinstance(none, ErrorNameResolutionNoResults)
    assert len(account.protocol.resolve_names(["owner"])) >= 1  # several owners: a warning
    list(
        account.protocol.convert_ids(
            [AlternateId(id=masters[0].id, format="EwsId", mailbox=owner.email)], "EntryId"
        )
    )
    with pytest.raises(ErrorAccessDenied):
        _ = login(new_user("stranger"), owner).calendar
    reviewer_view = login(reviewer, owner).calendar.view(start, end)
    assert len(list(reviewer_view)) == len(occurrences)

    operations = {e.operation for e in sim.log}
    assert {
        "ConvertId",
        "GetFolder",
        "FindFolder",
        "FindItem",
        "GetItem",
        "CreateItem",
        "UpdateItem",
        "DeleteItem",
        "GetServerTimeZones",
        "GetUserAvailability",
        "ResolveNames",
    } <= operations
    assert sim.schema_errors == []


def test_the_validator_catches_elements_out_of_order():
    schema = load_schema(str(SCHEMA_DIR))
    response = make(m("GetItemResponse"))
    msg = response_message("GetItem", "ErrorItemNotFound", "gone")
    msg.insert(0, msg[1])  # ResponseCode before MessageText: invalid
    sub(msg, m("Items"))
    sub(response, m("ResponseMessages")).append(msg)
    errors = validate_envelope(schema, envelope(response, "Exchange2016"))
    assert errors and "MessageText" in " ".join(errors)
    assert etree.QName(msg[0]).localname == "ResponseCode"

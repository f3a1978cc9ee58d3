"""Where Exchange 2016/2019 behaves in ways a client notices, the simulator behaves the same:
CalendarView edges and limits, malformed ids and ChangeKeys, long subjects, restrictions on
folders and strings, and requests the schema refuses. exchangelib drives it over HTTP; raw
SOAP is posted where exchangelib can't express the request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import requests
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, Q
from exchangelib.errors import (
    ErrorCalendarViewRangeTooBig,
    ErrorExceededFindCountLimit,
    ErrorInvalidChangeKey,
    ErrorInvalidIdMalformed,
    ErrorInvalidOperation,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorSchemaValidation,
)
from exchangelib.folders import SHALLOW, Folder, FolderCollection, SingleFolderQuerySet
from exchangelib.items import ALWAYS_OVERWRITE
from lxml import etree

from calendars.simulator import Simulator
from calendars.simulator.ews.soap import E_NS, M_NS, SOAP_NS, T_NS
from calendars.simulator.model import new_id

UTC_TZ = EWSTimeZone("UTC")


def utc(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=UTC)


def ews(value: datetime) -> EWSDateTime:
    return EWSDateTime.from_datetime(value).astimezone(UTC_TZ)


def soap(user, body: str, sim: Simulator) -> requests.Response:
    """POST one EWS request the way exchangelib frames it, with Basic auth."""
    envelope = (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_NS}" xmlns:m="{M_NS}" xmlns:t="{T_NS}">'
        '<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    return requests.post(
        sim.ews_url,
        data=envelope.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=(user.email, user.password),
        timeout=10,
    )


def response_code(response: requests.Response) -> str:
    root = etree.fromstring(response.content)
    return root.findtext(f".//{{{M_NS}}}ResponseCode") or root.findtext(
        f".//{{{E_NS}}}ResponseCode", ""
    )


@pytest.fixture
def low_find_limit(sim: Simulator) -> Iterator[Simulator]:
    sim.find_count_limit = 3
    yield sim
    sim.find_count_limit = 1000


# ------------------------------------------------------------------------------------------
# CalendarView edges
# ------------------------------------------------------------------------------------------


def test_a_calendar_view_lists_an_event_ending_exactly_at_its_start(sim, new_user, login):
    alice = new_user("alice")
    sim.add_event(alice.email, utc(1, 9), utc(1, 10), "Ends at the view's start")
    sim.add_event(alice.email, utc(1, 11), utc(1, 12), "Starts at the view's end")
    sim.add_event(alice.email, utc(1, 10, 30), utc(1, 10, 45), "Inside")
    account = login(alice)
    view = account.calendar.view(ews(utc(1, 10)), ews(utc(1, 11)))
    assert sorted(i.subject for i in view.only("subject")) == [
        "Ends at the view's start",
        "Inside",
    ]
    # Free/busy is no calendar view: there only what overlaps the window is busy.
    (info,) = account.protocol.get_free_busy_info(
        [(alice.email, "Required", False)], ews(utc(1, 10)), ews(utc(1, 11))
    )
    assert [e.start for e in info.calendar_events] == [ews(utc(1, 10, 30))]


def test_a_calendar_view_lists_an_occurrence_ending_exactly_at_its_start(sim, new_user, login):
    alice = new_user("alice")
    sim.add_event(
        alice.email,
        utc(1, 9),
        utc(1, 10),
        "Daily",
        recurrence={"pattern": "daily", "count": 5},
    )
    view = login(alice).calendar.view(ews(utc(3, 10)), ews(utc(4, 9)))
    starts = [i.start for i in view.only("start", "type")]
    # The 3rd's occurrence ends as the view starts; the 4th's starts as it ends.
    assert starts == [ews(utc(3, 9))]


def test_a_calendar_view_with_a_restriction_is_an_invalid_operation(sim, new_user, login):
    alice = new_user("alice")
    view = login(alice).calendar.view(ews(utc(1)), ews(utc(2))).filter(subject="x")
    with pytest.raises(ErrorInvalidOperation):
        list(view)


def test_a_calendar_view_over_more_than_two_years_is_refused(sim, new_user, login):
    alice = new_user("alice")
    view = login(alice).calendar.view(ews(utc(1)), ews(utc(2) + timedelta(days=731)))
    with pytest.raises(ErrorCalendarViewRangeTooBig):
        list(view)


# ------------------------------------------------------------------------------------------
# The find count limit (EWSFindCountLimit)
# ------------------------------------------------------------------------------------------


def test_a_calendar_view_over_more_entries_than_the_limit_fails(low_find_limit, new_user, login):
    alice = new_user("alice")
    for day in range(1, 5):
        low_find_limit.add_event(alice.email, utc(day, 9), utc(day, 10), f"Day {day}")
    calendar = login(alice).calendar
    with pytest.raises(ErrorExceededFindCountLimit):
        list(calendar.view(ews(utc(1)), ews(utc(5))))
    # A narrower window, or MaxEntriesReturned, stays within the limit.
    assert len(list(calendar.view(ews(utc(1)), ews(utc(4))))) == 3
    assert len(list(calendar.view(ews(utc(1)), ews(utc(5)), max_items=2))) == 2


def test_the_limit_error_names_the_policy_limit(low_find_limit, new_user):
    alice = new_user("alice")
    for day in range(1, 5):
        low_find_limit.add_event(alice.email, utc(day, 9), utc(day, 10))
    response = soap(
        alice,
        "<m:FindItem Traversal='Shallow'><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
        "</m:ItemShape><m:CalendarView StartDate='2027-03-01T00:00:00Z' "
        "EndDate='2027-03-05T00:00:00Z'/><m:ParentFolderIds>"
        "<t:DistinguishedFolderId Id='calendar'/></m:ParentFolderIds></m:FindItem>",
        low_find_limit,
    )
    root = etree.fromstring(response.content)
    assert response_code(response) == "ErrorExceededFindCountLimit"
    assert root.findtext(f".//{{{T_NS}}}Value[@Name='PolicyLimit']") == "3"


def test_paged_finds_are_cut_to_the_limit_and_page_on(low_find_limit, new_user, login):
    alice = new_user("alice")
    for day in range(1, 6):
        low_find_limit.add_event(alice.email, utc(day, 9), utc(day, 10), f"Day {day}")
    items = list(login(alice).calendar.all().only("subject"))
    assert sorted(i.subject for i in items) == [f"Day {d}" for d in range(1, 6)]
    assert [e.operation for e in low_find_limit.log].count("FindItem") == 2


# ------------------------------------------------------------------------------------------
# Ids and ChangeKeys
# ------------------------------------------------------------------------------------------


def test_a_malformed_item_id_is_invalid_not_missing(sim, new_user, login):
    account = login(new_user("alice"))
    well_formed_but_unknown = new_id(b"I")
    bad, gone = account.fetch(ids=[("XXX", None), (well_formed_but_unknown, None)])
    assert isinstance(bad, ErrorInvalidIdMalformed)
    assert isinstance(gone, ErrorItemNotFound)


def test_a_malformed_folder_id_is_invalid_not_missing(sim, new_user, login):
    account = login(new_user("alice"))
    folder = Folder(root=account.root, id="XXX")
    with pytest.raises(ErrorInvalidIdMalformed):
        SingleFolderQuerySet(account=account, folder=folder).get()
    (result,) = FolderCollection(account=account, folders=[folder]).find_folders(depth=SHALLOW)
    assert isinstance(result, ErrorInvalidIdMalformed)


def _booked(account, calendar) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=calendar,
        subject="Booking",
        start=ews(utc(1, 9)),
        end=ews(utc(1, 10)),
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def test_an_update_with_a_stale_change_key_conflicts(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    mine = _booked(account, account.calendar)
    (theirs,) = account.fetch(ids=[(mine.id, None)])
    theirs.subject = "Moved by the owner in Outlook"
    theirs.save(update_fields=["subject"])
    mine.subject = "Renamed by the app"
    with pytest.raises(ErrorIrresolvableConflict):
        mine.save(update_fields=["subject"])  # exchangelib's default: AutoResolve
    assert sim.events(alice.email)[0].subject == "Moved by the owner in Outlook"
    mine.save(update_fields=["subject"], conflict_resolution=ALWAYS_OVERWRITE)
    assert sim.events(alice.email)[0].subject == "Renamed by the app"


def test_an_unparsable_change_key_is_invalid(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    item = _booked(account, account.calendar)
    item.changekey = "XXX"  # not base64
    item.subject = "Renamed"
    with pytest.raises(ErrorInvalidChangeKey):
        item.save(update_fields=["subject"])
    assert sim.events(alice.email)[0].subject == "Booking"


def test_a_delete_ignores_a_stale_change_key_but_not_an_unparsable_one(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    mine = _booked(account, account.calendar)
    (refused,) = account.bulk_delete([(mine.id, "XXX")])
    assert isinstance(refused, ErrorInvalidChangeKey)
    (theirs,) = account.fetch(ids=[(mine.id, None)])
    theirs.subject = "Changed since"
    theirs.save(update_fields=["subject"])
    mine.delete()  # sends the old ChangeKey
    assert sim.events(alice.email) == []


# ------------------------------------------------------------------------------------------
# Subjects
# ------------------------------------------------------------------------------------------


def test_a_subject_longer_than_255_characters_is_cut_silently(sim, new_user, login):
    alice = new_user("alice")
    long_subject = "".join(chr(ord("a") + i % 26) for i in range(300))
    created = soap(
        alice,
        "<m:CreateItem SendMeetingInvitations='SendToNone'><m:Items><t:CalendarItem>"
        f"<t:Subject>{long_subject}</t:Subject><t:Start>2027-03-01T09:00:00Z</t:Start>"
        "<t:End>2027-03-01T10:00:00Z</t:End></t:CalendarItem></m:Items></m:CreateItem>",
        sim,
    )
    assert response_code(created) == "NoError"
    (item,) = login(alice).calendar.all().only("subject", "changekey")
    assert item.subject == long_subject[:255]
    updated = soap(
        alice,
        "<m:UpdateItem ConflictResolution='AutoResolve' "
        "SendMeetingInvitationsOrCancellations='SendToNone'><m:ItemChanges><t:ItemChange>"
        f"<t:ItemId Id='{item.id}' ChangeKey='{item.changekey}'/><t:Updates><t:SetItemField>"
        "<t:FieldURI FieldURI='item:Subject'/><t:CalendarItem>"
        f"<t:Subject>{long_subject[::-1]}</t:Subject></t:CalendarItem></t:SetItemField>"
        "</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>",
        sim,
    )
    assert response_code(updated) == "NoError"
    assert sim.events(alice.email)[0].subject == long_subject[::-1][:255]


# ------------------------------------------------------------------------------------------
# Restrictions
# ------------------------------------------------------------------------------------------


def test_find_folder_honours_a_display_name_restriction(sim, new_user, login):
    alice = new_user("alice")
    sim.add_calendar(alice.email, "Rota")
    sim.add_calendar(alice.email, "Holidays")
    calendar = login(alice).calendar
    folders = FolderCollection(account=calendar.account, folders=[calendar])
    assert [f.name for f in folders.find_folders(q=Q(name="Rota"), depth=SHALLOW)] == ["Rota"]
    # Strings compare without regard to case, as the Exchange store does.
    assert [f.name for f in folders.find_folders(q=Q(name="holidays"), depth=SHALLOW)] == [
        "Holidays"
    ]
    by_class = folders.find_folders(q=Q(folder_class="IPF.Note"), depth=SHALLOW)
    assert list(by_class) == []


def test_string_restrictions_ignore_case_unless_contains_asks_for_exact(sim, new_user, login):
    alice = new_user("alice")
    sim.add_event(alice.email, utc(1, 9), utc(1, 10), "Stand-up")
    calendar = login(alice).calendar

    def subjects(**lookup: str) -> list[str]:
        return sorted(i.subject for i in calendar.filter(**lookup).only("subject"))

    assert subjects(subject="stand-up") == ["Stand-up"]
    assert subjects(subject__contains="stand") == []  # ContainmentComparison="Exact"
    assert subjects(subject__icontains="STAND") == ["Stand-up"]


def test_an_unsupported_restriction_fails_even_on_an_empty_calendar(sim, new_user):
    alice = new_user("alice")
    find = (
        "<m:FindItem Traversal='Shallow'><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
        "</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned='10' Offset='0' "
        "BasePoint='Beginning'/><m:Restriction><t:IsEqualTo>"
        "<t:FieldURI FieldURI='calendar:Duration'/><t:FieldURIOrConstant>"
        "<t:Constant Value='PT1H'/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>"
        "<m:ParentFolderIds><t:DistinguishedFolderId Id='calendar'/></m:ParentFolderIds>"
        "</m:FindItem>"
    )
    assert response_code(soap(alice, find, sim)) == "ErrorUnsupportedPathForQuery"
    sim.add_event(alice.email, utc(1, 9), utc(1, 10))
    assert response_code(soap(alice, find, sim)) == "ErrorUnsupportedPathForQuery"


# ------------------------------------------------------------------------------------------
# Requests Exchange refuses outright
# ------------------------------------------------------------------------------------------

_GET_ROOT = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>{extra}"
    "<m:FolderIds><t:DistinguishedFolderId Id='root'/></m:FolderIds></m:GetFolder>"
)


def test_an_unknown_element_fails_schema_validation(sim, new_user):
    response = soap(new_user("alice"), _GET_ROOT.format(extra="<m:Bogus/>"), sim)
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    assert response_code(response) == "ErrorSchemaValidation"
    xml = root.find(f".//{{{T_NS}}}MessageXml")
    assert xml is not None and xml.findtext(f"{{{T_NS}}}LineNumber") == "1"
    assert "Bogus" in xml.findtext(f"{{{T_NS}}}Violation", "")


def test_an_unknown_element_fails_without_the_schema_at_hand_too():
    with Simulator() as bare:
        bare.add_mailbox("alice@contoso.example", "Alice", "pw")

        alice = SimpleNamespace(email="alice@contoso.example", password="pw")
        response = soap(alice, _GET_ROOT.format(extra="<m:Bogus/>"), bare)
        assert response_code(response) == "ErrorSchemaValidation"
        assert response_code(soap(alice, _GET_ROOT.format(extra=""), bare)) == "NoError"


def test_exchangelib_reports_the_schema_violation(sim, new_user):
    from exchangelib.services.common import EWSService

    response = soap(new_user("alice"), _GET_ROOT.format(extra="<m:Bogus/>"), sim)
    fault = etree.fromstring(response.content).find(f".//{{{SOAP_NS}}}Fault")
    with pytest.raises(ErrorSchemaValidation, match=r"Bogus.*line: 1"):
        EWSService._raise_soap_errors(fault)


def test_a_body_element_that_is_no_ews_operation_is_an_invalid_request(sim, new_user):
    response = soap(new_user("alice"), "<Nonsense/>", sim)
    assert response_code(response) == "ErrorInvalidRequest"


def test_the_top_of_the_information_store_has_no_folder_class(sim, new_user, login):
    account = login(new_user("alice"))
    assert account.msg_folder_root.folder_class is None
    assert account.calendar.folder_class == "IPF.Appointment"

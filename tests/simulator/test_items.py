"""Calendar items through exchangelib: views, recurrence, create/update/delete, extended
properties, meeting mail, paging, GetItem, ResolveNames and ConvertId."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, ExtendedProperty
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY
from exchangelib.properties import AlternateId, Attendee, Mailbox

LONDON = ZoneInfo("Europe/London")
TZ = EWSTimeZone("Europe/London")


class BookingUid(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "BookingUid"
    property_type = "String"


@pytest.fixture(scope="module", autouse=True)
def _booking_uid_field():
    # The app registers its own property under this name (calendars.backends.ews) when
    # Django loads; swap ours in for this module and put the app's back afterwards.
    previous = next((f for f in CalendarItem.FIELDS if f.name == "booking_uid"), None)
    if previous is not None:
        CalendarItem.deregister("booking_uid")
    CalendarItem.register("booking_uid", BookingUid)
    yield
    CalendarItem.deregister("booking_uid")
    if previous is not None:
        CalendarItem.register("booking_uid", previous.value_cls)


def ews(year, month, day, hour=0, minute=0):
    return EWSDateTime(year, month, day, hour, minute, tzinfo=TZ)


def test_a_weekly_series_appears_as_occurrences_in_a_calendar_view(sim, new_user, login):
    alice = new_user("alice")
    first = datetime(2025, 3, 3, 9, 0, tzinfo=LONDON)  # Mondays, across the March DST change
    sim.add_event(
        alice.email,
        first,
        first + timedelta(minutes=30),
        "Stand-up",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 6},
    )
    view = login(alice).calendar.view(ews(2025, 3, 1), ews(2025, 4, 30))
    items = list(view.only("start", "end", "subject", "type", "is_recurring"))
    assert [i.type for i in items] == ["Occurrence"] * 6
    # Wall-clock time stays 09:00 London across the switch to BST on 30 March.
    assert [i.start.astimezone(TZ).hour for i in items] == [9] * 6
    assert len({i.id for i in items}) == 6
    assert items[0].subject == "Stand-up" and items[0].is_recurring


def test_the_calendar_view_reports_paging_attributes_exchangelib_needs(sim, new_user, login):
    alice = new_user("alice")
    for day in range(1, 6):
        start = datetime(2025, 5, day, 10, tzinfo=LONDON)
        sim.add_event(alice.email, start, start + timedelta(hours=1), f"Meeting {day}")
    view = login(alice).calendar.view(ews(2025, 5, 2), ews(2025, 5, 4))
    assert [i.subject for i in view] == ["Meeting 2", "Meeting 3"]
    assert [e.operation for e in sim.log].count("FindItem") == 1


def test_it_creates_updates_and_deletes_an_item_keeping_its_id(sim, new_user, login):
    alice = new_user("alice")
    calendar = login(alice).calendar
    item = CalendarItem(
        account=calendar.account,
        folder=calendar,
        subject="Booking",
        body="Booked via the app",
        location="Room 2",
        start=ews(2025, 7, 1, 14),
        end=ews(2025, 7, 1, 15),
        legacy_free_busy_status="Tentative",
    )
    item.save()
    (stored,) = sim.events(alice.email)
    assert (stored.subject, stored.location, stored.status, stored.tz) == (
        "Booking",
        "Room 2",
        "Tentative",
        "Europe/London",
    )
    assert stored.start == datetime(2025, 7, 1, 13, 0, tzinfo=ZoneInfo("UTC"))
    item_id, change_key = item.id, item.changekey
    item.start, item.end = ews(2025, 7, 1, 16), ews(2025, 7, 1, 17)
    item.legacy_free_busy_status = "Busy"
    item.save(update_fields=["start", "end", "legacy_free_busy_status"])
    assert item.id == item_id and item.changekey != change_key
    assert sim.events(alice.email)[0].start.hour == 15  # 16:00 BST
    item.location = None
    item.save(update_fields=["location"])  # DeleteItemField
    assert sim.events(alice.email)[0].location == ""
    item.delete()
    assert sim.events(alice.email) == []
    assert [e.operation for e in sim.log][-3:] == ["UpdateItem", "UpdateItem", "DeleteItem"]


def test_get_item_returns_what_was_stored(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Full read",
        body="Body text",
        start=ews(2025, 8, 4, 9),
        end=ews(2025, 8, 4, 10),
    )
    item.save()
    (fetched,) = account.fetch(ids=[(item.id, item.changekey)])
    assert (fetched.subject, fetched.body, fetched.start) == (
        "Full read",
        "Body text",
        ews(2025, 8, 4, 9),
    )
    assert fetched.organizer.email_address == alice.email
    assert fetched.type == "Single"


def test_it_finds_an_event_by_its_extended_property(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    calendar = account.calendar
    for uid in ("booking-1", "booking-2"):
        CalendarItem(
            account=account,
            folder=calendar,
            subject=uid,
            start=ews(2025, 9, 1, 9),
            end=ews(2025, 9, 1, 10),
            booking_uid=uid,
        ).save()
    sim.add_event(
        alice.email,
        ews(2025, 9, 2, 9),
        ews(2025, 9, 2, 10),
        "Seeded",
        extended_properties={"BookingUid": "booking-3"},
    )
    found = list(calendar.filter(booking_uid="booking-2"))
    assert [(i.subject, i.booking_uid) for i in found] == [("booking-2", "booking-2")]
    assert [i.subject for i in calendar.filter(booking_uid="booking-3")] == ["Seeded"]
    assert list(calendar.filter(booking_uid="nope")) == []
    (item,) = found
    item.booking_uid = "booking-2b"
    item.save(update_fields=["booking_uid"])
    assert [i.subject for i in calendar.filter(booking_uid="booking-2b")] == ["booking-2"]


def test_plain_finditem_pages_with_indexed_page_item_view(sim, new_user, login):
    alice = new_user("alice")
    for n in range(7):
        start = datetime(2025, 10, 1, 8 + n, tzinfo=LONDON)
        sim.add_event(alice.email, start, start + timedelta(minutes=30), f"Slot {n}")
    calendar = login(alice).calendar
    query = calendar.all().order_by("start").only("subject")
    query.page_size = 3
    subjects = [i.subject for i in query]
    assert subjects == [f"Slot {n}" for n in range(7)]
    assert [e.operation for e in sim.log].count("FindItem") == 3


def test_all_day_events_round_trip_as_dates(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Holiday",
        start=date(2025, 12, 24),
        end=date(2025, 12, 26),
        is_all_day=True,
        legacy_free_busy_status="OOF",
    )
    item.save()
    (stored,) = sim.events(alice.email)
    assert stored.is_all_day and stored.start == datetime(2025, 12, 24, tzinfo=LONDON)
    (fetched,) = account.fetch(ids=[item])
    # exchangelib's all-day end date is inclusive (it sends the next midnight).
    assert (fetched.start, fetched.end, fetched.is_all_day) == (
        date(2025, 12, 24),
        date(2025, 12, 26),
        True,
    )


def test_sending_invitations_and_cancellations_is_recorded(sim, new_user, login):
    alice, bob = new_user("alice"), new_user("bob")
    account = login(alice)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Interview",
        start=ews(2025, 11, 3, 10),
        end=ews(2025, 11, 3, 11),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=bob.email))],
    )
    item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    item.delete(send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY)
    mine = [(m.kind, m.sender, m.recipients) for m in sim.sent if m.sender == alice.email]
    assert mine == [
        ("invitation", alice.email, [bob.email]),
        ("cancellation", alice.email, [bob.email]),
    ]


def test_saving_without_sending_records_no_mail(sim, new_user, login):
    alice, bob = new_user("alice"), new_user("bob")
    account = login(alice)
    CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Quiet",
        start=ews(2025, 11, 4, 10),
        end=ews(2025, 11, 4, 11),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=bob.email))],
    ).save()
    assert [m for m in sim.sent if m.sender == alice.email] == []


def test_deleting_one_occurrence_removes_only_that_date(sim, new_user, login):
    alice = new_user("alice")
    first = datetime(2025, 1, 6, 9, tzinfo=LONDON)
    sim.add_event(
        alice.email,
        first,
        first + timedelta(hours=1),
        "Weekly",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 3},
    )
    calendar = login(alice).calendar
    occurrences = list(calendar.view(ews(2025, 1, 1), ews(2025, 2, 1)))
    occurrences[1].delete()
    remaining = [i.start.date() for i in calendar.view(ews(2025, 1, 1), ews(2025, 2, 1))]
    assert remaining == [date(2025, 1, 6), date(2025, 1, 20)]


def test_it_resolves_names_and_converts_ids(sim, new_user, login):
    alice = new_user("alice")
    account = login(alice)
    (resolved,) = account.protocol.resolve_names([alice.email])
    assert (resolved.email_address, resolved.name) == (alice.email, alice.name)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="x",
        start=ews(2025, 1, 1, 9),
        end=ews(2025, 1, 1, 10),
    )
    item.save()
    (converted,) = account.protocol.convert_ids(
        [AlternateId(id=item.id, format="EwsId", mailbox=alice.email)],
        destination_format="EwsLegacyId",
    )
    assert converted.id == item.id and converted.format == "EwsLegacyId"

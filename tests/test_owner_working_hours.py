"""'Use the owner's Outlook working hours': a page's weekly hours read from Exchange (the work
hours its main calendar's owner set in Outlook, which GetUserAvailability returns), converted
from the owner's zone to the page's on each date, refreshed, and shown in the editor.

Everything goes over the wire to the simulator; the owner's mailbox holds the hours."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from bookings import owner_hours
from bookings.models import BookingPage, DateOverride, PageCalendar, WeeklyHours
from bookings.tasks import refresh_owner_working_hours
from calendars.backends.ews_hours import Transition, ZoneRules, zone_for
from calendars.connect import backend_for, connection_for
from calendars.models import CalendarRole
from calendars.simulator.model import WorkingPeriod

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

LONDON = ZoneInfo("Europe/London")
WORKWEEK = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


def outlook_hours(world, email: str, zone: str, start: str, end: str, days=WORKWEEK) -> None:  # type: ignore[no-untyped-def]
    """What the owner sets in Outlook (Options, Calendar, Work time), kept in their mailbox."""
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, end.split(":"))
    with world.sim.store.lock:
        mailbox = world.sim.store.mailbox(email)
        mailbox.timezone = zone
        mailbox.working_hours = (WorkingPeriod(tuple(days), h1 * 60 + m1, h2 * 60 + m2),)


def new_york_owner_page(world, **fields):  # type: ignore[no-untyped-def]
    """Olivia works 09:00-17:00 New York time; her page is in London, with its own weekly
    hours 09:00-17:00 London time (which the option must replace)."""
    owner = world.staff("olivia")
    outlook_hours(world, owner.email, "America/New_York", "09:00", "17:00")
    fields.setdefault("window_days", 500)
    page = world.page(owner, tz="Europe/London", use_owner_working_hours=True, **fields)
    return owner, page


def london_starts(page: BookingPage, day: date) -> list[str]:
    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots", {"start": day.isoformat(), "end": day.isoformat()}
    )
    assert response.status_code == 200, response.content
    return [
        datetime.fromisoformat(s["start"]).astimezone(LONDON).strftime("%H:%M")
        for s in response.json()["slots"]
    ]


def every_half_hour(first: str, last: str) -> list[str]:
    start = datetime.combine(date(2000, 1, 1), time.fromisoformat(first))
    stop = datetime.combine(date(2000, 1, 1), time.fromisoformat(last))
    out = []
    while start <= stop:
        out.append(start.strftime("%H:%M"))
        start += timedelta(minutes=30)
    return out


# --- what Exchange answers -----------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["ews"], indirect=True)  # EWS sends rules, no name
def test_it_reads_the_owners_hours_and_names_their_zone_from_the_rules_exchange_sends(world):
    owner = world.staff("olivia")
    outlook_hours(world, owner.email, "America/New_York", "09:00", "17:30")
    world.sim.clear_log()
    hours = backend_for(connection_for(owner)).working_hours(owner.email)
    operations = [e.operation for e in world.sim.log]
    # One round trip (after exchangelib's version probe): no GetServerTimeZones to name it.
    assert operations.count("GetUserAvailability") == 1 and "GetServerTimeZones" not in operations
    assert hours is not None
    # Exchange sends UTC-05:00 and the US DST rules, no name: the most widely used zone
    # keeping them is New York's (not Grand Turk's or Indianapolis', which keep them too).
    assert hours.zone == "America/New_York"
    assert "UTC\u221205:00" in hours.zone_note and "second Sunday of March" in hours.zone_note
    (period,) = hours.periods
    assert period.weekdays == (0, 1, 2, 3, 4)
    assert (period.start, period.end) == (time(9), time(17, 30))


def test_over_graph_it_reads_the_owners_hours_in_one_request_and_the_zone_graph_names(world):
    if not world.graph:
        pytest.skip("over EWS: the test above")
    owner = world.staff("olivia")
    outlook_hours(world, owner.email, "America/New_York", "09:00", "17:30")
    world.sim.clear_log()
    hours = backend_for(connection_for(owner)).working_hours(owner.email)
    assert [e.operation for e in world.sim.log] == ["graph:getSchedule"]
    assert hours is not None
    # Graph names the zone (the Windows way): no rules to match.
    assert hours.zone == "America/New_York"
    (period,) = hours.periods
    assert period.weekdays == (0, 1, 2, 3, 4)
    assert (period.start, period.end) == (time(9), time(17, 30))


def test_a_zone_hint_that_keeps_the_rules_names_the_zone(world):
    owner = world.staff("olivia")
    outlook_hours(world, owner.email, "America/Toronto", "09:00", "17:00")
    backend = backend_for(connection_for(owner))
    assert backend.working_hours(owner.email, zone_hints=["Europe/London"]).zone == (
        "America/New_York"
    )
    # Toronto keeps New York's rules: when the page (or the last reading) says Toronto, so do we.
    assert backend.working_hours(owner.email, zone_hints=["America/Toronto"]).zone == (
        "America/Toronto"
    )


def test_work_until_midnight_is_read_as_the_end_of_the_day_not_its_start(world):
    owner = world.staff("olivia")
    outlook_hours(world, owner.email, "Europe/London", "18:00", "24:00", days=("Saturday",))
    (period,) = backend_for(connection_for(owner)).working_hours(owner.email).periods
    assert (period.weekdays, period.start, period.end) == ((5,), time(18), time(0))
    page = world.page(owner, tz="Europe/London", use_owner_working_hours=True, window_days=500)
    assert owner_hours.refresh(page)
    assert london_starts(page, date(2027, 1, 9)) == every_half_hour("18:00", "23:30")


def test_an_unknown_owner_is_an_error_not_empty_hours(world):
    owner = world.staff("olivia")
    backend = backend_for(connection_for(owner))
    with pytest.raises(Exception) as raised:
        backend.working_hours(f"nobody-{world.tag}@contoso.example")
    assert "nobody" in str(raised.value) or raised.value.code  # type: ignore[attr-defined]


def test_rules_of_no_known_zone_are_matched_by_offsets_and_said_so():
    # The US rules as they were before 2007 (first Sunday of April): no zone keeps them today.
    old_us = ZoneRules(
        timedelta(hours=-5),
        timedelta(hours=-4),
        Transition(4, 6, 1, timedelta(hours=2)),
        Transition(10, 6, 5, timedelta(hours=2)),
    )
    assert zone_for(old_us, year=2027) in {"America/New_York", "America/Toronto"}
    assert zone_for(ZoneRules(timedelta(hours=3, minutes=17)), year=2027) is None
    assert zone_for(ZoneRules(timedelta(0)), year=2027) == "Etc/UTC"


# --- slots -----------------------------------------------------------------------------------


def test_a_new_york_nine_to_five_is_two_to_ten_in_london_and_replaces_the_pages_hours(world):
    _owner, page = new_york_owner_page(world)
    assert owner_hours.refresh(page)
    monday = date(2027, 1, 11)
    assert london_starts(page, monday) == every_half_hour("14:00", "21:30")
    # Both zones on summer time: the same five hours apart.
    assert london_starts(page, date(2027, 6, 14)) == every_half_hour("14:00", "21:30")
    # Saturday: Olivia doesn't work, whatever the page's own rows say.
    WeeklyHours.objects.create(page=page, weekday=5, start=time(9), end=time(17))
    assert london_starts(page, date(2027, 1, 16)) == []


@pytest.mark.parametrize(
    ("day", "first", "last"),
    [
        (date(2027, 3, 12), "14:00", "21:30"),  # Friday before: both on winter time
        (date(2027, 3, 15), "13:00", "20:30"),  # New York moved its clocks on 14 March ...
        (date(2027, 3, 19), "13:00", "20:30"),
        (date(2027, 3, 22), "13:00", "20:30"),
        (date(2027, 3, 26), "13:00", "20:30"),  # ... London only on 28 March
        (date(2027, 3, 29), "14:00", "21:30"),
        (date(2027, 11, 1), "13:00", "20:30"),  # autumn: London back on 31 Oct, New York 7 Nov
        (date(2027, 11, 8), "14:00", "21:30"),
    ],
)
def test_the_weeks_when_us_and_uk_clocks_differ_shift_by_an_hour(world, day, first, last):
    _owner, page = new_york_owner_page(world)
    assert owner_hours.refresh(page)
    assert london_starts(page, day) == every_half_hour(first, last)


def test_date_overrides_still_apply_on_the_pages_dates(world):
    _owner, page = new_york_owner_page(world)
    assert owner_hours.refresh(page)
    DateOverride.objects.create(page=page, date=date(2027, 1, 11), hours=[["10:00", "11:00"]])
    DateOverride.objects.create(page=page, date=date(2027, 1, 12), hours=[])
    assert london_starts(page, date(2027, 1, 11)) == ["10:00", "10:30"]
    assert london_starts(page, date(2027, 1, 12)) == []
    assert london_starts(page, date(2027, 1, 13)) == every_half_hour("14:00", "21:30")


def test_hours_that_cross_the_pages_midnight_land_on_both_of_its_dates(world):
    # Sydney's Monday 09:00-17:00 (UTC+11 in January) is London's Sunday 22:00 to Monday 06:00.
    owner = world.staff("olivia")
    outlook_hours(world, owner.email, "Australia/Sydney", "09:00", "17:00")
    page = world.page(owner, tz="Europe/London", use_owner_working_hours=True, window_days=500)
    assert owner_hours.refresh(page)
    assert london_starts(page, date(2027, 1, 10)) == ["22:00", "22:30", "23:00", "23:30"]
    # Monday: the end of Sydney's Monday, and the start of its Tuesday.
    monday = every_half_hour("00:00", "05:30") + every_half_hour("22:00", "23:30")
    assert london_starts(page, date(2027, 1, 11)) == monday
    # Friday night is Sydney's Saturday: nothing.
    assert london_starts(page, date(2027, 1, 15)) == every_half_hour("00:00", "05:30")
    # An override closes the page's Sunday only: Monday's slots stay.
    DateOverride.objects.create(page=page, date=date(2027, 1, 10), hours=[])
    assert london_starts(page, date(2027, 1, 10)) == []
    assert london_starts(page, date(2027, 1, 11)) == monday
    # The editor shows each zone's days in its own column.
    client = Client()
    client.force_login(owner)
    html = client.get(f"/pages/{page.pk}/").content.decode()
    sunday = html[html.index('<tr data-day="Sunday">') :].split("</tr>")[0]
    assert '<td data-zone="owner">\u2014</td>' in sunday
    assert '<td data-zone="page">22:00\u201324:00</td>' in sunday


def test_until_the_hours_are_read_the_page_offers_nothing_and_says_why(world):
    _owner, page = new_york_owner_page(world)  # never refreshed
    assert london_starts(page, date(2027, 1, 11)) == []
    assert any("haven't been read" in p for p in page.setup_problems())


# --- refreshing --------------------------------------------------------------------------------


def test_turning_the_option_on_in_the_editor_reads_the_hours_and_off_restores_the_pages(world):
    owner, page = new_york_owner_page(world)
    BookingPage.objects.filter(pk=page.pk).update(use_owner_working_hours=False)
    client = Client()
    client.force_login(owner)
    data = editor_data(page, use_owner_working_hours="on")
    world.sim.clear_log()
    response = client.post(f"/pages/{page.pk}/", data)
    assert response.status_code == 302
    free_busy = "graph:getSchedule" if world.graph else "GetUserAvailability"
    assert [e.operation for e in world.sim.log] == [free_busy]
    page.refresh_from_db()
    assert page.use_owner_working_hours and page.owner_hours_zone == "America/New_York"
    assert london_starts(page, date(2027, 1, 11)) == every_half_hour("14:00", "21:30")

    # The rows were shown disabled, so the browser sends none of them: the page's own hours
    # stay stored and come back with the option off.
    data = editor_data(page, with_hours=False)
    assert client.post(f"/pages/{page.pk}/", data).status_code == 302
    page.refresh_from_db()
    assert not page.use_owner_working_hours
    assert page.weekly_hours.count() == 5
    assert london_starts(page, date(2027, 1, 11)) == every_half_hour("09:00", "16:30")


def test_a_failed_refresh_keeps_the_last_copy_and_the_page_goes_on_with_it(world, settings):
    owner, page = new_york_owner_page(world)
    assert owner_hours.refresh(page)
    read_at = page.owner_hours_read_at
    assert london_starts(page, date(2027, 1, 11)) == every_half_hour("14:00", "21:30")
    # Olivia changes her hours in Outlook; six hours later Exchange can't be reached.
    outlook_hours(world, owner.email, "America/New_York", "08:00", "12:00")
    BookingPage.objects.filter(pk=page.pk).update(
        owner_hours_read_at=timezone.now() - timedelta(hours=7)
    )
    settings.BUSY_CACHE_SECONDS = 0  # busy time too is served from the last answer
    world.sim.go_down()
    assert refresh_owner_working_hours() == {"read": 0, "failed": 1}
    page.refresh_from_db()
    assert page.owner_hours[0]["start"] == "09:00"  # the old copy
    assert page.owner_hours_read_at < read_at  # and when it was read
    assert "could not be reached" in page.owner_hours_error
    assert london_starts(page, date(2027, 1, 11)) == every_half_hour("14:00", "21:30")

    world.sim.come_up()
    assert refresh_owner_working_hours() == {"read": 1, "failed": 0}
    page.refresh_from_db()
    assert page.owner_hours_error == ""
    assert london_starts(page, date(2027, 1, 11)) == every_half_hour("13:00", "16:30")


def test_the_periodic_task_reads_only_stale_copies(world):
    _owner, page = new_york_owner_page(world)
    assert owner_hours.refresh(page)
    world.sim.clear_log()
    assert refresh_owner_working_hours() == {"read": 0, "failed": 0}
    assert world.sim.log == []
    BookingPage.objects.filter(pk=page.pk).update(
        owner_hours_read_at=timezone.now() - timedelta(hours=6, minutes=1)
    )
    assert refresh_owner_working_hours() == {"read": 1, "failed": 0}


def test_a_new_main_calendar_means_its_owners_hours(world):
    owner, page = new_york_owner_page(world)
    assert owner_hours.refresh(page)
    colleague = world.staff("carol")
    world.allow(colleague, owner)
    outlook_hours(world, colleague.email, "Europe/London", "10:00", "12:00")
    world.assign(page, {colleague.email: "busy"})
    carol_calendar = PageCalendar.objects.get(page=page, calendar__owner_email=colleague.email)
    client = Client()
    client.force_login(owner)
    response = client.post(
        f"/pages/{page.pk}/calendars/",
        {
            "action": "save_roles",
            **{
                f"role-{pc.calendar_id}": (
                    CalendarRole.MAIN if pc.pk == carol_calendar.pk else CalendarRole.BUSY
                )
                for pc in page.page_calendars.all()
            },
        },
    )
    assert response.status_code == 302, response.content
    page.refresh_from_db()
    assert page.owner_hours_email == colleague.email.lower()
    assert london_starts(page, date(2027, 1, 11)) == ["10:00", "10:30", "11:00", "11:30"]


def test_a_main_calendar_changed_elsewhere_is_caught_by_the_periodic_task(world):
    owner, page = new_york_owner_page(world)
    assert owner_hours.refresh(page)
    colleague = world.staff("carol")
    world.allow(colleague, owner)
    outlook_hours(world, colleague.email, "Europe/London", "10:00", "12:00")
    PageCalendar.objects.filter(page=page).update(role=CalendarRole.BUSY)
    world.assign(page, {colleague.email: "main"})
    assert refresh_owner_working_hours() == {"read": 1, "failed": 0}
    page.refresh_from_db()
    assert page.owner_hours_email == colleague.email.lower()


# --- the editor --------------------------------------------------------------------------------


def test_the_editor_shows_the_hours_read_in_both_zones_and_when(world):
    owner, page = new_york_owner_page(world)
    assert owner_hours.refresh(page)
    client = Client()
    client.force_login(owner)
    html = client.get(f"/pages/{page.pk}/").content.decode()
    assert 'name="use_owner_working_hours"' in html and "checked" in html
    assert "Owner's time (America/New_York)" in html
    assert "This page, this week (Europe/London)" in html
    assert '<td data-zone="owner">09:00\u201317:00</td>' in html
    # This week (December): both zones on winter time, five hours apart.
    assert '<td data-zone="page">14:00\u201322:00</td>' in html
    assert "read from Exchange" in html and "data-owner-hours-read-at" in html
    assert ">just now</time>" in html and "0\u00a0minutes ago" not in html
    # The page's own rows are kept but disabled.
    assert '<fieldset class="weekly-rows" disabled' in html
    assert "Read them again now" in html

    world.sim.go_down()
    response = client.post(f"/pages/{page.pk}/owner-hours/refresh/", follow=True)
    html = response.content.decode()
    assert "Reading them from Exchange failed" in html
    assert "The page goes on using the hours read" in html
    assert '<td data-zone="owner">09:00\u201317:00</td>' in html


def test_without_the_option_the_editor_shows_no_exchange_hours(world):
    owner = world.staff("olivia")
    page = world.page(owner)
    client = Client()
    client.force_login(owner)
    html = client.get(f"/pages/{page.pk}/").content.decode()
    assert "Use the owner&#x27;s Outlook working hours" in html
    assert "data-owner-hours" not in html
    assert '<fieldset class="weekly-rows">' in html


def editor_data(page: BookingPage, *, with_hours: bool = True, **fields):  # type: ignore[no-untyped-def]
    """What the editor posts for `page`: its settings, and its weekly rows unless they were
    shown disabled (a disabled field is not submitted)."""
    data = {
        "title": page.title,
        "slug": page.slug,
        "active": "on",
        "duration_minutes": page.duration_minutes,
        "interval_minutes": page.interval_minutes,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 0,
        "min_notice_minutes": page.min_notice_minutes,
        "window_days": page.window_days,
        "timezone": page.timezone,
        "blocking_statuses": page.blocking_statuses,
        "overrides-TOTAL_FORMS": "0",
        "overrides-INITIAL_FORMS": "0",
        "questions-TOTAL_FORMS": "0",
        "questions-INITIAL_FORMS": "0",
        **fields,
    }
    if with_hours:
        rows = list(page.weekly_hours.all())
        data |= {"hours-TOTAL_FORMS": str(len(rows)), "hours-INITIAL_FORMS": "0"}
        for i, row in enumerate(rows):
            data |= {
                f"hours-{i}-weekday": row.weekday,
                f"hours-{i}-start": f"{row.start:%H:%M}",
                f"hours-{i}-end": f"{row.end:%H:%M}",
            }
    return data

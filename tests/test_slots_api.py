"""GET /api/v1/pages/<slug>/slots over the wire: busy time from the simulator's calendars."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from bookings.models import DateOverride
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]
# The simulator's log names of one free/busy read and one calendar view, per protocol.
FREE_BUSY = {"ews": "GetUserAvailability", "graph": "graph:getSchedule"}
VIEW = {"ews": "FindItem", "graph": "graph:calendarCalendarView"}

LONDON = ZoneInfo("Europe/London")


def get_slots(slug: str, first, last, tz: str | None = None):  # type: ignore[no-untyped-def]
    params = {"start": first.isoformat(), "end": last.isoformat()}
    if tz:
        params["timezone"] = tz
    return Client().get(f"/api/v1/pages/{slug}/slots", params)


def starts(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [s["start"] for s in response.json()["slots"]]


def test_it_lists_the_free_slots_of_a_day_in_the_page_zone(world) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, tz="UTC", hours=(time(9), time(11)), duration_minutes=30)
    day = monday_after().date()
    response = get_slots(page.slug, day, day)
    assert response.status_code == 200
    body = response.json()
    assert body["page"] == page.slug and body["timezone"] == "UTC"
    assert body["duration_minutes"] == 30 and body["stale"] is False
    assert starts(response) == [
        f"{day}T09:00:00+00:00",
        f"{day}T09:30:00+00:00",
        f"{day}T10:00:00+00:00",
        f"{day}T10:30:00+00:00",
    ]
    assert body["slots"][0]["end"] == f"{day}T09:30:00+00:00"


def page_reading(world, where: str, **fields):  # type: ignore[no-untyped-def]
    """A page whose busy time comes from the owner's primary calendar (read with free/busy)
    or from a sub-calendar (read with CalendarView); returns (owner, page, calendar), where
    `calendar` is what add_event needs to put an event there."""
    owner = world.staff("olivia")
    if where == "primary":
        return owner, world.page(owner, **fields), None
    world.sub_calendar(owner.email, "Rota", "Reviewer")
    roles = {owner.email: "main", f"{owner.email}/Rota": "busy"}
    return owner, world.page(owner, roles=roles, **fields), "Rota"


WHERE = pytest.mark.parametrize("where", ["primary", "sub-calendar"])


@WHERE
@pytest.mark.parametrize(
    ("status", "blocks"),
    [
        ("Busy", True),
        ("Tentative", True),
        ("OOF", True),
        ("WorkingElsewhere", True),
        ("Free", False),
    ],
)
def test_each_free_busy_status_blocks_or_not(world, where: str, status: str, blocks: bool) -> None:
    owner, page, calendar = page_reading(world, where, tz="UTC", hours=(time(9), time(11)))
    day = monday_after()
    world.sim.add_event(
        owner.email,
        day.replace(hour=9),
        day.replace(hour=10),
        "Secret",
        status=status,
        calendar=calendar,
    )
    response = get_slots(page.slug, day.date(), day.date())
    nine = f"{day.date()}T09:00:00+00:00"
    assert (nine not in starts(response)) is blocks
    assert "Secret" not in response.content.decode()


@WHERE
def test_a_weekly_recurring_meeting_blocks_every_occurrence(world, where: str) -> None:
    owner, page, calendar = page_reading(world, where, tz="UTC", hours=(time(9), time(11)))
    day = monday_after()
    world.sim.add_event(
        owner.email,
        day.replace(hour=10),
        day.replace(hour=11),
        "Weekly 1:1",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 10},
        calendar=calendar,
    )
    response = get_slots(page.slug, day.date(), (day + timedelta(days=21)).date())
    found = starts(response)
    for week in range(4):
        monday = (day + timedelta(weeks=week)).date()
        assert f"{monday}T09:00:00+00:00" in found
        assert f"{monday}T10:00:00+00:00" not in found
        assert f"{monday}T10:30:00+00:00" not in found


@WHERE
def test_an_all_day_out_of_office_blocks_the_day_in_its_own_zone(world, where: str) -> None:
    owner, page, calendar = page_reading(
        world, where, tz="UTC", hours=(time(0), time(0)), weekdays=range(7)
    )
    day = monday_after()
    # All day on Tuesday in Kolkata = Monday 18:30 UTC to Tuesday 18:30 UTC.
    kolkata = ZoneInfo("Asia/Kolkata")
    tuesday = datetime.combine(day.date() + timedelta(days=1), time(0), tzinfo=kolkata)
    world.sim.add_event(
        owner.email,
        tuesday,
        tuesday + timedelta(days=1),
        "Holiday",
        tz="Asia/Kolkata",
        all_day=True,
        status="OOF",
        calendar=calendar,
    )
    found = starts(get_slots(page.slug, day.date(), (day + timedelta(days=2)).date()))
    assert f"{day.date()}T18:00:00+00:00" in found
    assert f"{day.date()}T18:30:00+00:00" not in found
    tue = day.date() + timedelta(days=1)
    assert f"{tue}T12:00:00+00:00" not in found
    assert f"{tue}T18:30:00+00:00" in found


def test_a_sub_calendar_used_for_busy_time_blocks_and_one_with_no_role_does_not(world) -> None:
    owner = world.staff("olivia")
    world.sub_calendar(owner.email, "Team", "Reviewer")
    world.sub_calendar(owner.email, "Birthdays")
    page = world.page(
        owner,
        tz="UTC",
        hours=(time(9), time(12)),
        roles={owner.email: "main", f"{owner.email}/Team": "busy"},
    )
    world.assign(page, {f"{owner.email}/Birthdays": ""})
    day = monday_after()
    world.sim.add_event(
        owner.email, day.replace(hour=9), day.replace(hour=10), "Standup", calendar="Team"
    )
    world.sim.add_event(
        owner.email, day.replace(hour=11), day.replace(hour=12), "Party", calendar="Birthdays"
    )
    found = starts(get_slots(page.slug, day.date(), day.date()))
    assert f"{day.date()}T09:00:00+00:00" not in found
    assert f"{day.date()}T11:00:00+00:00" in found


def test_a_colleague_sharing_only_free_busy_still_blocks_slots(world) -> None:
    owner = world.staff("olivia")
    colleague = world.person("peter")  # shares nothing: the org default is free/busy only
    page = world.page(owner, tz="UTC", roles={owner.email: "main", colleague.email: "busy"})
    assert page.page_calendars.get(role="busy").calendar.permission_level == "FreeBusyTimeOnly"
    day = monday_after()
    world.sim.add_event(colleague.email, day.replace(hour=9), day.replace(hour=10), "Private")
    response = get_slots(page.slug, day.date(), day.date())
    assert f"{day.date()}T09:00:00+00:00" not in starts(response)
    assert f"{day.date()}T10:00:00+00:00" in starts(response)
    assert "Private" not in response.content.decode()


@pytest.mark.parametrize(
    ("viewer", "winter", "summer"),
    [
        ("America/New_York", "04:00:00-05:00", "04:00:00-04:00"),
        ("Asia/Kolkata", "14:30:00+05:30", "13:30:00+05:30"),
    ],
)
def test_a_london_page_looks_right_from_other_zones_across_both_2027_dst_changes(
    world, settings, viewer: str, winter: str, summer: str
) -> None:
    settings.BUSY_CACHE_SECONDS = 0
    owner = world.staff("olivia")
    page = world.page(owner, tz="Europe/London", hours=(time(9), time(10)), window_days=730)
    # 2027: the UK springs forward on 28 March, the US on 14 March; back on 31 October
    # (UK) and 7 November (US). Check a Monday in each regime.
    cases = {
        "2027-03-08": winter,  # both on standard time
        "2027-03-15": "05:00:00-04:00" if viewer == "America/New_York" else winter,
        "2027-03-29": summer,  # both on summer time
        "2027-11-01": "05:00:00-04:00" if viewer == "America/New_York" else winter,
        "2027-11-08": winter,
    }
    for day, expected in cases.items():
        local_day = datetime.fromisoformat(day).date()
        response = get_slots(page.slug, local_day, local_day, tz=viewer)
        assert response.json()["timezone"] == viewer
        first = starts(response)[0]
        assert first.endswith(expected), (day, first)


def test_minimum_notice_hides_slots_too_soon(world) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, tz="UTC", hours=(time(0), time(0)), weekdays=range(7))
    page.min_notice_minutes = 24 * 60
    page.save()
    today = datetime.now(UTC).date()
    found = starts(get_slots(page.slug, today, today + timedelta(days=2)))
    first = datetime.fromisoformat(found[0])
    assert first >= datetime.now(UTC) + timedelta(hours=24)
    assert first < datetime.now(UTC) + timedelta(hours=25)


def test_the_booking_window_ends_the_slots(world) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, tz="UTC", hours=(time(9), time(10)), weekdays=range(7))
    page.window_days = 3
    page.save()
    today = datetime.now(UTC).date()
    found = {s[:10] for s in starts(get_slots(page.slug, today, today + timedelta(days=10)))}
    assert max(found) <= str(today + timedelta(days=2))
    assert str(today + timedelta(days=1)) in found


def test_a_daily_limit_closes_a_day_that_is_full(world) -> None:
    from bookings import actions

    owner = world.staff("olivia")
    page = world.page(owner, tz="UTC", hours=(time(9), time(12)), max_per_day=1)
    day = monday_after()
    customer = actions.CustomerDetails("Ann", "ann@example.com", "UTC")
    actions.book(page, day.replace(hour=9), customer)
    found = starts(get_slots(page.slug, day.date(), (day + timedelta(days=1)).date()))
    assert not [s for s in found if s.startswith(str(day.date()))]
    assert [s for s in found if s.startswith(str((day + timedelta(days=1)).date()))]


def test_an_override_closes_a_day(world) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, tz="UTC")
    day = monday_after()
    DateOverride.objects.create(page=page, date=day.date(), hours=[])
    assert starts(get_slots(page.slug, day.date(), day.date())) == []


def test_exchange_down_means_availability_unknown_not_invented(world, settings) -> None:
    settings.BUSY_CACHE_STALE_SECONDS = 0
    owner = world.staff("olivia")
    page = world.page(owner, tz="UTC")
    day = monday_after()
    world.sim.go_down()
    response = get_slots(page.slug, day.date(), day.date())
    assert response.status_code == 503
    assert "try again" in response.json()["detail"]


def test_a_recent_cached_answer_is_served_and_flagged_when_exchange_goes_down(
    world, settings
) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, tz="UTC")
    day = monday_after()
    assert get_slots(page.slug, day.date(), day.date()).json()["stale"] is False
    settings.BUSY_CACHE_SECONDS = 0  # the cached answer is now too old to be served as fresh
    world.sim.go_down()
    response = get_slots(page.slug, day.date(), day.date())
    assert response.status_code == 200
    assert response.json()["stale"] is True
    assert response.json()["slots"]


def test_busy_time_is_cached_and_one_request_reads_each_calendar_once(world) -> None:
    owner = world.staff("olivia")
    world.sub_calendar(owner.email, "Team", "Reviewer")
    others = [world.person(f"p{i}") for i in range(3)]
    roles = {owner.email: "main", f"{owner.email}/Team": "busy"}
    roles.update({p.email: "busy" for p in others})
    page = world.page(owner, tz="UTC", roles=roles)
    day = monday_after()
    world.sim.clear_log()
    assert get_slots(page.slug, day.date(), day.date()).status_code == 200
    operations = [entry.operation for entry in world.sim.log]
    # One batched free/busy request for the four primaries, one CalendarView for "Team".
    assert sorted(operations) == sorted([VIEW[world.protocol], FREE_BUSY[world.protocol]])
    world.sim.clear_log()
    assert get_slots(page.slug, day.date(), day.date()).status_code == 200
    assert world.sim.log == []


def test_a_62_day_range_is_read_in_windows_exchange_accepts(world) -> None:
    # Exchange answers free/busy for at most 42 days at a time (ErrorTimeIntervalTooBig).
    owner = world.staff("olivia")
    page = world.page(
        owner, tz="UTC", hours=(time(9), time(10)), weekdays=range(7), window_days=120
    )
    first = monday_after()
    last = first + timedelta(days=61)
    for day in (first, first + timedelta(days=30), last):
        world.sim.add_event(owner.email, day.replace(hour=9), day.replace(hour=10), "Busy")
    world.sim.clear_log()
    response = get_slots(page.slug, first.date(), last.date())
    assert response.status_code == 200, response.content
    found = starts(response)
    for day in (first, first + timedelta(days=30), last):
        assert f"{day.date()}T09:00:00+00:00" not in found
    assert f"{(first + timedelta(days=1)).date()}T09:00:00+00:00" in found
    # Over Graph too: getSchedule answers windows under 62 days, and this range is 62.
    assert [e.operation for e in world.sim.log] == [FREE_BUSY[world.protocol]] * 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2027-01-01", "end": "2027-01-02", "timezone": "Mars/Base"}, "timezone"),
        ({"start": "2027-13-01", "end": "2027-01-02"}, "start"),
        ({"end": "2027-01-02"}, "start"),
        ({"start": "2027-01-05", "end": "2027-01-02"}, "end"),
        ({"start": "2027-01-01", "end": "2027-03-15"}, "end"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_parameter(world, params, field) -> None:
    page = world.page(world.staff("olivia"))
    response = Client().get(f"/api/v1/pages/{page.slug}/slots", params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_an_unknown_or_inactive_page_is_404(world) -> None:
    page = world.page(world.staff("olivia"))
    page.active = False
    page.save()
    for slug in (page.slug, "no-such-page"):
        response = get_slots(slug, monday_after().date(), monday_after().date())
        assert response.status_code == 404


def test_a_range_including_today_is_still_served_from_the_cache(world) -> None:
    page = world.page(world.staff("olivia"), tz="UTC", weekdays=range(7))
    today = datetime.now(UTC).date()
    assert get_slots(page.slug, today, today + timedelta(days=2)).status_code == 200
    world.sim.clear_log()
    assert get_slots(page.slug, today, today + timedelta(days=2)).status_code == 200
    assert world.sim.log == []


def test_ranges_customers_look_at_are_kept_warm_by_the_periodic_task(world, settings) -> None:
    from django.core.cache import cache

    from calendars.tasks import warm_busy_cache

    # Ranges an earlier test in this process looked at are remembered for a while, and a
    # reused primary key can make their calendars look alive: start from nothing.
    cache.clear()
    # Six seconds: each step below has three (half the life) to happen in on a loaded test
    # machine; with two it once didn't.
    settings.BUSY_CACHE_SECONDS = 6
    page = world.page(world.staff("olivia"), tz="UTC")
    day = monday_after().date()
    assert get_slots(page.slug, day, day).status_code == 200
    assert warm_busy_cache() == 0  # still fresh: nothing to do
    import time as time_module

    time_module.sleep(3.2)  # past half the cache's life
    world.sim.clear_log()
    assert warm_busy_cache() == 1
    assert [e.operation for e in world.sim.log] == [FREE_BUSY[world.protocol]]
    world.sim.clear_log()
    assert get_slots(page.slug, day, day).status_code == 200
    assert world.sim.log == []  # the customer got the warmed answer


def test_an_outage_does_not_mail_the_admins_once_per_customer(world, settings) -> None:
    from django.core import mail

    settings.ADMINS = [("Ops", "ops@example.org")]
    settings.BUSY_CACHE_STALE_SECONDS = 0
    page = world.page(world.staff("olivia"), tz="UTC")
    world.sim.go_down()
    for _ in range(3):
        assert get_slots(page.slug, monday_after().date(), monday_after().date()).status_code == 503
    assert mail.outbox == []


def test_during_an_outage_the_last_answer_is_served_even_after_a_booking_moved_on(
    world, settings
) -> None:
    from bookings import actions

    page = world.page(world.staff("olivia"), tz="UTC", hours=(time(9), time(12)))
    day = monday_after()
    assert get_slots(page.slug, day.date(), day.date()).json()["stale"] is False
    booking = actions.book(
        page, day.replace(hour=9), actions.CustomerDetails("A", "a@x.org", "UTC")
    )
    actions._after_change(booking, "booked")  # bumps the owner's cache generation
    world.sim.go_down()
    response = get_slots(page.slug, day.date(), day.date())
    assert response.status_code == 200
    body = response.json()
    assert body["stale"] is True
    # The booking just made is still excluded: bookings come from the database.
    assert f"{day.date()}T09:00:00+00:00" not in starts(response)
    assert f"{day.date()}T10:00:00+00:00" in starts(response)

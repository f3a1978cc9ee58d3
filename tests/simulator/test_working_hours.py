"""GetUserAvailability's WorkingHours: each mailbox's Outlook work hours and time zone, read
through exchangelib (FreeBusyView.working_hours / working_hours_timezone) and schema-checked."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from exchangelib import EWSDateTime, EWSTimeZone

from calendars.simulator.model import WorkingPeriod
from calendars.simulator.seed import load_seed

UTC = EWSTimeZone("UTC")


def view_of(account, email, requested_view="DetailedMerged", year=2027):
    start = EWSDateTime(year, 1, 4, tzinfo=UTC)
    (view,) = account.protocol.get_free_busy_info(
        [(email, "Required", False)],
        start,
        start + timedelta(days=1),
        requested_view=requested_view,
    )
    return view


def test_a_new_mailbox_works_exchanges_default_week(sim, new_user, login):
    owner, svc = new_user("owner"), new_user("svc")
    view = view_of(login(svc), owner.email)
    (period,) = view.working_hours
    assert period.weekdays == [1, 2, 3, 4, 5]  # Monday..Friday
    assert (period.start, period.end) == (time(8), time(17))
    zone = view.working_hours_timezone
    assert zone.bias == 0  # UTC, and no transitions
    assert zone.standard_time.iso_month == 0 and zone.daylight_time.iso_month == 0


def test_the_mailboxs_zone_comes_as_windows_style_rules(sim, new_user, login):
    owner, svc = new_user("owner"), new_user("svc")
    with sim.store.lock:
        mbx = sim.store.mailbox(owner.email)
        mbx.timezone = "America/New_York"
        mbx.working_hours = (WorkingPeriod(("Monday", "Wednesday"), 9 * 60, 17 * 60 + 30),)
    view = view_of(login(svc), owner.email)
    (period,) = view.working_hours
    assert period.weekdays == [1, 3]
    assert (period.start, period.end) == (time(9), time(17, 30))
    zone = view.working_hours_timezone
    assert zone.bias == 300  # UTC = local + 5 h
    # Back to standard time on the first Sunday of November at 02:00 (daylight time) ...
    std = zone.standard_time
    assert (std.bias, std.iso_month, std.occurrence, std.weekday, std.time) == (
        0,
        11,
        1,
        7,
        time(2),
    )
    # ... and an hour ahead from the second Sunday of March at 02:00 (standard time).
    dst = zone.daylight_time
    assert (dst.bias, dst.iso_month, dst.occurrence, dst.weekday, dst.time) == (
        -60,
        3,
        2,
        7,
        time(2),
    )


def test_europes_last_sunday_is_day_order_five(sim, new_user, login):
    owner, svc = new_user("owner"), new_user("svc")
    with sim.store.lock:
        sim.store.mailbox(owner.email).timezone = "Europe/Berlin"
    zone = view_of(login(svc), owner.email).working_hours_timezone
    assert zone.bias == -60
    assert (zone.daylight_time.iso_month, zone.daylight_time.occurrence) == (3, 5)
    assert (zone.standard_time.iso_month, zone.standard_time.time) == (10, time(3))


@pytest.mark.parametrize("requested_view", ["FreeBusy", "FreeBusyMerged", "Detailed"])
def test_every_view_read_from_the_mailbox_carries_working_hours(
    sim, new_user, login, requested_view
):
    owner, svc = new_user("owner"), new_user("svc")
    view = view_of(login(svc), owner.email, requested_view)
    assert view.working_hours and view.working_hours_timezone is not None


def test_free_busy_only_permission_still_shows_working_hours(sim, new_user, login):
    owner, svc = new_user("owner"), new_user("svc")  # Default: FreeBusyTimeOnly
    view = view_of(login(svc), owner.email, "Detailed")
    assert view.view_type == "FreeBusy"  # downgraded ...
    assert view.working_hours  # ... but the work hours are there


def test_merged_only_has_no_working_hours(sim, new_user, login):
    owner, svc = new_user("owner"), new_user("svc")
    view = view_of(login(svc), owner.email, "MergedOnly")
    assert view.working_hours is None and view.working_hours_timezone is None


def test_working_hours_ending_at_midnight_say_1440(sim, new_user, login):
    owner, svc = new_user("owner"), new_user("svc")
    with sim.store.lock:
        sim.store.mailbox(owner.email).working_hours = (WorkingPeriod(("Saturday",), 600, 1440),)
    # exchangelib reads 1440 as 00:00 (the product reads the minutes itself).
    (period,) = view_of(login(svc), owner.email).working_hours
    assert (period.start, period.end) == (time(10), time(0))


def test_seeds_set_the_zone_and_the_working_hours(sim, new_user, login):
    svc = new_user("svc")
    email = f"seeded-{svc.email}"
    load_seed(
        sim,
        {
            "mailboxes": [
                {
                    "email": email,
                    "password": "pw",
                    "timezone": "Asia/Tokyo",
                    "working_hours": [
                        {"days": ["Monday", "Tuesday"], "start": "10:00", "end": "18:00"},
                        {"days": ["Friday"], "start": "10:00", "end": "24:00"},
                    ],
                }
            ]
        },
    )
    view = view_of(login(svc), email)
    assert [(p.weekdays, p.start, p.end) for p in view.working_hours] == [
        ([1, 2], time(10), time(18)),
        ([5], time(10), time(0)),
    ]
    assert view.working_hours_timezone.bias == -540
    with pytest.raises(ValueError, match="unknown working_hours keys"):
        load_seed(
            sim,
            {
                "mailboxes": [
                    {
                        "email": "x" + email,
                        "password": "p",
                        "working_hours": {"days": ["Monday"], "from": "09:00"},
                    }
                ]
            },
        )

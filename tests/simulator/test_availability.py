"""GetUserAvailability (free/busy) and GetServerTimeZones through exchangelib."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import (
    ErrorMailboxDataArrayTooBig,
    ErrorMailRecipientNotFound,
    ErrorTimeIntervalTooBig,
)

LONDON = ZoneInfo("Europe/London")


def window(tz="Europe/London", days=14):
    zone = EWSTimeZone(tz)
    start = EWSDateTime(2025, 3, 24, tzinfo=zone)
    return start, start + timedelta(days=days)


def free_busy(account, emails, tz="Europe/London"):
    start, end = window(tz)
    return list(
        account.protocol.get_free_busy_info([(e, "Required", False) for e in emails], start, end)
    )


def test_a_weekly_busy_series_is_expanded_in_free_busy(sim, new_user, login):
    alice, svc = new_user("alice"), new_user("svc")
    first = datetime(2025, 3, 3, 9, tzinfo=LONDON)
    sim.add_event(
        alice.email,
        first,
        first + timedelta(hours=1),
        "Stand-up",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 10},
    )
    (view,) = free_busy(login(svc), [alice.email])
    events = view.calendar_events
    assert [(e.start.day, e.start.hour, e.busy_type) for e in events] == [
        (24, 9, "Busy"),
        (31, 9, "Busy"),
    ]
    assert [e.operation for e in sim.log] == ["GetServerTimeZones", "GetUserAvailability"]
    assert sim.log[-1].target == alice.email


def test_times_are_wall_clock_in_the_requests_time_zone(sim, new_user, login):
    alice, svc = new_user("alice"), new_user("svc")
    start = datetime(2025, 3, 25, 14, tzinfo=LONDON)
    sim.add_event(alice.email, start, start + timedelta(hours=1), "Call", tz="Europe/London")
    (view,) = free_busy(
        login(svc, timezone="America/New_York"), [alice.email], tz="America/New_York"
    )
    (event,) = view.calendar_events
    assert (event.start.hour, event.end.hour) == (
        10,
        11,
    )  # 14:00 London is 10:00 New York that week


def test_free_events_are_reported_as_free_and_all_day_oof_as_oof(sim, new_user, login):
    alice, svc = new_user("alice"), new_user("svc")
    lunch = datetime(2025, 3, 26, 12, tzinfo=LONDON)
    sim.add_event(
        alice.email,
        lunch,
        lunch + timedelta(hours=1),
        "Optional lunch",
        status="Free",
        tz="Europe/London",
    )
    sim.add_event(
        alice.email,
        datetime(2025, 3, 27, tzinfo=LONDON),
        datetime(2025, 3, 28, tzinfo=LONDON),
        "Leave",
        status="OOF",
        all_day=True,
        tz="Europe/London",
    )
    (view,) = free_busy(login(svc), [alice.email])
    assert [e.busy_type for e in view.calendar_events] == ["Free", "OOF"]
    assert view.merged.count("3") == 48  # one OOF day of 30-minute slots
    assert "0" in view.merged and "2" not in view.merged


def test_only_the_primary_calendar_counts(sim, new_user, login):
    alice, svc = new_user("alice"), new_user("svc")
    rota = sim.add_calendar(alice.email, "Rota")
    start = datetime(2025, 3, 25, 9, tzinfo=LONDON)
    sim.add_event(
        alice.email, start, start + timedelta(hours=1), "Sub-calendar event", calendar=rota
    )
    (view,) = free_busy(login(svc), [alice.email])
    assert not view.calendar_events


def test_an_unknown_mailbox_fails_only_its_own_entry(sim, new_user, login):
    alice, bob, svc = new_user("alice"), new_user("bob"), new_user("svc")
    start = datetime(2025, 3, 25, 9, tzinfo=LONDON)
    sim.add_event(bob.email, start, start + timedelta(hours=1), "Busy")
    first, missing, last = free_busy(login(svc), [alice.email, "ghost@contoso.example", bob.email])
    assert isinstance(missing, ErrorMailRecipientNotFound)
    assert not first.calendar_events
    assert len(last.calendar_events) == 1


def test_a_window_longer_than_42_days_is_refused_as_a_whole(sim, new_user, login):
    alice, svc = new_user("alice"), new_user("svc")
    account = login(svc)
    start, _ = window()
    mailbox = [(alice.email, "Required", False)]
    assert list(account.protocol.get_free_busy_info(mailbox, start, start + timedelta(days=42)))
    with pytest.raises(ErrorTimeIntervalTooBig):
        list(account.protocol.get_free_busy_info(mailbox, start, start + timedelta(days=43)))


def test_more_than_a_hundred_mailboxes_are_refused_as_a_whole(sim, new_user, login, monkeypatch):
    from exchangelib.services import GetUserAvailability

    # exchangelib sends at most 100 per request itself (its CHUNK_SIZE, for this very limit);
    # a client that sends more is refused.
    monkeypatch.setattr(GetUserAvailability, "CHUNK_SIZE", 200)
    account = login(new_user("svc"))
    start, end = window()
    people = [(new_user(f"p{i}").email, "Required", False) for i in range(101)]
    assert len(list(account.protocol.get_free_busy_info(people[:100], start, end))) == 100
    with pytest.raises(ErrorMailboxDataArrayTooBig):
        list(account.protocol.get_free_busy_info(people, start, end))


def test_server_time_zones_come_from_the_timezones_module(sim, new_user, login):
    account = login(new_user("alice"))
    zones = list(account.protocol.get_timezones(return_full_timezone_data=False))
    assert "W. Europe Standard Time" in {z.id for z in zones}

"""Each process keeps a page's hours, overrides and calendars in memory between slots
requests (bookings/slots.py); every way staff change them must show in the slots at once."""

from __future__ import annotations

from datetime import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bookings.models import BookingPage, DateOverride, WeeklyHours, save_roles
from tests.test_page_editor import editor_data
from tests.test_staff_api import client_for
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]


def starts(page: BookingPage, day) -> list[str]:  # type: ignore[no-untyped-def]
    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots", {"start": day.isoformat(), "end": day.isoformat()}
    )
    assert response.status_code == 200, response.content
    return [s["start"][11:16] for s in response.json()["slots"]]


@pytest.fixture
def page(world) -> BookingPage:  # type: ignore[no-untyped-def]
    owner = world.staff("olivia")
    return world.page(owner, tz="UTC", hours=(time(9), time(10)), duration_minutes=30)


def test_a_second_slots_request_does_not_read_the_schedule_again(page) -> None:
    day = monday_after().date()
    with CaptureQueriesContext(connection) as first:
        starts(page, day)
    with CaptureQueriesContext(connection) as second:
        starts(page, day)
    tables = ("weekly_hours", "dateoverride", "pagecalendar")
    assert any(t in q["sql"].lower() for q in first.captured_queries for t in tables)
    assert not any(t in q["sql"].lower() for q in second.captured_queries for t in tables)


def test_hours_saved_in_the_page_editor_show_at_once(page, client) -> None:
    day = monday_after().date()
    # From no hours at all: the editor then deletes nothing and bulk-creates the new rows,
    # so no row signal fires.
    WeeklyHours.objects.filter(page=page).delete()
    assert starts(page, day) == []
    client.force_login(page.owner)
    data = editor_data(
        hours=[(0, "14:00", "15:00")],
        slug=page.slug,
        timezone="UTC",
        min_notice_minutes="0",
        buffer_after_minutes="0",
    )
    response = client.post(f"/pages/{page.pk}/", data)
    assert response.status_code == 302, response.content
    assert starts(page, day) == ["14:00", "14:15", "14:30"]


def test_hours_replaced_through_the_staff_api_show_at_once(page) -> None:
    day = monday_after().date()
    WeeklyHours.objects.filter(page=page).delete()  # as above: nothing for the API to delete
    assert starts(page, day) == []
    response = client_for(page.owner).patch(
        f"/api/v1/staff/pages/{page.pk}/",
        {"weekly_hours": [{"weekday": 0, "start": "11:00", "end": "12:00"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert starts(page, day) == ["11:00", "11:30"]


def test_an_override_or_an_extra_range_added_one_row_at_a_time_shows_at_once(page) -> None:
    day = monday_after().date()
    assert starts(page, day) == ["09:00", "09:30"]
    WeeklyHours.objects.create(page=page, weekday=0, start=time(16), end=time(17))
    assert starts(page, day) == ["09:00", "09:30", "16:00", "16:30"]
    DateOverride.objects.create(page=page, date=day, hours=[])
    assert starts(page, day) == []
    DateOverride.objects.filter(page=page).delete()
    assert starts(page, day) == ["09:00", "09:30", "16:00", "16:30"]


def test_a_calendar_given_a_role_starts_blocking_at_once(world, page) -> None:
    day = monday_after()
    colleague = world.person("carol")
    world.sim.add_event(colleague.email, day.replace(hour=9), day.replace(hour=10), "Busy")
    assert starts(page, day.date()) == ["09:00", "09:30"]
    world.assign(page, {colleague.email: ""})  # added, no role yet
    assert starts(page, day.date()) == ["09:00", "09:30"]
    ref = page.page_calendars.get(calendar__owner_email=colleague.email).calendar
    save_roles(page, {ref.pk: "busy"})
    assert starts(page, day.date()) == []


def test_a_rediscovered_calendar_is_read_the_new_way_at_once(world, page) -> None:
    # The owner's "Rota" sub-calendar is read as busy time; then it is replaced by another
    # folder with the same name (deleted and re-created in Outlook): rediscovery updates
    # the reference, and the next slots request reads the new folder.
    owner = page.owner
    day = monday_after()
    world.sub_calendar(owner.email, "Rota", "Reviewer")
    world.assign(page, {f"{owner.email}/Rota": "busy"})
    assert starts(page, day.date()) == ["09:00", "09:30"]
    ref = page.page_calendars.get(role="busy").calendar
    ref.folder_id = world.folder_ref(world.sub_calendar(owner.email, "Rota 2", "Reviewer"))
    ref.save()  # one row at a time, as discovery's update_or_create saves it
    world.sim.add_event(
        owner.email, day.replace(hour=9), day.replace(hour=10), "Shift", calendar="Rota 2"
    )
    assert starts(page, day.date()) == []


def test_a_bookings_final_check_reads_the_schedule_from_the_database(page) -> None:
    from bookings.slots import schedule_for

    kept = schedule_for(page)
    assert schedule_for(page) is kept
    assert schedule_for(page, fresh=True) is not kept
    page.refresh_from_db()
    WeeklyHours.objects.filter(page=page).update(end=time(11))  # no signal: bulk update
    assert schedule_for(page, fresh=True).weekly[0] == [(time(9), time(11))]

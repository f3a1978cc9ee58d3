"""A staff member sets up a booking page in a real browser: settings and weekly hours, calendar
owners and the three calendar roles (main booking refused for a free/busy-only calendar), then
watches a booking's Exchange write status and cancels it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from bookings import actions
from bookings.models import BookingPage, BookingStatus, PageCalendarOwner, WeeklyHours
from tests.browser.conftest import assert_fits, login
from tests.world import monday_after

LONDON = ZoneInfo("Europe/London")


def role_select(browser: Page, owner: str, calendar: str):  # type: ignore[no-untyped-def]
    return browser.get_by_label(f"Role of {owner} / {calendar}")


def test_staff_set_up_a_page_with_its_calendars_and_cancel_a_booking(browser: Page, world) -> None:  # type: ignore[no-untyped-def]
    alice = world.staff("alice")
    corporate = world.corporate()
    # Alice's own "Team" calendar takes copies of bookings; Bob shares nothing (the
    # organisation's default: free/busy only); Carol shares a "Projects" sub-calendar.
    world.sim.add_calendar(alice.email, "Team")
    world.sim.set_permission(alice.email, corporate.email, "Editor", calendar="Team")
    bob = world.person("bob")
    carol = world.person("carol")
    world.sim.add_calendar(carol.email, "Projects")
    world.sim.set_permission(carol.email, corporate.email, "Reviewer")
    world.sim.set_permission(carol.email, corporate.email, "Reviewer", calendar="Projects")

    login(browser, alice.username)
    browser.goto("/pages/new/")

    # The page: its address follows the title as it is typed.
    browser.get_by_label("Title").fill("Tax advice")
    expect(browser.get_by_label("Public address")).to_have_value("tax-advice")
    slug = f"tax-{world.tag}"
    browser.get_by_label("Public address").fill(slug)
    browser.get_by_label("Time zone").fill("Europe/London")
    browser.get_by_label("Minimum notice (minutes)").fill("0")

    # Weekly hours: Monday becomes two ranges; Saturday gets one through "Add hours".
    browser.get_by_label("Monday to").first.fill("12:00")
    browser.get_by_role("button", name="Add hours on Monday").click()
    browser.get_by_label("Monday from").last.fill("13:00")
    browser.get_by_label("Monday to").last.fill("17:00")
    for day in ("Tuesday", "Wednesday", "Thursday", "Friday"):
        browser.get_by_role("button", name=f"Remove this {day} range").first.click()
    browser.get_by_role("button", name="Add hours on Saturday").click()
    browser.get_by_label("Saturday from").last.fill("10:00")
    browser.get_by_label("Saturday to").last.fill("12:00")
    browser.get_by_role("button", name="Create booking page").click()

    expect(browser.get_by_text("Booking page created.")).to_be_visible()
    page = BookingPage.objects.get(slug=slug)
    assert page.owner == alice
    hours = sorted(page.weekly_hours.values_list("weekday", "start", "end"))
    assert hours == [
        (0, time(9), time(12)),
        (0, time(13), time(17)),
        (5, time(10), time(12)),
    ]

    # The calendars section starts with Alice's own mailbox.
    expect(browser.get_by_role("heading", name=alice.email)).to_be_visible()
    expect(role_select(browser, alice.email, "Team")).to_be_visible()

    for person in (bob, carol):
        browser.get_by_label("Calendar owner's email").fill(person.email)
        browser.get_by_role("button", name="Add calendar owner").click()
        expect(browser.get_by_role("heading", name=person.email)).to_be_visible()

    # Bob's calendar is free/busy only: the UI offers busy time but refuses main booking.
    bobs = role_select(browser, bob.email, "Calendar")
    expect(bobs.locator('option[value="main"]')).to_be_disabled()
    expect(bobs.locator('option[value="additional"]')).to_be_disabled()
    expect(bobs.locator('option[value="busy"]')).to_be_enabled()
    section = browser.get_by_role("region", name=f"Calendars of {bob.email}")
    expect(section).to_contain_text("Free/busy time only")
    expect(section).to_contain_text("bookings need Editor or Delegate")

    role_select(browser, alice.email, "Calendar").select_option("main")
    role_select(browser, alice.email, "Team").select_option("additional")
    bobs.select_option("busy")
    role_select(browser, carol.email, "Projects").select_option("busy")
    browser.get_by_role("button", name="Save calendar roles").click()
    expect(browser.get_by_text("Calendar roles saved.")).to_be_visible()
    roles = {
        (pc.calendar.owner_email, pc.calendar.name): pc.role for pc in page.page_calendars.all()
    }
    assert roles == {
        (alice.email, "Calendar"): "main",
        (alice.email, "Team"): "additional",
        (bob.email, "Calendar"): "busy",
        (carol.email, "Projects"): "busy",
    }
    expect(role_select(browser, carol.email, "Projects")).to_have_value("busy")

    # A booking arrives; its events are written to both booking calendars.
    start = datetime.combine(monday_after().date(), time(10), tzinfo=LONDON).astimezone(UTC)
    customer = actions.CustomerDetails("Ann Customer", "ann@example.com", "Asia/Kolkata")
    booking = actions.book(page, start, customer)
    assert len(world.sim.events(alice.email)) == 1
    assert len(world.sim.events(alice.email, "Team")) == 1

    browser.get_by_role("link", name="Bookings", exact=True).first.click()
    row = browser.get_by_role("row").filter(has_text="Ann Customer")
    expect(row).to_contain_text("In Exchange")
    row.get_by_role("link").click()

    expect(browser.get_by_role("heading", name="Ann Customer")).to_be_visible()
    writes = browser.get_by_role("region", name="Exchange calendars")
    expect(writes.get_by_role("row").filter(has_text=f"{alice.email} / Calendar")).to_contain_text(
        f"In {alice.email}'s calendar"
    )
    expect(writes.get_by_role("row").filter(has_text=f"{alice.email} / Team")).to_contain_text(
        f"In {alice.email}'s “Team” calendar"
    )
    expect(browser.locator("#customer-time")).to_contain_text(
        f"{start.astimezone(ZoneInfo('Asia/Kolkata')):%H:%M}"
    )

    browser.get_by_label("Reason (sent to the customer)").fill("Off sick")
    browser.get_by_role("button", name="Cancel booking").click()
    expect(browser.get_by_text("The booking is cancelled")).to_be_visible()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancel_reason == "Off sick"
    assert world.sim.events(alice.email) == []
    assert world.sim.events(alice.email, "Team") == []
    assert WeeklyHours.objects.filter(page=page).count() == 3


@pytest.mark.parametrize("size", ["browser", "phone"])
def test_owner_cards_share_one_column_layout_and_fit_at_both_widths(
    request: pytest.FixtureRequest, size: str
) -> None:
    request.getfixturevalue("live_server")
    world = request.getfixturevalue("world")
    tab: Page = request.getfixturevalue(size)
    alice = world.staff("alice")
    corporate = world.corporate()
    # Names and permissions of very different lengths, which an auto layout sized per card.
    world.sim.add_calendar(alice.email, "Team")
    world.sim.set_permission(alice.email, corporate.email, "Editor", calendar="Team")
    bob = world.person("bob")  # free/busy only
    carol = world.person("carol")
    world.sim.add_calendar(carol.email, "Quarterly planning and long-running projects")
    world.sim.set_permission(carol.email, corporate.email, "Reviewer")
    world.sim.set_permission(
        carol.email,
        corporate.email,
        "Reviewer",
        calendar="Quarterly planning and long-running projects",
    )
    page = world.page(alice)
    for person in (bob, carol):
        PageCalendarOwner.objects.get_or_create(page=page, email=person.email)

    login(tab, alice.username)
    tab.goto(f"/pages/{page.pk}/calendars/")
    expect(tab.get_by_role("heading", name=carol.email)).to_be_visible()
    expect(tab.locator(".calendar-owner")).to_have_count(3)
    assert_fits(tab)
    if size == "browser":
        # The same column edges in every card.
        edges = tab.locator(".calendar-table").evaluate_all(
            "ts => ts.map(t => [...t.rows[0].cells].map(c => c.getBoundingClientRect().left))"
        )
        assert len(edges) == 3 and all(e == edges[0] for e in edges), edges
    else:
        # Stacked: each calendar's name, permission and role one under the other.
        row = tab.locator(".calendar-table tbody tr").first
        cells = row.locator("td").evaluate_all(
            "cells => cells.map(c => c.getBoundingClientRect().top)"
        )
        assert cells == sorted(cells) and len(set(cells)) == 3
    # An address with no mailbox is refused, with what was typed kept.
    tab.get_by_label("Calendar owner's email").fill(f"dave-{world.tag}@contoso.example")
    tab.get_by_role("button", name="Add calendar owner").click()
    expect(tab.get_by_text("There is no mailbox")).to_be_visible()
    expect(tab.get_by_label("Calendar owner's email")).to_have_value(
        f"dave-{world.tag}@contoso.example"
    )
    expect(tab.locator(".calendar-owner")).to_have_count(3)
    assert_fits(tab)
    if os.environ.get("G_SHOTS"):
        tab.screenshot(path=f"/tmp/G-shots/calendars-{size}.png", full_page=True)

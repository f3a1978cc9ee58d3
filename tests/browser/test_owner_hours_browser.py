"""In a real browser, at desktop and phone widths: a staff member switches a page to the
owner's Outlook working hours and sees them in both zones, and a member's connection page
says how the booking mailbox reaches their calendar."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from calendars.simulator.model import WorkingPeriod
from tests.browser.conftest import login

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


@pytest.mark.parametrize("size", ["browser", "phone"])
def test_a_page_takes_its_hours_from_the_owners_outlook(
    size: str, request: pytest.FixtureRequest, live_server, world
) -> None:  # type: ignore[no-untyped-def]
    # live_server first: the browser fixture, looked up by name below, needs its database.
    tab: Page = request.getfixturevalue(size)
    alice = world.staff("alice")
    with world.sim.store.lock:
        mailbox = world.sim.store.mailbox(alice.email)
        mailbox.timezone = "America/New_York"
        mailbox.working_hours = (WorkingPeriod(WEEKDAYS, 9 * 60, 17 * 60),)
    page = world.page(alice, tz="Europe/London")

    login(tab, alice.username)
    tab.goto(f"/pages/{page.pk}/")
    tab.get_by_label("Use the owner's Outlook working hours").check()
    tab.get_by_role("button", name="Save changes").click()

    hours = tab.locator("[data-owner-hours-table]")
    expect(hours).to_be_visible()
    monday = hours.locator('tr[data-day="Monday"]')
    expect(monday.locator('[data-zone="owner"]')).to_contain_text("09:00")
    expect(monday.locator('[data-zone="owner"]')).to_contain_text("17:00")
    # 09:00 in New York is 14:00 in London (this week: both on winter time).
    expect(monday.locator('[data-zone="page"]')).to_contain_text("14:00")
    expect(hours).not_to_contain_text("Saturday")  # no work hours at weekends
    # The page's own rows are kept but not used.
    expect(tab.get_by_label("Monday from").first).to_be_disabled()
    expect(
        tab.get_by_text("not used while it uses the owner's Outlook working hours")
    ).to_be_visible()
    page.refresh_from_db()
    assert page.use_owner_working_hours and page.owner_hours_read_at is not None
    if size == "phone":
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_members_connection_page_says_the_mailbox_is_their_delegate_on_a_phone(
    phone: Page, world
) -> None:  # type: ignore[no-untyped-def]
    from calendars import connect

    alice = world.staff("alice")
    # Exchange shows the delegate list to accounts with FullAccess on the mailbox.
    world.sim.grant_full_access(alice.email, world.corporate().email)
    connect.check_member(alice.corporate_membership)
    login(phone, alice.username)
    phone.goto("/connection/")
    expect(phone.locator("#delegation")).to_contain_text("is your delegate in Exchange")
    expect(phone.locator("#delegation")).to_contain_text("Editor")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

"""Staff handle a booking in a real browser: a reschedule whose Exchange write fails because
a permission was withdrawn, the error shown, and a retry once it is granted again."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from bookings import actions
from tests.browser.conftest import login
from tests.world import monday_after


def test_staff_reschedule_see_a_failing_write_and_retry_it(browser: Page, world) -> None:  # type: ignore[no-untyped-def]
    owner = world.staff("olivia")
    corporate = world.corporate()
    page = world.page(owner, tz="Europe/London", title="Consultation")
    start = monday_after().replace(hour=10)
    booking = actions.book(
        page, start, actions.CustomerDetails("Ann Customer", "ann@example.com", "UTC")
    )
    [(event_id, event_start, _)] = world.calendar_as_owner(owner.email)  # written at once
    assert event_start == start
    # The owner downgrades the booking mailbox to Reviewer in Outlook.
    world.sim.set_permission(owner.email, corporate.email, "Reviewer")

    login(browser, owner.username)
    browser.goto("/bookings/")
    browser.get_by_role("row", name="Ann Customer").get_by_role("link").click()
    expect(browser.get_by_text(f"In {owner.email}'s calendar")).to_be_visible()
    browser.get_by_role("link", name="Reschedule…").click()
    new_start = start + timedelta(hours=3)
    browser.locator(f'input[name="start"][value="{new_start.isoformat()}"]').check()
    browser.get_by_role("button", name="Move the booking").click()

    # The booking moved in the app; Exchange refused the change, and staff see why.
    expect(browser.get_by_text(f"Couldn't write to {owner.email}'s calendar")).to_be_visible()
    expect(browser.get_by_text("needs Editor or Delegate permission").first).to_be_visible()
    booking.refresh_from_db()
    assert booking.start == new_start
    assert world.calendar_as_owner(owner.email)[0][1] == start

    world.sim.add_delegate(owner.email, corporate.email)  # granted again
    write = booking.writes.get()
    browser.get_by_role("button", name=f"Retry now: {write.target_label}").click()
    expect(browser.get_by_text(f"In {owner.email}'s calendar")).to_be_visible()
    assert world.calendar_as_owner(owner.email) == [
        (event_id, new_start, new_start + timedelta(minutes=30))
    ]

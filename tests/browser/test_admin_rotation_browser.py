"""In a real browser: IT changes the dedicated mailbox's password in Exchange, a site admin
changes it in Django admin with the connection's own "Change mailbox password" button (checked
against Exchange first), and a staff member's dashboard is green again at once. The
connection's pages work at desktop and phone width."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from calendars.models import CredentialRotation, RotationResult
from tests.browser.conftest import assert_fits, login
from tests.world import World

NEW_PASSWORD = "Rotated-Sync-Password-2"


def sign_out(browser: Page) -> None:
    browser.goto("/dashboard/")
    browser.get_by_role("button", name="Sign out").click()
    expect(browser.get_by_role("heading", name="You're signed out")).to_be_visible()


def test_an_admin_rotates_the_corporate_password_and_the_dashboard_stays_green(
    browser: Page, world: World
) -> None:
    staff = world.staff("dana")
    corporate = world.corporate()
    admin = User.objects.create_superuser(
        f"admin-{world.tag}", f"admin-{world.tag}@contoso.example", "admin-password"
    )

    # All is well, and checked against Exchange just now.
    login(browser, staff.username)
    browser.get_by_role("button", name="Check now").click()
    expect(
        browser.get_by_text(f"Checked just now: your calendar {staff.email} works.")
    ).to_be_visible()
    expect(browser.get_by_text("All calendars are working")).to_be_visible()

    # IT changes the booking mailbox's password in Exchange: the app's copy stops working.
    world.sim.set_password(corporate.email, NEW_PASSWORD)
    browser.get_by_role("button", name="Check now").click()
    expect(
        browser.get_by_text(f"The booking mailbox {corporate.email} can't reach Exchange")
    ).to_be_visible()
    expect(browser.get_by_text("Tell your site administrator")).to_be_visible()
    expect(browser.get_by_text("All calendars are working")).to_have_count(0)
    sign_out(browser)

    # The admin rotates it in Django admin; the app checks it against Exchange first.
    login(browser, admin.username, "admin-password")
    browser.get_by_role("link", name="Admin").click()
    browser.goto(f"/admin/calendars/exchangeconnection/{corporate.pk}/change/")
    browser.locator(".object-tools").get_by_role("link", name="Change mailbox password").click()
    browser.get_by_label("New password").fill("not-the-new-password")
    browser.get_by_role("button", name="Verify and save").click()
    expect(browser.get_by_text("Exchange refused this password for")).to_be_visible()
    browser.get_by_label("New password").fill(NEW_PASSWORD)
    browser.get_by_role("button", name="Verify and save").click()
    expect(
        browser.locator("ul.messagelist").get_by_text("Verified against Exchange and saved")
    ).to_be_visible()
    assert NEW_PASSWORD not in browser.content()
    assert list(CredentialRotation.objects.values_list("result", flat=True)) == [
        RotationResult.VERIFIED,
        RotationResult.REJECTED,
    ]
    sign_out(browser)

    # The staff member's dashboard is green without anyone restarting anything, and a fresh
    # check against Exchange (with the rotated password) agrees.
    login(browser, staff.username)
    expect(browser.get_by_text("All calendars are working")).to_be_visible()
    browser.get_by_role("button", name="Check now").click()
    expect(
        browser.get_by_text(f"Checked just now: your calendar {staff.email} works.")
    ).to_be_visible()
    expect(browser.get_by_text("All calendars are working")).to_be_visible()


@pytest.mark.parametrize("size", ["browser", "phone"])
def test_an_admin_opens_the_connection_and_changes_its_password(
    size: str, request: pytest.FixtureRequest, live_server, world: World
) -> None:  # type: ignore[no-untyped-def]
    # live_server first: the browser fixture, looked up by name below, needs its database.
    tab: Page = request.getfixturevalue(size)
    corporate = world.corporate()
    User.objects.create_superuser(
        f"admin-{world.tag}", f"admin-{world.tag}@contoso.example", "admin-password"
    )
    world.sim.set_password(corporate.email, NEW_PASSWORD)

    login(tab, f"admin-{world.tag}", "admin-password")
    tab.goto("/admin/calendars/exchangeconnection/")
    # In the connection's row (the header's "Change password" is the admin's own).
    expect(
        tab.locator("#result_list").get_by_role("link", name="Change mailbox password")
    ).to_be_visible()
    assert_fits(tab)
    tab.get_by_role("link", name=corporate.email).click()

    # The change form holds no secret; it says where the password went.
    expect(tab.get_by_text("Stored encrypted and never shown")).to_be_visible()
    expect(tab.locator('input[type="password"]')).to_have_count(0)
    expect(tab.get_by_text("OAuth tenant")).to_have_count(0)
    assert_fits(tab)
    tab.locator(".object-tools").get_by_role("link", name="Change mailbox password").click()

    expect(
        tab.get_by_role("heading", name=f"Change mailbox password: {corporate.email}")
    ).to_be_visible()
    assert_fits(tab)
    tab.get_by_label("New password").fill("not-the-new-password")
    tab.get_by_role("button", name="Verify and save").click()
    expect(tab.get_by_text("Exchange refused this password for")).to_be_visible()
    assert_fits(tab)
    tab.get_by_label("New password").fill(NEW_PASSWORD)
    tab.get_by_role("button", name="Verify and save").click()

    expect(
        tab.locator("ul.messagelist").get_by_text("Verified against Exchange and saved")
    ).to_be_visible()
    assert tab.url.endswith(f"/admin/calendars/exchangeconnection/{corporate.pk}/change/")
    assert NEW_PASSWORD not in tab.content()
    corporate.refresh_from_db()
    assert corporate.password == NEW_PASSWORD
    assert corporate.credential_version == 2

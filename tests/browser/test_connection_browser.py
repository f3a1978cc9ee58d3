"""In a real browser: signing in, connecting a personal Exchange account when Autodiscover
fails (the fallback form), attaching to the corporate connection, the phone menu, and a
password reset by email."""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.core import mail
from django.core.mail import EmailMessage
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings

from calendars.models import CorporateMember, ExchangeConnection
from tests.browser.conftest import login
from tests.world import Person, World


def staff_user(world: World, name: str) -> tuple[User, Person]:
    """A staff user with a mailbox in the simulator, not connected to anything yet."""
    person = world.person(name)
    user = User.objects.create_user(f"{name}-{world.tag}", person.email, "staff-password")
    return user, person


def test_staff_sign_in_and_land_on_the_dashboard(browser: Page, world: World) -> None:
    user, _ = staff_user(world, "sam")

    browser.goto("/accounts/login/")
    browser.get_by_label("Username").fill(user.username)
    browser.get_by_label("Password").fill("not-my-password")
    browser.get_by_role("button", name="Sign in").click()
    expect(browser.get_by_text("Please enter a correct username and password")).to_be_visible()

    login(browser, user.username)

    expect(browser).to_have_url(re.compile(r"/dashboard/$"))
    expect(browser.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(browser.get_by_text("No calendar is connected")).to_be_visible()


def test_a_personal_account_connects_through_the_fallback_form(
    browser: Page, world: World, settings: Settings
) -> None:
    # This network has no Autodiscover: the endpoint for the domain answers 404.
    settings.EXCHANGE_AUTODISCOVER_ENDPOINTS = {
        "contoso.example": f"{world.sim.base_url}/no-autodiscover/autodiscover.svc"
    }
    user, person = staff_user(world, "pat")
    login(browser, user.username)

    browser.get_by_role("link", name="Calendar connection").click()
    browser.get_by_role("link", name="Connect with email and password").click()
    expect(browser.get_by_label("Email address")).to_have_value(person.email)
    browser.get_by_label("Password").fill(person.password)
    browser.get_by_role("button", name="Connect").click()

    expect(browser.get_by_text("Autodiscover could not find your Exchange server")).to_be_visible()
    expect(browser.get_by_label("Password")).to_have_value("")  # never sent back
    browser.get_by_label("Password").fill(person.password)
    browser.get_by_label("EWS URL").fill(world.sim.ews_url)
    browser.get_by_label("User name").fill(person.login)
    browser.get_by_label("Exchange version").select_option(label="Exchange 2016")
    browser.get_by_role("button", name="Connect").click()

    expect(browser.get_by_text(f"Connected to Exchange as {person.email}.")).to_be_visible()
    expect(browser.locator("#status").get_by_text("Working", exact=True)).to_be_visible()
    conn = ExchangeConnection.objects.get(user=user)
    assert (conn.username, conn.ews_url) == (person.login, world.sim.ews_url)
    assert person.password not in browser.content()

    browser.get_by_role("link", name="Dashboard").click()
    expect(browser.get_by_text("All calendars are working")).to_be_visible()


def test_staff_attach_to_the_corporate_connection_and_see_delegation_arrive(
    browser: Page, world: World
) -> None:
    corporate = world.corporate()
    user, person = staff_user(world, "dana")
    login(browser, user.username)
    browser.goto("/connection/")

    browser.get_by_role("link", name="Attach to the booking mailbox").click()
    expect(browser.get_by_label("Your mailbox")).to_have_value(person.email)
    browser.get_by_role("button", name="Attach and check access").click()

    expect(browser.get_by_text(f"Attached, but {corporate.email} can't reach")).to_be_visible()
    expect(browser.get_by_text("How to grant access", exact=True)).to_be_visible()
    expect(browser.get_by_text(f"adds {corporate.email} and gives it Editor")).to_be_visible()

    # The colleague grants delegation in Outlook; "Check now" sees it (an htmx swap).
    world.sim.add_delegate(person.email, corporate.email)
    browser.get_by_role("button", name="Check now").click()

    expect(
        browser.get_by_text(f"Checked just now: your calendar {person.email} works.")
    ).to_be_visible()
    expect(browser.get_by_text("Delegation works")).to_be_visible()
    expect(browser.get_by_text("How to grant access", exact=True)).to_have_count(0)
    assert CorporateMember.objects.get(user=user).access_ok is True


def test_attaching_as_another_mailbox_waits_for_the_mailed_link(
    browser: Page, world: World
) -> None:
    corporate = world.corporate()
    user, _ = staff_user(world, "dora")
    other = world.person("dora-shared")
    world.sim.add_delegate(other.email, corporate.email)
    login(browser, user.username)
    browser.goto("/connection/attach/")
    browser.get_by_label("Your mailbox").fill(other.email)
    browser.get_by_role("button", name="Attach and check access").click()

    expect(browser.get_by_text(f"We emailed a confirmation link to {other.email}")).to_be_visible()
    expect(browser.locator("#membership-state")).to_contain_text("Waiting for you to confirm")

    (message,) = [m for m in mail.outbox if m.to == [other.email]]
    link = re.search(r"https?://\S+/connection/confirm/\S+/", message.body)
    assert link is not None
    browser.goto(link.group(0))
    expect(browser.get_by_text(f"Confirmed: {other.email} is your mailbox.")).to_be_visible()
    expect(browser.get_by_text("Delegation works")).to_be_visible()
    expect(browser.locator("#membership-state")).to_have_count(0)


def test_a_member_chooses_who_may_book_into_their_calendar_on_a_phone(
    phone: Page, world: World
) -> None:
    carol = world.staff("carol")
    alice = world.staff("alice")
    login(phone, carol.username)
    phone.goto("/connection/")

    phone.get_by_label("The colleagues I choose").check()
    phone.get_by_label(re.compile(re.escape(alice.email))).check()
    phone.get_by_role("button", name="Save").click()

    expect(phone.get_by_text("Saved who may book into your calendar.")).to_be_visible()
    expect(phone.get_by_label(re.compile(re.escape(alice.email)))).to_be_checked()
    assert list(carol.corporate_membership.allowed_colleagues.all()) == [alice]
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_menu_opens_on_a_phone(phone: Page, world: World) -> None:
    user, _ = staff_user(world, "pia")
    login(phone, user.username)

    nav_link = phone.get_by_role("link", name="Calendar connection")
    expect(nav_link).to_be_hidden()
    phone.get_by_role("button", name="Menu").click()
    nav_link.click()

    expect(phone.get_by_role("heading", name="Calendar connection")).to_be_visible()
    # Nothing is wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_forgotten_password_is_reset_by_email(
    browser: Page, world: World, mailoutbox: list[EmailMessage]
) -> None:
    user, person = staff_user(world, "rae")

    browser.goto("/accounts/login/")
    browser.get_by_role("link", name="Forgot your password?").click()
    browser.get_by_label("Email").fill(person.email)
    browser.get_by_role("button", name="Send reset link").click()

    expect(browser.get_by_role("heading", name="Check your email")).to_be_visible()
    (message,) = mailoutbox
    assert message.to == [person.email]
    link = re.search(r"https?://\S+/accounts/reset/\S+/", message.body)
    assert link, message.body

    browser.goto(link.group(0))
    browser.get_by_label("New password", exact=True).fill("a-fresh-passphrase-42")
    browser.get_by_label("New password confirmation").fill("a-fresh-passphrase-42")
    browser.get_by_role("button", name="Set password").click()
    expect(browser.get_by_role("heading", name="Your password is set")).to_be_visible()

    login(browser, user.username, "a-fresh-passphrase-42")
    expect(browser.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_the_dashboard_copies_a_pages_public_link(browser: Page, world: World) -> None:
    staff = world.staff("cole")
    page = world.page(staff, slug=f"intro-{world.tag}", title="Intro call")
    browser.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(browser, staff.username)

    browser.get_by_role("button", name="Copy link").click()

    expect(browser.get_by_role("button", name="Copied")).to_be_visible()
    assert browser.evaluate("navigator.clipboard.readText()") == page.public_url()
    expect(browser.get_by_role("button", name="Copy link")).to_be_visible(timeout=5000)

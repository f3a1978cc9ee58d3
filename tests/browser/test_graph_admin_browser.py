"""Exchange Online in Django admin, in a real browser: a site admin signs the booking mailbox
in with Microsoft (on the identity provider's own form), and moves an app-only Microsoft 365
connection from EWS to Graph; a staff member sees how to move their own. Each page at desktop
and phone width, console errors failing the test."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from calendars.models import AuthType, ConnectionKind, ExchangeConnection, Protocol
from tests.browser.conftest import SIZES, assert_fits, login

pytestmark = pytest.mark.parametrize("protocol", ["graph"], indirect=True)


def admin_user(world: Any) -> User:
    return User.objects.create_superuser(
        f"admin-{world.tag}", f"admin-{world.tag}@contoso.example", "admin-password"
    )


def test_an_admin_signs_the_booking_mailbox_in_with_microsoft(cloud: Any, tabs: Any) -> None:
    world = cloud
    sync = world.person("booking-sync")
    admin = admin_user(world)
    for size in SIZES:
        tab = tabs(size, ignore_https_errors=True)  # the identity provider's test CA
        login(tab, admin.username, "admin-password")
        tab.goto("/admin/calendars/exchangeconnection/")
        tab.get_by_role("link", name="Sign the booking mailbox in with Microsoft").click()
        expect(tab.get_by_text("You sign in as the booking mailbox")).to_be_visible()
        assert_fits(tab)
        tab.get_by_label("Booking mailbox").fill(sync.email)
        tab.get_by_role("button", name="Sign in with Microsoft").click()
        # On the identity provider's form now, then back in Django admin.
        tab.get_by_label("Email address").fill(sync.email)
        tab.get_by_label("Password").fill(sync.password)
        tab.get_by_role("button", name="Sign in").click()
        expect(tab.get_by_text(f"The booking mailbox {sync.email} is signed in")).to_be_visible()
        expect(
            tab.locator(".object-tools").get_by_role("link", name="Sign in with Microsoft again")
        ).to_be_visible()
        assert_fits(tab)
    conn = ExchangeConnection.objects.get(kind=ConnectionKind.CORPORATE)
    assert (conn.protocol, conn.auth_type) == (Protocol.GRAPH, AuthType.OAUTH_USER)
    # The second sign-in (at phone width) replaced the token in place.
    assert ExchangeConnection.objects.count() == 1 and conn.credential_version == 2


def test_an_admin_moves_an_app_only_connection_to_graph(
    cloud: Any, tabs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = cloud
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # exchangelib over the sim's http
    conn = world.app_only_ews_corporate(roles=("Calendars.ReadWrite",))
    world.page(world.staff("olga"))
    admin = admin_user(world)

    phone = tabs("phone")
    login(phone, admin.username, "admin-password")
    phone.goto(f"/admin/calendars/exchangeconnection/{conn.pk}/move-to-graph/")
    expect(phone.get_by_text("Calendars.ReadWrite")).to_be_visible()
    assert_fits(phone)

    tab = tabs("desktop")
    login(tab, admin.username, "admin-password")
    tab.goto(f"/admin/calendars/exchangeconnection/{conn.pk}/change/")
    tab.locator(".object-tools").get_by_role("link", name="Move to Microsoft Graph").click()
    tab.get_by_role("button", name="Move to Microsoft Graph").click()
    expect(tab.get_by_text("Moved to Microsoft Graph: 1 calendar kept their roles")).to_be_visible()
    conn.refresh_from_db()
    assert conn.protocol == Protocol.GRAPH
    expect(
        tab.locator(".object-tools").get_by_role("link", name="Move to Microsoft Graph")
    ).to_have_count(0)


def test_a_staff_member_sees_how_to_move_their_microsoft_365_connection(
    cloud: Any, tabs: Any
) -> None:
    world = cloud
    person = world.person("petra")
    user = User.objects.create_user("petra", person.email, "staff-password", is_staff=True)
    ExchangeConnection.objects.create(
        kind=ConnectionKind.PERSONAL,
        user=user,
        email=person.email,
        ews_url=world.sim.ews_url,
        auth_type=AuthType.OAUTH_USER,
        oauth_refresh_token="an-ews-refresh-token",
    )
    for size in SIZES:
        tab = tabs(size)
        login(tab, "petra")
        tab.goto("/connection/")
        card = tab.locator("#move-to-graph")
        expect(card.get_by_text("gone for good on 1 April 2027")).to_be_visible()
        expect(card.get_by_role("button", name="Sign in with Microsoft and move")).to_be_visible()
        assert_fits(tab)

"""In a real browser, under the Content-Security-Policy: the shared fixture's watcher catches
what the policy refuses, Django admin works without violations, and "Connect with Microsoft"
(a form whose answer redirects to the sign-in page, which Chromium checks against
form-action) goes to Microsoft and back.

Every test using the `browser` fixture fails on a CSP violation; these visit what the other
browser tests don't.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Page, expect

from calendars.simulator import Simulator
from calendars.simulator.idp import IdentityProvider
from tests.browser.conftest import login, open_watched, watch
from tests.world import World


def test_the_watcher_reports_inline_scripts_and_styles_the_policy_refuses(
    chromium, live_server, db
) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(base_url=live_server.url)
    try:
        page = context.new_page()
        problems = watch(page)
        page.goto("/accounts/login/")
        # As injected markup would arrive (evaluate() itself runs outside the page's policy).
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "document.title = 'injected';";
                document.body.append(script);
                document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>');
            }"""
        )
        page.wait_for_timeout(200)
        assert page.title() != "injected"
        # Chromium's words: "Executing inline script violates ... directive 'script-src'".
        assert any("inline script" in p and "script-src" in p for p in problems), problems
        assert any("inline style" in p and "style-src" in p for p in problems), problems
    finally:
        context.close()


def test_django_admin_pages_work_under_the_policy(browser: Page, world: World) -> None:
    corporate = world.corporate()
    admin = User.objects.create_superuser(
        f"admin-{world.tag}", f"admin-{world.tag}@contoso.example", "admin-password"
    )
    browser.goto("/admin/login/")
    browser.get_by_label("Username").fill(admin.username)
    browser.get_by_label("Password").fill("admin-password")
    browser.get_by_role("button", name="Log in").click()
    expect(browser.get_by_role("heading", name="Site administration")).to_be_visible()

    for url in (
        "/admin/calendars/exchangeconnection/",
        f"/admin/calendars/exchangeconnection/{corporate.pk}/change/",
        reverse("admin:calendars_exchangeconnection_rotate", args=[corporate.pk]),
        "/admin/auth/user/",
        f"/admin/auth/user/{admin.pk}/change/",
        "/admin/auth/user/add/",
    ):
        response = browser.goto(url)
        assert response is not None and response.status == 200, url
        browser.wait_for_load_state("load")
    # The change list's select-all checkbox is admin JavaScript (actions.js) at work.
    browser.goto("/admin/auth/user/")
    browser.locator("#action-toggle").check()
    expect(browser.locator(".action-counter")).to_contain_text("1 of 1 selected")


# --- "Connect with Microsoft" against the simulator's identity provider, over TLS ----------


@pytest.fixture
def microsoft_browser(chromium, live_server, eager_writes, settings, ca, idp, tls_simulator):  # type: ignore[no-untyped-def]
    """The site's app registration on the identity provider, and a browser that trusts the
    test CA's certificates as a corporate machine would trust its own CA."""
    client_id = str(uuid.uuid4())
    callback = live_server.url + reverse("connection-microsoft-callback")
    idp.register_application(client_id, "site-app-secret", redirect_uris=[callback])
    settings.SITE_URL = live_server.url
    settings.MICROSOFT_CLIENT_ID = client_id
    settings.MICROSOFT_CLIENT_SECRET = "site-app-secret"
    settings.MICROSOFT_AUTHORITY = idp.authority
    settings.MICROSOFT_GRAPH_URL = tls_simulator.graph_url
    settings.EXCHANGE_CA_BUNDLE = str(ca.ca_cert_path)
    settings.EXCHANGE_ALLOW_HTTP = False
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, ignore_https_errors=True
    )
    yield from open_watched(context)


def test_connect_with_microsoft_goes_to_the_sign_in_page_and_back(
    microsoft_browser: Page, idp: IdentityProvider, tls_simulator: Simulator, django_user_model: Any
) -> None:
    email = f"dora-{uuid.uuid4().hex[:8]}@contoso.example"
    tls_simulator.add_mailbox(email, "Dora", f"pw-{email}")
    idp.register_user(email, "Dora-entra-password")
    user = django_user_model.objects.create_user(
        f"dora-{uuid.uuid4().hex[:6]}", email, "staff-password"
    )
    browser = microsoft_browser

    login(browser, user.username)
    browser.goto("/connection/")
    browser.get_by_role("button", name="Connect with Microsoft").click()

    # The POST's redirect reached the identity provider: form-action allowed it.
    expect(browser).to_have_url(re.compile(re.escape(idp.authority) + r"/oauth2/v2.0/authorize"))
    browser.get_by_label("Email address").fill(email)
    browser.get_by_label("Password").fill("Dora-entra-password")
    browser.get_by_role("button", name="Sign in").click()

    expect(browser.get_by_text(f"Connected to Microsoft 365 as {email}")).to_be_visible()
    expect(browser).to_have_url(re.compile(r"/connection/$"))

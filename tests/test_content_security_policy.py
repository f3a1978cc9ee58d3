"""The Content-Security-Policy header (django-csp) on every page, and templates that need no
inline script or style to work under it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from bookings import actions
from tests.world import monday_after

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def policy(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    header = response["Content-Security-Policy"]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def assert_strict(response) -> None:  # type: ignore[no-untyped-def]
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"], "no inline scripts, no eval, no other origins"
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"][0] == "'self'"


@pytest.mark.django_db
def test_every_kind_of_page_carries_the_strict_policy(world) -> None:
    owner = world.staff("olivia", superuser=True)
    page = world.page(owner, tz="UTC", hours=(time(9), time(17)))
    start = datetime.combine(monday_after().date(), time(10), tzinfo=UTC)
    customer = actions.CustomerDetails("Ada Lovelace", "ada@example.com", "Europe/London")
    booking = actions.book(page, start, customer)
    token = booking.manage_token()
    day = start.date().isoformat()
    public = [
        "/",
        "/accounts/login/",
        "/admin/login/",
        f"/{page.slug}/",
        f"/{page.slug}/?date={day}",
        f"/{page.slug}/confirmed/{token}/",
        f"/manage/{token}/",
        f"/api/v1/pages/{page.slug}/slots?start={day}&end={day}",
        "/healthz",
    ]
    staff = [
        "/dashboard/",
        "/connection/",
        "/pages/",
        f"/pages/{page.pk}/",
        f"/pages/{page.pk}/calendars/",
        "/bookings/",
        f"/bookings/{booking.pk}/",
        "/admin/",
        "/admin/calendars/exchangeconnection/",
        f"/admin/calendars/exchangeconnection/{world.corporate().pk}/change/",
        reverse("admin:calendars_exchangeconnection_rotate", args=[world.corporate().pk]),
    ]
    client = Client()
    for url in public:
        response = client.get(url)
        assert response.status_code in (200, 503), (url, response.status_code)
        assert_strict(response)
    client.force_login(owner)
    for url in staff:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert_strict(response)
    # Errors too: a 404 page is a page.
    assert_strict(client.get("/no-such-page-here/"))


@pytest.mark.django_db
def test_forms_post_only_to_this_site(world) -> None:
    client = Client()
    client.force_login(world.staff("olivia"))
    assert policy(client.get("/connection/"))["form-action"] == ["'self'"]


@pytest.mark.django_db
def test_the_connection_page_may_send_its_microsoft_form_on_to_the_sign_in_page(
    world, settings
) -> None:
    # "Connect with Microsoft" POSTs to us and we redirect to the authority; Chromium checks
    # form-action against that redirect too.
    settings.MICROSOFT_CLIENT_ID = "client-id"
    settings.MICROSOFT_AUTHORITY = "https://login.example.net:8443/contoso"
    client = Client()
    client.force_login(world.staff("olivia"))
    csp = policy(client.get("/connection/"))
    assert csp["form-action"] == ["'self'", "https://login.example.net:8443"]
    assert csp["script-src"] == ["'self'"]
    settings.MICROSOFT_AUTHORITY = ""
    csp = policy(client.get("/connection/"))
    assert csp["form-action"] == ["'self'", "https://login.microsoftonline.com"]
    # Other pages don't need it.
    assert policy(client.get("/dashboard/"))["form-action"] == ["'self'"]


class _InlineFinder(HTMLParser):
    """Inline scripts, event handler attributes, style attributes and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and "src" not in named and named.get("type") != "application/json":
            self.found.append(f"<script> without src at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> at line {self.getpos()[0]}")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name}= at line {self.getpos()[0]}")
            if name == "style":
                self.found.append(f"style= at line {self.getpos()[0]}")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL at line {self.getpos()[0]}")


def inline_code(source: str) -> list[str]:
    # Template tags can hide attributes from the parser ({% if x %} onclick=...{% endif %}):
    # drop the tags, keep what they wrap.
    finder = _InlineFinder()
    finder.feed(re.sub(r"{%.*?%}|{#.*?#}", "", source, flags=re.S))
    return finder.found


def test_the_scanner_finds_what_the_policy_would_block() -> None:
    assert inline_code("<script>alert(1)</script>")
    assert inline_code('<button {% if x %}onclick="go()"{% endif %}>')
    assert inline_code('<a href="javascript:void(0)">')
    assert inline_code('<p style="color: red">')
    assert not inline_code('<script src="/static/js/app.js" defer></script>')
    assert not inline_code('<script id="d" type="application/json">{"a": 1}</script>')


def test_no_web_template_has_inline_script_or_style() -> None:
    # E-mails are not served to browsers; mail clients need their inline styles.
    pages = [p for p in TEMPLATES.rglob("*.html") if "emails" not in p.parts]
    assert len(pages) > 20
    offenders = {
        str(p.relative_to(TEMPLATES)): found for p in pages if (found := inline_code(p.read_text()))
    }
    assert offenders == {}

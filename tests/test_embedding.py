"""Booking pages on other websites: who may frame which page (frame-ancestors and
X-Frame-Options per URL and setting), the customer's forms inside a third-party iframe (no
CSRF cookie there), embed mode, the snippets on the page's settings, and the URL parameters
that prefill the form. In a real browser: tests/browser/test_embed_browser.py."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, time
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from bookings import actions, embedding
from bookings.models import Booking, BookingPage, BookingStatus, Question, QuestionKind
from scheduler_site.settings import _embed_origin
from tests.test_content_security_policy import policy
from tests.test_safe_defaults import FERNET, SECRET, start
from tests.world import monday_after

HOST = "https://www.example.com"
OTHER = "https://shop.example.net:8443"
SITE = "http://testserver"


@pytest.fixture
def page(world) -> BookingPage:
    return world.page(world.staff("olivia"), title="Tax advice")


@pytest.fixture
def embeddable(settings) -> None:
    settings.EMBED_ALLOWED_ORIGINS = [HOST, OTHER]


def ten_on_monday() -> datetime:
    day = monday_after().date()
    return datetime.combine(day, time(10), tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)


def booked(page: BookingPage) -> Booking:
    customer = actions.CustomerDetails("Ada Lovelace", "ada@example.com", "Europe/London")
    return actions.book(page, ten_on_monday(), customer)


def framable_by(response) -> list[str]:  # type: ignore[no-untyped-def]
    return policy(response)["frame-ancestors"]


def assert_unframable(response) -> None:  # type: ignore[no-untyped-def]
    assert framable_by(response) == ["'none'"], response.request["PATH_INFO"]
    assert response["X-Frame-Options"] == "DENY"


def assert_framable(response) -> None:  # type: ignore[no-untyped-def]
    assert framable_by(response) == [HOST, OTHER], response.request["PATH_INFO"]
    assert "X-Frame-Options" not in response
    # Only frame-ancestors changes: scripts and styles stay our own static files.
    csp = policy(response)
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]


def customer_urls(page: BookingPage, booking: Booking) -> list[str]:
    token = booking.manage_token()
    return [
        f"/{page.slug}/",
        f"/{page.slug}/?embed=1",
        f"/book/{page.slug}/",
        f"/{page.slug}/confirmed/{token}/",
        f"/manage/{token}/",
        f"/manage/{token}/reschedule/",
        f"/manage/{token}/cancel/",
    ]


# --- who may frame what ---------------------------------------------------------------------


@pytest.mark.django_db
def test_with_no_allowed_origins_no_page_may_be_framed(page: BookingPage) -> None:
    booking = booked(page)
    for url in customer_urls(page, booking):
        assert_unframable(Client().get(url))


@pytest.mark.django_db
def test_allowed_origins_may_frame_the_booking_page_its_confirmation_and_the_manage_link(
    page: BookingPage, embeddable: None
) -> None:
    booking = booked(page)
    for url in customer_urls(page, booking):
        response = Client().get(url)
        assert response.status_code == 200, url
        assert_framable(response)
    # The no-script form's answer too (here: refused, shown again with its errors).
    response = Client().post(f"/{page.slug}/book/", {"name": ""})
    assert response.status_code == 400
    assert_framable(response)


@pytest.mark.django_db
def test_staff_pages_admin_and_apis_stay_unframable_whatever_the_setting(
    world, page: BookingPage, embeddable: None
) -> None:
    booking = booked(page)
    token = booking.manage_token()
    day = monday_after().date().isoformat()
    anonymous = [
        "/",
        "/accounts/login/",
        "/admin/login/",
        f"/api/v1/pages/{page.slug}/slots?start={day}&end={day}",
        f"/manage/{token}/slots?start={day}&end={day}",
        f"/manage/{token}/booking.ics",
        "/healthz",
    ]
    client = Client()
    for url in anonymous:
        assert_unframable(client.get(url))
    client.force_login(page.owner)
    for url in ["/dashboard/", "/pages/", f"/pages/{page.pk}/", "/bookings/", "/connection/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_unframable(response)
    admin = Client()
    admin.force_login(world.staff("root", superuser=True))
    assert_unframable(admin.get("/admin/"))


# --- the customer's forms inside a third-party iframe ---------------------------------------


@pytest.mark.django_db
def test_inside_an_iframe_the_manage_link_cancels_without_a_csrf_cookie(
    page: BookingPage, embeddable: None
) -> None:
    # A cross-site iframe gets no SameSite=Lax cookie: the browser's Origin header is the
    # check instead.
    booking = booked(page)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/manage/{booking.manage_token()}/?embed=1", {"action": "cancel"}, HTTP_ORIGIN=SITE
    )
    assert response.status_code == 303
    assert response["Location"] == f"/manage/{booking.manage_token()}/?embed=1"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED


@pytest.mark.django_db
def test_a_form_posted_from_another_site_or_without_an_origin_still_needs_the_csrf_token(
    page: BookingPage, embeddable: None
) -> None:
    booking = booked(page)
    client = Client(enforce_csrf_checks=True)
    url = f"/manage/{booking.manage_token()}/"
    assert client.post(url, {"action": "cancel"}, HTTP_ORIGIN=HOST).status_code == 403
    assert client.post(url, {"action": "cancel"}, HTTP_ORIGIN="null").status_code == 403
    assert client.post(url, {"action": "cancel"}).status_code == 403
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


@pytest.mark.django_db
def test_staff_forms_keep_the_csrf_token_check_even_from_our_own_origin(
    page: BookingPage, embeddable: None
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(page.owner)
    response = client.post(f"/pages/{page.pk}/", {"title": "Changed"}, HTTP_ORIGIN=SITE)
    assert response.status_code == 403
    page.refresh_from_db()
    assert page.title == "Tax advice"


@pytest.mark.django_db
def test_with_embedding_off_the_csrf_check_is_djangos_own(page: BookingPage) -> None:
    booking = booked(page)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/manage/{booking.manage_token()}/", {"action": "cancel"}, HTTP_ORIGIN=SITE
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_the_no_script_form_books_inside_the_iframe_and_stays_in_embed_mode(
    page: BookingPage, embeddable: None
) -> None:
    client = Client(enforce_csrf_checks=True)
    html = client.get(f"/{page.slug}/?embed=1").content.decode()
    action = unescape(re.search(r'id="booking-form"[^>]*action="([^"]+)"', html, re.S)[1])  # type: ignore[index]
    assert action == f"/{page.slug}/book/?embed=1"
    form = {
        "start": ten_on_monday().isoformat(),
        "timezone": "Europe/London",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    }
    response = client.post(action, form, HTTP_ORIGIN=SITE)
    assert response.status_code == 303
    booking = Booking.objects.get(page=page)
    assert response["Location"] == f"/{page.slug}/confirmed/{booking.manage_token()}/?embed=1"
    confirmation = client.get(response["Location"]).content.decode()
    assert 'class="public embedded"' in confirmation
    # The manage link leaves the small frame for a tab of its own.
    assert re.search(r'id="manage-link" target="_blank" rel="noopener"', confirmation)


# --- embed mode -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_embed_mode_leaves_out_the_site_header_and_loads_the_height_script(
    page: BookingPage, embeddable: None, settings
) -> None:
    from bookings.models import SiteBranding

    branding = SiteBranding.current()
    branding.organisation_name = "Contoso Advisers"
    branding.save()
    plain = Client().get(f"/{page.slug}/").content.decode()
    embedded = Client().get(f"/{page.slug}/?embed=1").content.decode()
    assert 'class="public"' in plain and 'class="public embedded"' in embedded
    if 'id="brand-bar"' in plain:  # the branded header, where the organisation is named
        assert 'id="brand-bar"' not in embedded
    for html in (plain, embedded):
        # Hashed by the manifest storage when DEBUG is off (CI), plain in development.
        assert re.search(r'<script src="/static/js/embed-frame(\.[0-9a-f]{12})?\.js" defer>', html)
    assert "<h1>Tax advice</h1>" in embedded


# --- the snippets ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_snippets_embed_the_page_inline_or_as_a_popup_button(
    page: BookingPage, settings
) -> None:
    settings.SITE_URL = "https://book.contoso.example"
    page.title = 'Tax <advice> & "more"'
    page.save()
    inline = embedding.embed_snippet(page, "inline")
    popup = embedding.embed_snippet(page, "popup")
    url = f"https://book.contoso.example/{page.slug}/"
    assert inline.startswith(
        f'<div data-scheduler-embed="{url}" data-mode="inline" data-label="Book a time">'
    )
    assert 'data-mode="popup"' in popup
    for snippet in (inline, popup):
        # A link for browsers without JavaScript, the page's title escaped.
        assert (
            f'<a href="{url}">Book a time: Tax &lt;advice&gt; &amp; &quot;more&quot;</a>' in snippet
        )
        # The unhashed script name: pasted snippets outlive releases.
        assert snippet.endswith(
            '<script src="https://book.contoso.example/static/js/embed.js" async></script>'
        )
        assert "style=" not in snippet and "<iframe" not in snippet
    with pytest.raises(ValueError):
        embedding.embed_snippet(page, "sideways")  # type: ignore[arg-type]


@pytest.mark.django_db
def test_the_page_settings_show_the_snippets_and_say_when_embedding_is_off(
    page: BookingPage, settings
) -> None:
    client = Client()
    client.force_login(page.owner)
    html = client.get(reverse("page-edit", args=[page.pk])).content.decode()
    assert "Embed on your website" in html
    assert "Embedding is off" in html and "EMBED_ALLOWED_ORIGINS" in html
    inline = embedding.embed_snippet(page, "inline")
    # Shown to read and behind a copy button (the shared data-copy script).
    assert f">{escape_html(inline)}</textarea>" in html
    assert f'data-copy="{escape_html(inline)}"' in html
    assert f'data-copy="{escape_html(embedding.embed_snippet(page, "popup"))}"' in html

    settings.EMBED_ALLOWED_ORIGINS = [HOST]
    html = client.get(reverse("page-edit", args=[page.pk])).content.decode()
    assert "Embedding is off" not in html
    assert f"<code>{HOST}</code>" in html


def escape_html(text: str) -> str:
    from django.utils.html import escape

    return str(escape(text))


# --- prefilling the form from the page's address --------------------------------------------


def field_value(html: str, name: str) -> str | None:
    found = re.search(rf'<input id="id_{name}" name="{name}"[^>]* value="([^"]*)"', html)
    if found:
        return unescape(found[1])
    found = re.search(rf'<textarea id="id_{name}" name="{name}"[^>]*>([^<]*)</textarea>', html)
    return unescape(found[1]) if found else None


@pytest.mark.django_db
def test_the_address_prefills_name_email_phone_notes_and_answers(page: BookingPage) -> None:
    page.ask_phone = True
    page.save()
    company = Question.objects.create(page=page, label="Company", position=1)
    topic = Question.objects.create(
        page=page, label="Topic", kind=QuestionKind.CHOICE, choices=["VAT", "Payroll"], position=2
    )
    detail = Question.objects.create(page=page, label="Detail", kind=QuestionKind.LONG, position=3)
    response = Client().get(
        f"/{page.slug}/",
        {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+44 20 7946 0000",
            "notes": "Second floor <please>",
            "a1": "Analytical Engines Ltd",  # Calendly's name for the first question
            topic.key: "Payroll",  # the form's own name for a question
            "a3": "Long story",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert field_value(html, "name") == "Ada Lovelace"
    assert field_value(html, "email") == "ada@example.com"
    assert field_value(html, "phone") == "+44 20 7946 0000"
    assert field_value(html, "notes") == "Second floor <please>"
    assert "&lt;please&gt;" in html  # escaped, never markup
    assert field_value(html, company.key) == "Analytical Engines Ltd"
    assert field_value(html, detail.key) == "Long story"
    assert f'<input type="radio" name="{topic.key}" value="Payroll" checked' in html


@pytest.mark.django_db
def test_unknown_too_long_or_impossible_parameters_are_ignored(page: BookingPage) -> None:
    topic = Question.objects.create(
        page=page, label="Topic", kind=QuestionKind.CHOICE, choices=["VAT", "Payroll"]
    )
    response = Client().get(
        f"/{page.slug}/",
        {
            "name": "x" * 201,
            "email": "ada\x00@example.com",
            "phone": "0800 000",  # the page doesn't ask for a phone number
            topic.key: "Cheese",  # not one of the options
            "a7": "no seventh question",
            "q99999999999": "nor this one",
            "colour": "blue",
            "timezone": "Mars/Olympus_Mons",
            "lock_timezone": "1",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert field_value(html, "name") == ""
    assert field_value(html, "email") == ""
    assert 'name="phone"' not in html
    assert "checked" not in re.sub(r"<fieldset[^>]*member.*?</fieldset>", "", html, flags=re.S)
    assert "Olympus" not in html and "isn&#x27;t a time zone" not in html
    # No zone to lock to: the picker stays.
    assert '<select id="tz" name="tz" class="nojs-only" aria-describedby' in html


@pytest.mark.django_db
def test_a_timezone_in_the_address_sets_the_zone_and_can_lock_it(page: BookingPage) -> None:
    html = Client().get(f"/{page.slug}/?timezone=europe/paris").content.decode()
    assert 'data-tz-explicit="1"' in html  # booking.js won't replace it with the browser's
    assert '<option selected value="Europe/Paris"' in html
    assert '<input type="hidden" name="timezone" value="Europe/Paris">' in html
    assert '<select id="tz" name="tz" class="nojs-only" aria-describedby' in html  # changeable

    html = Client().get(f"/{page.slug}/?timezone=Europe/Paris&lock_timezone=1").content.decode()
    assert '<select id="tz" name="tz" class="nojs-only" hidden' in html
    assert re.search(r'<div class="combobox" hidden>', html)  # never shown, even with JS
    assert "Paris" in re.search(r'<strong id="tz-name">([^<]*)</strong>', html)[1]  # type: ignore[index]
    # The no-script date form keeps the lock (and the form's address keeps it for the post).
    assert '<input type="hidden" name="lock_timezone" value="1">' in html
    # A zone chosen in the no-script form can't undo the lock...
    locked = Client().get(f"/{page.slug}/?timezone=Europe/Paris&lock_timezone=1&tz=Asia/Tokyo")
    assert '<option selected value="Europe/Paris"' in locked.content.decode()
    # ...but without the lock the visitor's choice wins.
    chosen = Client().get(f"/{page.slug}/?timezone=Europe/Paris&tz=Asia/Tokyo")
    assert '<option selected value="Asia/Tokyo"' in chosen.content.decode()


@pytest.mark.django_db
def test_the_no_script_date_form_carries_the_prefilled_values(page: BookingPage) -> None:
    html = Client().get(f"/{page.slug}/?embed=1&name=Ada&email=ada@example.com").content.decode()
    form = re.search(r'<form method="get"[^>]*id="picker-form">(.*?)</form>', html, re.S)[1]  # type: ignore[index]
    assert '<input type="hidden" name="embed" value="1">' in form
    assert '<input type="hidden" name="name" value="Ada">' in form
    assert '<input type="hidden" name="email" value="ada@example.com">' in form


def test_prefill_reads_only_what_the_page_asks_for() -> None:
    page = BookingPage(slug="x", ask_phone=False, ask_notes=True)
    got = embedding.prefill(page, {"name": " Ada ", "phone": "1", "notes": "hi", "embed": "1"})
    assert got.data == {"name": "Ada", "notes": "hi"}
    assert got.embed and not got.timezone and not got.lock_timezone
    assert got.settings_query() == "embed=1"


# --- the setting ----------------------------------------------------------------------------


def test_allowed_origins_are_written_as_origins() -> None:
    assert _embed_origin("https://www.Example.com/", allow_http=False) == "https://www.example.com"
    assert _embed_origin("https://a.example:8443", allow_http=False) == "https://a.example:8443"
    assert _embed_origin("http://localhost:8001", allow_http=True) == "http://localhost:8001"
    for bad in (
        "http://www.example.com",  # http only while developing (DEBUG)
        "www.example.com",
        "https://www.example.com/booking",
        "https://*.example.com",
        "*",
        "'self'",
        "https://user@example.com",
        "https://example.com:99999",
        "https://exa mple.com",
        "https://example.com?x=1",
    ):
        with pytest.raises(ImproperlyConfigured):
            _embed_origin(bad, allow_http=False)


def test_a_bad_allowed_origin_stops_the_app_at_start_up() -> None:
    result = start(
        sys.executable,
        "-c",
        "import django; django.setup()",
        SECRET_KEY=SECRET,
        FERNET_KEYS=FERNET,
        EMBED_ALLOWED_ORIGINS="https://www.example.com,http://shop.example.net",
    )
    assert result.returncode != 0
    assert "EMBED_ALLOWED_ORIGINS: 'http://shop.example.net'" in result.stderr

"""Branding where customers see it (bookings/brand.py): the organisation's logo and name on
the public page, the confirmation and the manage link, the accent stylesheet linked with a
version, a page's image beside its details, the emails' header, footer and buttons, and the
editor's accent colour and image; at most one query more on a public page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bookings import brand, emails
from bookings.models import Booking, BookingPage, PageImage, SiteBranding
from tests.test_page_editor import editor_data

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
START = datetime(2027, 3, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def owner() -> User:
    return User.objects.create_user(
        "alice", "alice@contoso.example", "pw", is_staff=True, first_name="Alice"
    )


@pytest.fixture
def page(owner: User) -> BookingPage:
    # No calendars: the page shows "not taking bookings yet", which is branded all the same.
    return BookingPage.objects.create(owner=owner, slug="advice", title="Tax advice")


@pytest.fixture
def site() -> SiteBranding:
    return SiteBranding.objects.create(
        pk=1, organisation_name="Contoso & Co", logo=PNG, logo_type="image/png"
    )


@pytest.fixture
def booking(page: BookingPage) -> Booking:
    return Booking.objects.create(
        page=page,
        owner=page.owner,
        start=START,
        end=START + timedelta(minutes=30),
        timezone="Europe/London",
        name="Carol",
        email="carol@example.com",
    )


def version(*rows: object) -> str:
    return "-".join(str(int(row.updated.timestamp())) for row in rows)  # type: ignore[attr-defined]


def test_the_public_page_shows_the_logo_and_name_and_links_the_pages_colour(
    world, site: SiteBranding
) -> None:
    page = world.page(world.staff("olivia"), title="Tax advice", accent_color="#0b6e4f")
    html = Client().get(f"/{page.slug}/").content.decode()
    assert f'src="/branding/logo?v={version(site)}"' in html
    assert '<span class="brand-name">Contoso &amp; Co</span>' in html
    # The logo is decoration beside the name, which screen readers read once.
    assert 'class="brand-logo" src="/branding/logo?v=' in html and 'alt=""' in html
    assert f'href="/branding/pages/{page.slug}.css?v={version(page, site)}"' in html
    assert "--c-primary: #0b6e4f;" in Client().get(f"/branding/pages/{page.slug}.css").text


def test_a_page_without_its_own_colour_links_the_sites_and_none_without_any(
    page: BookingPage,
) -> None:
    html = Client().get("/advice/").content.decode()
    assert "/branding/" not in html and 'id="brand-bar"' not in html
    site = SiteBranding.objects.create(pk=1, accent_color="#6b21a8")
    html = Client().get("/advice/").content.decode()
    assert f'href="/branding/pages/advice.css?v={version(page, site)}"' in html
    assert "--c-primary: #6b21a8;" in Client().get("/branding/pages/advice.css").text


def test_changing_the_colour_changes_the_version_so_caches_refresh(page: BookingPage) -> None:
    page.accent_color = "#0b6e4f"
    page.save()
    first = brand.for_page(page).css_url
    page.updated = page.updated + timedelta(seconds=5)
    assert brand.for_page(page).css_url != first


def test_a_logo_without_a_name_is_named_for_screen_readers(page: BookingPage) -> None:
    SiteBranding.objects.create(pk=1, logo=PNG, logo_type="image/png")
    html = Client().get("/advice/").content.decode()
    assert 'class="brand-logo"' in html and 'alt="Logo"' in html


def test_the_pages_image_is_shown_beside_its_details(world, site: SiteBranding) -> None:
    page = world.page(world.staff("olivia"), title="Tax advice")
    assert 'id="page-image"' not in Client().get(f"/{page.slug}/").content.decode()
    image = PageImage.objects.create(page=page, data=PNG, content_type="image/png")
    html = Client().get(f"/{page.slug}/").content.decode()
    assert f'src="/branding/pages/{page.slug}/image?v={version(image)}"' in html
    assert Client().get(f"/branding/pages/{page.slug}/image").content == PNG


def test_branding_costs_a_public_page_at_most_one_query(world, site: SiteBranding) -> None:
    page = world.page(world.staff("olivia"), title="Tax advice", accent_color="#0b6e4f")
    PageImage.objects.create(page=page, data=PNG, content_type="image/png")
    client = Client()
    client.get(f"/{page.slug}/")  # warm up what is read once per process
    unbranded_brand = mock.patch.object(brand, "for_page", return_value=brand.Brand())
    with unbranded_brand, CaptureQueriesContext(connection) as unbranded:
        client.get(f"/{page.slug}/")
    with CaptureQueriesContext(connection) as branded:
        html = client.get(f"/{page.slug}/").content.decode()
    assert 'id="page-image"' in html and 'class="brand-logo"' in html
    assert len(branded) <= len(unbranded) + 1
    # The image's bytes stay in the database: only its view reads them.
    assert not any('"data"' in q["sql"] for q in branded.captured_queries)


def test_the_confirmation_and_the_manage_link_are_branded(
    booking: Booking, site: SiteBranding
) -> None:
    booking.page.accent_color = "#0b6e4f"
    booking.page.save()
    token = booking.manage_token()
    for url in (
        f"/advice/confirmed/{token}/",
        f"/manage/{token}/",
        f"/manage/{token}/cancel/",
        f"/manage/{token}/reschedule/",
    ):
        html = Client().get(url).content.decode()
        assert '<span class="brand-name">Contoso &amp; Co</span>' in html, url
        assert "/branding/logo?v=" in html, url
        assert "/branding/pages/advice.css?v=" in html, url
        assert 'id="page-image"' not in html, url


def test_the_customers_emails_carry_the_name_logo_and_accent(
    booking: Booking, site: SiteBranding, settings
) -> None:
    settings.SITE_URL = "https://scheduler.contoso.example"
    booking.page.accent_color = "#0b6e4f"
    booking.page.save()
    emails.send_confirmation(booking)
    [message] = mail.outbox
    [(html, _)] = message.alternatives
    logo = f'<img src="https://scheduler.contoso.example/branding/logo?v={version(site)}"'
    # Beside the name (which shows when a mail client blocks images) the logo says nothing.
    assert logo + ' alt=""' in html and "<b" in html and "Contoso &amp; Co</b>" in html
    assert "Sent by Contoso &amp; Co at https://scheduler.contoso.example." in html
    assert "background:#0b6e4f;" in html
    # The text part stays plain: no markup, no logo.
    assert "<" not in message.body and "branding/logo" not in message.body


def test_emails_without_branding_keep_the_apps_blue_and_no_header(booking: Booking) -> None:
    emails.send_confirmation(booking)
    [(html, _)] = mail.outbox[0].alternatives
    assert f"background:{brand.EMAIL_ACCENT};" in html
    assert "<img" not in html and "Sent by the scheduler at" in html


# --- the editor ------------------------------------------------------------------------------


@pytest.fixture
def editor(owner: User, page: BookingPage) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def edit(client: Client, **fields: object):  # type: ignore[no-untyped-def]
    return client.post(
        f"/pages/{BookingPage.objects.get().pk}/", editor_data(slug="advice", **fields)
    )


def test_the_editor_saves_the_pages_colour_and_refuses_one_that_fails_contrast(
    editor: Client,
) -> None:
    assert edit(editor, accent_color="#0b6e4f").status_code == 302
    assert BookingPage.objects.get().accent_color == "#0b6e4f"
    response = edit(editor, accent_color="#ffd500")
    assert response.status_code == 400
    text = response.content.decode()
    assert "4.5:1" in text and "The nearest shade that passes is #" in text
    assert BookingPage.objects.get().accent_color == "#0b6e4f"


def test_the_editor_uploads_replaces_and_removes_the_pages_image(editor: Client) -> None:
    upload = SimpleUploadedFile("photo.png", PNG, content_type="image/png")
    assert edit(editor, image_upload=upload).status_code == 302
    assert bytes(PageImage.objects.get().data) == PNG
    assert 'id="current-image"' in editor.get(f"/pages/{BookingPage.objects.get().pk}/").text
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 64
    upload = SimpleUploadedFile("photo.jpg", jpeg, content_type="image/jpeg")
    assert edit(editor, image_upload=upload).status_code == 302
    assert PageImage.objects.get().content_type == "image/jpeg"
    assert edit(editor, remove_image="on").status_code == 302
    assert not PageImage.objects.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"<svg onload=alert(1)>", "Upload a PNG, JPEG or WebP image."),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 210_000, "at most 200 KB"),
    ],
)
def test_the_editor_refuses_an_image_that_isnt_one_or_is_too_big(
    editor: Client, content: bytes, words: str
) -> None:
    upload = SimpleUploadedFile("photo.png", content, content_type="image/png")
    response = edit(editor, image_upload=upload, accent_color="#0b6e4f")
    assert response.status_code == 400
    assert words in response.content.decode()
    assert not PageImage.objects.exists()
    assert BookingPage.objects.get().accent_color == ""  # nothing is saved half-way

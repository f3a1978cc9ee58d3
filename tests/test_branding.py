"""Branding: the site's name, logo and accent colour set in Django admin, a page's own
colour, served as a stylesheet and images; colours that fail WCAG AA are refused."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bookings.models import BookingPage, PageImage, SiteBranding

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@contoso.example", "pw"))
    return client


def save_branding(client: Client, **data: object):  # type: ignore[no-untyped-def]
    body = {"organisation_name": "Contoso", "accent_color": "#0b6e4f", **data}
    existing = SiteBranding.objects.first()
    url = (
        f"/admin/bookings/sitebranding/{existing.pk}/change/"
        if existing
        else "/admin/bookings/sitebranding/add/"
    )
    return client.post(url, body)


def test_an_admin_sets_the_name_logo_and_colour_and_pages_get_them(admin_client) -> None:
    logo = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
    assert save_branding(admin_client, logo_upload=logo).status_code == 302
    branding = SiteBranding.current()
    assert (branding.organisation_name, branding.logo_type) == ("Contoso", "image/png")
    css = Client().get("/branding/site.css")
    assert css["Content-Type"] == "text/css"
    assert "--c-primary: #0b6e4f;" in css.content.decode()
    image = Client().get("/branding/logo")
    assert image.content == PNG and image["X-Content-Type-Options"] == "nosniff"
    assert image["Content-Type"] == "image/png"


def test_a_colour_that_fails_contrast_is_refused_with_a_shade_that_passes(admin_client) -> None:
    response = save_branding(admin_client, accent_color="#ffd500")
    assert response.status_code == 200  # Django admin re-shows the form with the error
    text = response.content.decode()
    assert "4.5:1" in text and "The nearest shade that passes is #" in text
    assert not SiteBranding.objects.exists()


def test_a_logo_that_isnt_an_image_is_refused(admin_client) -> None:
    fake = SimpleUploadedFile("logo.png", b"<svg onload=alert(1)>", content_type="image/png")
    response = save_branding(admin_client, logo_upload=fake)
    assert "Upload a PNG, JPEG or WebP image." in response.content.decode()
    assert Client().get("/branding/logo").status_code == 404


def test_a_pages_own_colour_wins_over_the_sites_and_its_image_is_served() -> None:
    owner = User.objects.create_user("olivia")
    SiteBranding.objects.create(pk=1, accent_color="#0b6e4f")
    page = BookingPage.objects.create(owner=owner, slug="advice", title="Advice")
    assert "#0b6e4f" in Client().get("/branding/pages/advice.css").content.decode()
    page.accent_color = "#6b21a8"
    page.full_clean()
    page.save()
    assert "#6b21a8" in Client().get("/branding/pages/advice.css").content.decode()
    page.accent_color = "#ffff00"
    with pytest.raises(ValidationError, match=r"4\.5:1"):
        page.full_clean()
    assert Client().get("/branding/pages/advice/image").status_code == 404
    PageImage.objects.create(page=page, data=PNG, content_type="image/png")
    assert Client().get("/branding/pages/advice/image").content == PNG
    assert Client().get("/branding/pages/nope.css").status_code == 404

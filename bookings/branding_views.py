"""Branding served to browsers: the accent colour as a stylesheet (the Content-Security-Policy
allows no inline styles), the site's logo and a page's image. Public, cacheable, versioned by
the URL's ?v= (the row's update time), so a change shows at once."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from bookings import branding
from bookings.models import BookingPage, PageImage, SiteBranding

CACHE = "public, max-age=86400"


def _css(accent: str) -> HttpResponse:
    response = HttpResponse(branding.css(accent) if accent else "", content_type="text/css")
    response["Cache-Control"] = CACHE
    return response


def _image(data: bytes, kind: str) -> HttpResponse:
    response = HttpResponse(bytes(data), content_type=kind)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = CACHE
    return response


@require_GET
def site_css(request: HttpRequest) -> HttpResponse:
    return _css(SiteBranding.current().accent_color)


@require_GET
def page_css(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(BookingPage.objects.only("accent_color"), slug=slug, active=True)
    return _css(page.accent_color or SiteBranding.current().accent_color)


@require_GET
def site_logo(request: HttpRequest) -> HttpResponse:
    found = SiteBranding.objects.filter(pk=1).exclude(logo_type="").first()
    if found is None:
        raise Http404("No logo.")
    return _image(found.logo, found.logo_type)


@require_GET
def page_image(request: HttpRequest, slug: str) -> HttpResponse:
    image = get_object_or_404(PageImage, page__slug=slug, page__active=True)
    return _image(image.data, image.content_type)

"""Which pages other websites may show in an <iframe> (the booking page's embed snippet).

Every response keeps `frame-ancestors 'none'` and `X-Frame-Options: DENY` (clickjacking)
except the customer's booking pages, which the origins in settings.EMBED_ALLOWED_ORIGINS may
frame. Decided here by the resolved URL's name, in one place, so no view can forget it and a
new staff page is never framable by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve

# The booking page (and its /book/ alias), its no-script form post, the confirmation, and the
# manage link's steps. Not the APIs, the .ics or photos (nothing to show), never staff pages.
FRAMABLE_URL_NAMES = frozenset(
    {
        "public-page",
        "public-page-alias",
        "public-book",
        "booking-confirmed",
        "manage-booking",
        "manage-reschedule",
        "manage-cancel",
    }
)

# `?embed=1`: the page is shown inside the embed snippet's iframe (no site header).
EMBED_PARAM = "embed"


def is_framable(request: HttpRequest) -> bool:
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return False
    return match.url_name in FRAMABLE_URL_NAMES


def _posted_from_here(request: HttpRequest) -> bool:
    """The browser says the form was on one of our own pages (the Origin header, which a
    web page can't forge)."""
    origin = request.META.get("HTTP_ORIGIN", "")
    try:
        return bool(origin) and origin == f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return False


def _with_embed(location: str) -> str:
    """A redirect to one of our pages, still in embed mode."""
    parts = urlsplit(location)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return location  # not ours: leave it
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != EMBED_PARAM]
    query.append((EMBED_PARAM, "1"))
    return urlunsplit(("", "", parts.path, urlencode(query), parts.fragment))


class EmbedFramingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        framable = is_framable(request)
        origins = list(settings.EMBED_ALLOWED_ORIGINS)
        embedding = framable and bool(origins)
        # Templates read it (request.embed): no site header, links that leave the frame.
        request.embed = framable and request.GET.get(EMBED_PARAM) == "1"  # type: ignore[attr-defined]
        if embedding and request.method == "POST" and _posted_from_here(request):
            # Inside a third-party iframe Chromium neither stores nor sends our SameSite=Lax
            # CSRF cookie (and SameSite=None would need HTTPS, and is blocked wherever
            # third-party cookies are), so the no-script booking form and the manage link's
            # cancel and move forms would fail with "CSRF cookie not set". For these customer
            # forms only, the Origin header naming this site is the CSRF check: a cross-site
            # form can't send it. They need no cookie otherwise: the manage link's token is
            # the credential, and a booking is anonymous. (The JavaScript path posts to the
            # JSON API, which never used a cookie.) Staff pages keep Django's token check.
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        response = self.get_response(request)
        if embedding:
            response.xframe_options_exempt = True  # type: ignore[attr-defined]
            replace = dict(getattr(response, "_csp_replace", None) or {})
            replace["frame-ancestors"] = origins
            response._csp_replace = replace  # type: ignore[attr-defined]
        if request.embed and response.status_code in (301, 302, 303, 307, 308):  # type: ignore[attr-defined]
            # After the no-script form's post: the confirmation, still without the header.
            response["Location"] = _with_embed(response["Location"])
        return response

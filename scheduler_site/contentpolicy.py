"""Per-page additions to the Content-Security-Policy in settings.CONTENT_SECURITY_POLICY."""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponseBase

from calendars.oauth import authority_for

R = TypeVar("R", bound=HttpResponseBase)


def microsoft_sign_in_origin() -> str:
    parts = urlsplit(authority_for(settings.MICROSOFT_TENANT, settings.MICROSOFT_AUTHORITY))
    return f"{parts.scheme}://{parts.netloc}"


def allow_microsoft_sign_in(response: R) -> R:
    """For a page with the "Connect with Microsoft" form: the form POSTs to us and we redirect
    to Microsoft's sign-in page, and Chromium applies form-action to that redirect too, so
    'self' alone would stop the browser there."""
    if settings.MICROSOFT_CLIENT_ID:
        response._csp_update = {"form-action": [microsoft_sign_in_origin()]}  # type: ignore[attr-defined]
    return response

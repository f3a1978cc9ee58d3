"""The customer's language: which one a page, a manage link or an email is in, and dates and
times written the way a reader of that language expects.

Which language:
- a public page, its confirmation, its manage link and the public API answer in the page's
  own language (BookingPage.language) when it has one, else in the visitor's Accept-Language
  among settings.LANGUAGES (LocaleMiddleware chose it), else English;
- a booking remembers the language it was made in (Booking.language), and every later email
  to that customer (reminders, changes, cancellation, a new team member) is in it, even when
  a worker sends it long after the request;
- staff pages and staff emails are English: their strings are marked but only English ships,
  and a German browser must not turn Django's own form errors German on an English page.

Dates: Babel's CLDR data ("Montag, 29. März 2027", "lundi 29 mars 2027"). English keeps the
app's own British-style wording ("Monday 29 March 2027"), which its emails always had.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_datetime
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.i18n import JavaScriptCatalog

ENGLISH = "en"
# The views customers see; every other view (staff pages, Django admin) is English.
CUSTOMER_MODULES = {"bookings.views", "bookings.api", "bookings.languages"}


def supported() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def normalise(code: str | None) -> str:
    """A supported language code for `code` ("de-AT" → "de"), or English."""
    if not code:
        return ENGLISH
    base = code.lower().replace("_", "-").split("-")[0]
    return base if base in supported() else ENGLISH


def current() -> str:
    """The language active now, as a supported code: what a booking made now is stored in."""
    return normalise(translation.get_language())


def use_page(page: Any) -> None:
    """Switch this request to the page's language when it has one; otherwise the visitor's
    (LocaleMiddleware activated it from Accept-Language) stays."""
    if page.language in supported():
        translation.activate(page.language)


def of_booking(booking: Any) -> str:
    """The language a customer's emails about `booking` are written in."""
    return normalise(booking.language or booking.page.language or ENGLISH)


@contextmanager
def customer(booking: Any) -> Iterator[None]:
    with translation.override(of_booking(booking)):
        yield


class StaffInEnglishMiddleware:
    """After LocaleMiddleware: only customer views keep the visitor's language; staff pages
    and the admin are English, so Django's built-in strings (form errors, the admin) never
    come out German around the app's English staff text."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Any, args: Any, kwargs: Any) -> None:
        if getattr(view_func, "__module__", "") not in CUSTOMER_MODULES:
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE  # type: ignore[attr-defined]


def js_catalog(request: HttpRequest, language: str) -> HttpResponse:
    """booking.js's strings in `language` (the page's, from <html lang>): Django's
    JavaScriptCatalog, a script from our own origin, so the CSP's script-src 'self' allows
    it. In the address rather than the visitor's Accept-Language, because a German page
    shown to an English browser must say its JavaScript texts in German too."""
    with translation.override(normalise(language)):
        response = JavaScriptCatalog.as_view(packages=["bookings"])(request)
    response["Cache-Control"] = "public, max-age=3600"
    return response


# --- dates and times ---------------------------------------------------------------------


def _locale() -> str:
    return current()


def long_day(value: date) -> str:
    """ "Monday 29 March 2027", "Montag, 29. März 2027", "lundi 29 mars 2027"."""
    lang = _locale()
    if lang == ENGLISH:
        return f"{value:%A} {value.day} {value:%B %Y}"
    return format_date(value, "full", locale=lang)


DAY_MONTH = {"de": "EEEE, d. MMMM", "fr": "EEEE d MMMM"}


def day_month(value: date) -> str:
    """ "Monday 4 January", "Montag, 4. Januar", "lundi 4 janvier" (no year)."""
    lang = _locale()
    if lang == ENGLISH:
        return f"{value:%A} {value.day} {value:%B}"
    # CLDR's skeletons abbreviate the weekday here ("Mo., 29. März"); the long form reads
    # like the full date without its year.
    return format_date(value, DAY_MONTH.get(lang, "EEEE d MMMM"), locale=lang)


def clock(value: datetime) -> str:
    """ "09:00": 24-hour, as every one of the three languages writes it in a booking."""
    return f"{value:%H:%M}"


def zone_abbreviation(value: datetime, zone: str) -> str:
    """ "BST", "MESZ": the zone's letters in the reader's language, or "" when
    they would only repeat the offset ("+04", "GMT+1")."""
    lang = _locale()
    if lang == ENGLISH:
        abbr = value.tzname() or ""
    else:
        abbr = format_datetime(value, "z", tzinfo=value.tzinfo, locale=lang)
    return abbr if abbr.isalpha() and abbr != zone else ""


def when(start: datetime, end: datetime, zone: str) -> str:
    """ "Monday 29 March 2027, 09:00 to 09:30 (Europe/London, BST)", or in German
    "Montag, 29. März 2027, 09:00-09:30 (Europe/Berlin, MESZ)"; the IANA name always."""
    tz = zoneinfo.ZoneInfo(zone)
    start, end = start.astimezone(tz), end.astimezone(tz)
    if end.date() == start.date():
        span = _("%(day)s, %(start)s to %(end)s") % {
            "day": long_day(start),
            "start": clock(start),
            "end": clock(end),
        }
    else:
        span = _("%(day)s, %(start)s to %(end_day)s, %(end)s") % {
            "day": long_day(start),
            "start": clock(start),
            "end_day": long_day(end),
            "end": clock(end),
        }
    abbr = zone_abbreviation(start, zone)
    return f"{span} ({zone}, {abbr})" if abbr else f"{span} ({zone})"


def short_when(start: datetime, zone: str) -> str:
    """ "Mon 29 Mar 2027, 09:00" (subject lines); "Mo. 29.03.2027, 09:00"; "lun. 29 mars
    2027, 09:00"."""
    local = start.astimezone(zoneinfo.ZoneInfo(zone))
    lang = _locale()
    if lang == ENGLISH:
        return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"
    weekday = format_date(local, "EEE", locale=lang)
    return f"{weekday} {format_date(local, 'medium', locale=lang)}, {clock(local)}"

"""'Add to calendar' links for web calendars, beside the .ics download.

Each link opens the calendar's "new event" form filled in with the booking; the customer
saves it there. The formats are the calendars' own, undocumented by Microsoft and only
loosely by Google (the parameters below are the ones every "add to calendar" widget uses):

  Google       https://calendar.google.com/calendar/render?action=TEMPLATE&text=…
               &dates=20270329T080000Z/20270329T083000Z&details=…&location=…
  Outlook.com  https://outlook.live.com/calendar/0/deeplink/compose?path=/calendar/action/compose
               &rru=addevent&subject=…&startdt=2027-03-29T08:00:00Z&enddt=…&body=…&location=…
  Office 365   the same on https://outlook.office.com/

Times are UTC with a "Z", so each calendar shows them in its user's own zone. Values are
percent-encoded with %20 for spaces: Outlook shows a "+" literally. Only the booking's own
data goes into a link (the page's title, description and location, the manage link), never
anything read from Exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from bookings import team_public
from bookings.ics import description
from bookings.models import Booking

GOOGLE = "https://calendar.google.com/calendar/render?action=TEMPLATE"
OUTLOOK_COM = "https://outlook.live.com/calendar/0/deeplink/compose"
OFFICE_365 = "https://outlook.office.com/calendar/0/deeplink/compose"
OUTLOOK_ACTION = "path=/calendar/action/compose&rru=addevent"
# A long page description would make a link some browsers and mail clients cut short.
MAX_DETAILS = 1000


@dataclass(frozen=True)
class CalendarLink:
    key: str  # "google", "outlook", "office365": ids and test hooks
    label: str
    url: str


def links(booking: Booking) -> list[CalendarLink]:
    return [
        CalendarLink("google", "Google Calendar", google_url(booking)),
        CalendarLink("outlook", "Outlook.com", outlook_url(booking, OUTLOOK_COM)),
        CalendarLink("office365", "Office 365", outlook_url(booking, OFFICE_365)),
    ]


def google_url(booking: Booking) -> str:
    dates = f"{_compact(booking.start)}/{_compact(booking.end)}"
    return f"{GOOGLE}&" + _query(
        [
            ("text", team_public.meeting_title(booking)),
            ("dates", dates),
            ("details", _details(booking)),
            ("location", booking.page.location),
        ]
    )


def outlook_url(booking: Booking, base: str = OUTLOOK_COM) -> str:
    return f"{base}?{OUTLOOK_ACTION}&" + _query(
        [
            ("subject", team_public.meeting_title(booking)),
            ("startdt", _iso(booking.start)),
            ("enddt", _iso(booking.end)),
            ("body", _details(booking)),
            ("location", booking.page.location),
        ]
    )


def _query(pairs: list[tuple[str, str]]) -> str:
    # safe="/" keeps Google's "start/end" readable; everything else is encoded, "&" and "#"
    # included, so a title like "Q&A #2" can't end a parameter early.
    return "&".join(f"{key}={quote(value, safe='/')}" for key, value in pairs if value)


def _details(booking: Booking) -> str:
    return description(booking, limit=MAX_DETAILS)


def _compact(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _iso(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"

"""What customers and API clients send, read in exactly the documented forms.

Python's ISO parsers are generous (`date.fromisoformat` takes 20270101 and 2027-W01-1 too),
so the documented form is matched first and only then parsed. Days and times are also kept
a year away from the ends of the calendar: a day in year 1 or 9999 is a valid date, but
adding a day or a time zone's offset to it overflows (OverflowError, a 500), and no booking
page has slots there anyway.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

# The days the API accepts. Inside it, a day is answered even when it is outside a page's
# booking window (with no slots); outside it, the request is refused.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)

# [0-9], not \d: \d also matches other scripts' digits.
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339's date-time (OpenAPI's `format: date-time`), as the slots API writes it.
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_NAIVE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?")

DAY_RANGE = f"from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
# Translated where it is shown (gettext_noop: compared as English in tests).
NO_NUL = gettext_noop("Must not contain a NUL character.")


class BadInput(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_day(raw: str) -> date:
    """A day written YYYY-MM-DD and nothing else, between FIRST_DAY and LAST_DAY."""
    if not _DAY.fullmatch(raw):
        raise BadInput(_("Enter a date as YYYY-MM-DD."))
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadInput(_("%(day)s is not a date.") % {"day": raw}) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(_("Enter a date %(range)s.") % {"range": DAY_RANGE})
    return day


def parse_moment(raw: str) -> datetime:
    """An RFC 3339 date-time with its offset (2027-01-04T10:00:00+01:00, or Z for UTC), as
    a UTC datetime. A time without an offset is refused: it would be ambiguous."""
    if not _MOMENT.fullmatch(raw):
        if _NAIVE.fullmatch(raw):
            raise BadInput(_("The time needs a UTC offset, e.g. +01:00 or Z."))
        raise BadInput(
            _(
                "%(value)r is not a time as YYYY-MM-DDTHH:MM:SS with an offset, "
                "e.g. 2027-01-04T10:00:00+01:00."
            )
            % {"value": raw[:40]}
        )
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadInput(_("%(value)r is not a time that exists.") % {"value": raw[:40]}) from None
    # The local date bounds the UTC one to a day either way, so this can't overflow.
    if not FIRST_DAY <= moment.date() <= LAST_DAY:
        raise BadInput(_("Enter a time %(range)s.") % {"range": DAY_RANGE})
    return moment.astimezone(UTC)


def has_nul(value: str) -> bool:
    """PostgreSQL can't store a NUL character in text (SQLite can): it must be refused before
    it reaches the database, or it is a 500 there and not here."""
    return "\x00" in value

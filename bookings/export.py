"""The staff booking list as CSV, for a spreadsheet.

Times are in each booking's page zone, and the zone is a column of its own: a file opened
elsewhere still says what "10:00" means. Customers type names, answers and notes, so every
cell a spreadsheet would read as a formula is defused (OWASP's CSV injection advice).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

from bookings import write_status
from bookings.models import Booking

HEADER = [
    "Date",
    "Start",
    "End",
    "Time zone",
    "Customer",
    "Email",
    "Phone",
    "Customer's time zone",
    "Booking page",
    "Status",
    "Exchange",
    "Answers",
    "Notes",
    "Cancelled",
    "Cancellation reason",
]

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (tab and carriage return too, as OWASP lists them).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Writable(Protocol):
    def write(self, data: str, /) -> Any: ...


def safe(value: object) -> str:
    """The cell's text, prefixed with ' when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def row(booking: Booking) -> list[str]:
    zone = booking.page.zone
    start, end = booking.start.astimezone(zone), booking.end.astimezone(zone)
    exchange = write_status.summary(booking.writes.all())
    answers = "; ".join(f"{label}: {answer}" for label, answer in booking.labelled_answers())
    cancelled = ""
    if booking.cancelled_at:
        cancelled = (
            f"{booking.cancelled_at.astimezone(zone):%Y-%m-%d %H:%M} by {booking.cancelled_by}"
        )
    cells = [
        f"{start:%Y-%m-%d}",
        f"{start:%H:%M}",
        f"{end:%H:%M}",
        booking.page.timezone,
        booking.name,
        booking.email,
        booking.phone,
        booking.timezone,
        booking.page.title,
        booking.get_status_display(),
        exchange.words if exchange else "",
        answers,
        booking.notes,
        cancelled,
        booking.cancel_reason,
    ]
    return [safe(cell) for cell in cells]


def write_csv(out: Writable, bookings: Iterable[Booking]) -> None:
    # A byte-order mark, or Excel reads the UTF-8 file as ANSI and mangles "Zoë" and "→".
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for booking in bookings:
        writer.writerow(row(booking))

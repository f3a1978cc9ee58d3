"""Exporting the staff booking list as CSV: the filtered list, every matching row, times in
each page's zone with the zone named, cells a spreadsheet would run defused, and only the
signed-in staff member's own bookings."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from bookings import actions, writes
from bookings.export import HEADER, safe
from bookings.models import Booking, BookingPage, Question
from tests.world import monday_after

pytestmark = pytest.mark.django_db

ANN = actions.CustomerDetails("Ann Customer", "ann@example.com", "Asia/Kolkata")


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def page(world) -> BookingPage:  # type: ignore[no-untyped-def]
    return world.page(world.staff("alice"), tz="America/New_York", title="Tax advice")


@pytest.fixture
def staff(client: Client, page: BookingPage) -> Client:
    client.force_login(page.owner)
    return client


def book(page: BookingPage, hour: int = 15, customer: actions.CustomerDetails = ANN) -> Booking:
    return actions.book(page, monday_after().replace(hour=hour), customer)


def export(client: Client, query: str = "") -> list[dict[str, str]]:
    r = client.get(f"/bookings/export.csv{query}")
    assert r.status_code == 200, r.content
    assert r["Content-Type"] == "text/csv; charset=utf-8"
    assert r["Content-Disposition"].startswith('attachment; filename="bookings-')
    assert r.content.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


def test_the_export_has_one_row_per_booking_with_times_in_the_pages_zone_named(
    staff: Client, page: BookingPage
) -> None:
    question = Question.objects.create(page=page, label="Company")
    customer = actions.CustomerDetails(
        "Ann Customer",
        "ann@example.com",
        "Asia/Kolkata",
        notes="Bring the contract.",
        answers={question.key: "Contoso"},
    )
    booking = book(page, customer=customer)
    writes.perform(booking.writes.get().pk)
    [row] = export(staff)
    local = booking.start.astimezone(ZoneInfo("America/New_York"))
    assert row["Date"] == f"{local:%Y-%m-%d}"
    assert row["Start"] == f"{local:%H:%M}" and row["Start"] != f"{booking.start:%H:%M}"
    assert row["End"] == f"{local + timedelta(minutes=30):%H:%M}"
    assert row["Time zone"] == "America/New_York"
    assert row["Customer"] == "Ann Customer" and row["Email"] == "ann@example.com"
    assert row["Customer's time zone"] == "Asia/Kolkata"
    assert row["Booking page"] == "Tax advice"
    assert row["Status"] == "Confirmed"
    assert row["Exchange"] == "In Exchange"
    assert row["Answers"] == "Company: Contoso"
    assert row["Notes"] == "Bring the contract."


def test_the_export_holds_every_matching_booking_not_one_page_of_the_list(
    staff: Client, page: BookingPage
) -> None:
    start = monday_after()
    Booking.objects.bulk_create(
        Booking(
            page=page,
            owner=page.owner,
            uid=f"many-{n}@test",
            start=start + timedelta(hours=n),
            end=start + timedelta(hours=n, minutes=30),
            name=f"Customer {n}",
            email=f"c{n}@example.com",
        )
        for n in range(120)
    )
    rows = export(staff)
    assert len(rows) == 120
    assert [r["Customer"] for r in rows[:2]] == ["Customer 0", "Customer 1"]  # list's order


def test_the_export_uses_the_lists_search_page_and_show_filters(
    world, staff: Client, page: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    other = world.page(page.owner, title="Second opinion")
    book(page, hour=14)
    book(page, hour=15, customer=actions.CustomerDetails("Otto Other", "otto@x.org", "UTC"))
    book(other, hour=16, customer=actions.CustomerDetails("Ann Two", "a2@x.org", "UTC"))
    gone = book(page, hour=17, customer=actions.CustomerDetails("Ann Gone", "ag@x.org", "UTC"))
    actions.cancel(gone, by="customer")

    assert [r["Customer"] for r in export(staff, "?q=ann")] == ["Ann Customer", "Ann Two"]
    assert [r["Customer"] for r in export(staff, f"?q=ann&page={page.pk}")] == ["Ann Customer"]
    cancelled = export(staff, "?show=cancelled")
    assert [r["Customer"] for r in cancelled] == ["Ann Gone"]
    assert cancelled[0]["Status"] == "Cancelled"
    assert cancelled[0]["Cancelled"].endswith(" by customer")
    assert export(staff, "?show=past") == []


def test_the_export_refuses_filters_the_list_refuses(staff: Client, page: BookingPage) -> None:
    assert staff.get("/bookings/export.csv?show=everything").status_code == 400
    assert staff.get("/bookings/export.csv?page=nonsense").status_code == 400


def test_cells_a_spreadsheet_would_run_as_formulas_are_defused(
    staff: Client, page: BookingPage
) -> None:
    question = Question.objects.create(page=page, label="Company")
    customer = actions.CustomerDetails(
        '=HYPERLINK("http://evil.example","click")',
        "ann@example.com",
        "UTC",
        phone="+44 20 7946 0000",
        notes="@SUM(A1:A9)",
        answers={question.key: "-2+3"},
    )
    book(page, customer=customer)
    [row] = export(staff)
    assert row["Customer"] == '\'=HYPERLINK("http://evil.example","click")'
    assert row["Phone"] == "'+44 20 7946 0000"
    assert row["Notes"] == "'@SUM(A1:A9)"
    assert row["Answers"] == "Company: -2+3"  # starts with a letter: left as it is
    assert row["Email"] == "ann@example.com"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_safe_prefixes_formula_starts_only(value: str | None, cell: str) -> None:
    assert safe(value) == cell


def test_bob_cannot_export_alices_bookings(world, client: Client, page: BookingPage) -> None:  # type: ignore[no-untyped-def]
    book(page)
    bob_page = world.page(world.staff("bob"), title="Bob's page")
    book(bob_page, hour=16, customer=actions.CustomerDetails("Bob's Customer", "bc@x.org", "UTC"))
    client.force_login(bob_page.owner)
    assert [r["Customer"] for r in export(client)] == ["Bob's Customer"]
    assert export(client, "?q=ann") == []
    # Alice's page is not one of his: refused like the list refuses it.
    assert client.get(f"/bookings/export.csv?page={page.pk}").status_code == 400


def test_a_superuser_exports_everyones_bookings(world, client: Client, page: BookingPage) -> None:  # type: ignore[no-untyped-def]
    book(page)
    admin = world.staff("root", superuser=True)
    client.force_login(admin)
    assert [r["Customer"] for r in export(client)] == ["Ann Customer"]


def test_signing_in_is_needed_to_export(client: Client, page: BookingPage) -> None:
    book(page)
    r = client.get("/bookings/export.csv")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_the_cancellation_time_is_in_the_pages_zone(staff: Client, page: BookingPage) -> None:
    booking = book(page)
    actions.cancel(booking, by="staff")
    Booking.objects.filter(pk=booking.pk).update(
        cancelled_at=datetime(2027, 7, 1, 9, 5, tzinfo=UTC)
    )
    [row] = export(staff, "?show=cancelled")
    assert row["Cancelled"] == "2027-07-01 05:05 by staff"

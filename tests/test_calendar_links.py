"""The meeting's title and the "add to calendar" links for Google, Outlook.com and Office 365."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User

from bookings import calendar_links
from bookings.models import Booking, BookingPage, booking_for_token

pytestmark = pytest.mark.django_db

# 09:00 in London (BST) is 08:00 UTC; the customer is in New York.
START = datetime(2027, 3, 29, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _site(settings) -> None:
    settings.SITE_URL = "https://scheduler.contoso.example"


@pytest.fixture
def owner(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(
        "aliddell", "alice@contoso.example", None, first_name="Alice", last_name="Liddell"
    )


@pytest.fixture
def page(owner: User) -> BookingPage:
    return BookingPage.objects.create(
        owner=owner, slug="intro", title="Tax advice", location="Room 4", timezone="Europe/London"
    )


@pytest.fixture
def booking(page: BookingPage) -> Booking:
    return Booking.objects.create(
        page=page,
        owner=page.owner,
        start=START,
        end=START + timedelta(minutes=30),
        timezone="America/New_York",
        name="Carol Customer",
        email="carol@example.com",
    )


def query(url: str) -> dict[str, str]:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in values.values()), values
    return {key: v[0] for key, v in values.items()}


# --- the title: the owner's name once ------------------------------------------------------


def test_a_title_without_the_owners_name_gets_it_appended(page: BookingPage) -> None:
    assert page.meeting_title == "Tax advice with Alice Liddell"


@pytest.mark.parametrize(
    "title",
    [
        "Intro call with Alice",  # the demo's page: first name only
        "Intro call with Alice Liddell",
        "Meet Ms Liddell",
        "ALICE's office hours",  # any case, followed by punctuation
        "Chat (aliddell)",  # the user name
    ],
)
def test_a_title_that_names_the_owner_is_kept_as_typed(page: BookingPage, title: str) -> None:
    page.title = title
    assert page.meeting_title == title


@pytest.mark.parametrize("title", ["Malice review", "Alicesprings tour", "Liddellish"])
def test_only_a_whole_word_counts_as_the_owners_name(page: BookingPage, title: str) -> None:
    page.title = title
    assert page.meeting_title == f"{title} with Alice Liddell"


def test_an_owner_without_a_full_name_is_named_by_user_name(page: BookingPage) -> None:
    page.owner.first_name = page.owner.last_name = ""
    assert page.meeting_title == "Tax advice with aliddell"
    page.title = "Tax advice with aliddell"
    assert page.meeting_title == "Tax advice with aliddell"


def test_a_name_with_regex_characters_is_matched_literally(page: BookingPage) -> None:
    page.owner.first_name, page.owner.last_name = "A.", "(Al)+"
    page.title = "Tax advice with AX"
    assert page.meeting_title == "Tax advice with AX with A. (Al)+"
    page.title = "Tax advice with (Al)+"
    assert page.meeting_title == "Tax advice with (Al)+"


# --- the links ----------------------------------------------------------------------------


def test_the_google_link_is_a_template_with_utc_times(booking: Booking) -> None:
    url = calendar_links.google_url(booking)

    assert url.startswith("https://calendar.google.com/calendar/render?action=TEMPLATE&text=")
    assert "&dates=20270329T080000Z/20270329T083000Z&" in url
    params = query(url)
    assert params["action"] == "TEMPLATE"
    assert params["text"] == "Tax advice with Alice Liddell"
    assert params["dates"] == "20270329T080000Z/20270329T083000Z"
    assert params["location"] == "Room 4"
    token = params["details"].removeprefix(
        "To cancel or reschedule: https://scheduler.contoso.example/manage/"
    )
    assert booking_for_token(token.rstrip("/")) == booking


def test_the_outlook_links_are_compose_deeplinks_with_utc_times(booking: Booking) -> None:
    for base, url in [
        ("https://outlook.live.com", calendar_links.outlook_url(booking)),
        (
            "https://outlook.office.com",
            calendar_links.outlook_url(booking, calendar_links.OFFICE_365),
        ),
    ]:
        assert url.startswith(
            f"{base}/calendar/0/deeplink/compose?path=/calendar/action/compose&rru=addevent&"
        )
        params = query(url)
        assert params["subject"] == "Tax advice with Alice Liddell"
        assert params["startdt"] == "2027-03-29T08:00:00Z"
        assert params["enddt"] == "2027-03-29T08:30:00Z"
        assert params["location"] == "Room 4"
        assert "/manage/" in params["body"]


def test_the_exact_links(booking: Booking) -> None:
    token = booking.manage_token()  # signed, not timestamped: the same every time
    details = (
        "To%20cancel%20or%20reschedule%3A%20"
        f"https%3A//scheduler.contoso.example/manage/{token.replace(':', '%3A')}/"
    )
    google, outlook, office = calendar_links.links(booking)

    assert google.url == (
        "https://calendar.google.com/calendar/render?action=TEMPLATE"
        "&text=Tax%20advice%20with%20Alice%20Liddell"
        "&dates=20270329T080000Z/20270329T083000Z"
        f"&details={details}&location=Room%204"
    )
    compose = "/calendar/0/deeplink/compose?path=/calendar/action/compose&rru=addevent"
    fields = (
        "&subject=Tax%20advice%20with%20Alice%20Liddell"
        "&startdt=2027-03-29T08%3A00%3A00Z&enddt=2027-03-29T08%3A30%3A00Z"
        f"&body={details}&location=Room%204"
    )
    assert outlook.url == f"https://outlook.live.com{compose}{fields}"
    assert office.url == f"https://outlook.office.com{compose}{fields}"


def test_special_characters_are_percent_encoded_never_as_plus(booking: Booking) -> None:
    page = booking.page
    page.title = "Q&A #2 + tax=50%?"
    page.description = "Line one\nLine two; café ☕"
    page.location = "Room 1, Floor 2 & 3"
    page.save()

    for link in calendar_links.links(booking):
        assert "+" not in link.url and " " not in link.url and "\n" not in link.url
        assert "Q%26A%20%232%20%2B%20tax%3D50%25%3F" in link.url
        params = query(link.url)
        title = params.get("text") or params["subject"]
        assert title == "Q&A #2 + tax=50%? with Alice Liddell"
        assert (params.get("location")) == "Room 1, Floor 2 & 3"
        notes = params.get("details") or params["body"]
        assert notes.startswith("Line one\nLine two; café ☕\n\nTo cancel or reschedule: ")


def test_times_are_utc_whatever_the_zones(booking: Booking) -> None:
    # Tokyo has no DST and is 9 hours ahead: the link still says the UTC instant.
    booking.timezone = "Asia/Tokyo"
    booking.page.timezone = "Asia/Tokyo"
    assert "dates=20270329T080000Z/20270329T083000Z" in calendar_links.google_url(booking)
    assert "startdt=2027-03-29T08%3A00%3A00Z" in calendar_links.outlook_url(booking)


def test_a_long_description_is_cut_short_but_keeps_the_manage_link(booking: Booking) -> None:
    booking.page.description = "word " * 2000
    url = calendar_links.google_url(booking)
    details = query(url)["details"]
    assert len(details) < calendar_links.MAX_DETAILS + 200
    assert "…\n\nTo cancel or reschedule: https://scheduler.contoso.example/manage/" in details


def test_a_page_without_a_location_leaves_the_parameter_out(booking: Booking) -> None:
    booking.page.location = ""
    for link in calendar_links.links(booking):
        assert "location=" not in link.url


def test_the_links_hold_only_the_bookings_own_data(booking: Booking) -> None:
    # Nothing about the customer (they know it) and nothing read from Exchange goes out.
    booking.notes = "private notes"
    for link in calendar_links.links(booking):
        values = " ".join(query(link.url).values())
        assert "Carol" not in values and "carol@example.com" not in values
        assert "private notes" not in values
    assert [link.label for link in calendar_links.links(booking)] == [
        "Google Calendar",
        "Outlook.com",
        "Office 365",
    ]

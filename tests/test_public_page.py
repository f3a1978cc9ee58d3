"""The public booking page, its no-JavaScript form and the confirmation page.

The form posts through the same code as the JSON API (bookings.actions) against the EWS
simulator, so "booked" here means the slot was re-checked with Exchange and stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from bookings.models import Booking, BookingPage, Question, QuestionKind
from tests.world import monday_after

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def page(world) -> BookingPage:
    """A London page, Monday to Friday 9:00-17:00, the owner's own calendar as main."""
    return world.page(world.staff("olivia"), title="Tax advice", location="Room 4, Leeds")


def form(start: datetime, **fields: str) -> dict[str, str]:
    data = {
        "start": start.isoformat(),
        "timezone": "America/New_York",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    }
    data.update(fields)
    return data


def ten_on_monday() -> datetime:
    """10:00 London on a Monday (UTC+0 or +1): a free slot on the `page` fixture."""
    day = monday_after().date()
    return datetime.combine(day, time(10), tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)


def test_it_shows_the_page_title_owner_duration_and_location(page: BookingPage) -> None:
    page.owner.first_name, page.owner.last_name = "Olivia", "Olsen"
    page.owner.save()
    page.description = "Bring last year's return."
    page.save()
    response = Client().get(f"/{page.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Tax advice</h1>" in html
    assert "with Olivia Olsen" in html
    assert "30 minutes" in html
    assert "Room 4, Leeds" in html
    assert "Bring last year&#x27;s return." in html


def test_an_unknown_slug_is_a_404(db) -> None:
    assert Client().get("/no-such-page/").status_code == 404


def test_an_inactive_page_is_a_404(page: BookingPage) -> None:
    page.active = False
    page.save()
    assert Client().get(f"/{page.slug}/").status_code == 404
    assert Client().post(f"/{page.slug}/book/", form(ten_on_monday())).status_code == 404


def test_the_page_is_also_served_under_book(page: BookingPage) -> None:
    response = Client().get(f"/book/{page.slug}/")
    assert response.status_code == 200
    assert "<h1>Tax advice</h1>" in response.content.decode()


def test_it_renders_the_pages_questions_with_their_kinds(page: BookingPage) -> None:
    short = Question.objects.create(page=page, label="Company", required=True, position=1)
    long = Question.objects.create(page=page, label="Your question", kind=QuestionKind.LONG)
    choice = Question.objects.create(
        page=page, label="Topic", kind=QuestionKind.CHOICE, choices=["VAT", "Payroll"]
    )
    page.ask_phone = True
    page.save()
    html = Client().get(f"/{page.slug}/").content.decode()

    assert re.search(rf'<label for="id_{short.key}">Company <span class="required">', html)
    assert re.search(
        rf'<input id="id_{short.key}" name="{short.key}" type="text"[^>]* required', html
    )
    assert f'<textarea id="id_{long.key}" name="{long.key}"' in html
    assert '<legend>Topic <span class="optional">(optional)</span></legend>' in html
    assert f'<input type="radio" name="{choice.key}" value="Payroll"' in html
    assert '<input id="id_phone" name="phone" type="tel"' in html
    assert '<textarea id="id_notes" name="notes"' in html  # ask_notes is on by default


def test_every_input_has_a_label(page: BookingPage) -> None:
    Question.objects.create(page=page, label="Company")
    html = Client().get(f"/{page.slug}/?date={monday_after().date()}").content.decode()
    ids = re.findall(r'<(?:input|textarea|select) id="([^"]+)"', html)
    assert ids
    for field_id in ids:
        # The time zone combobox is the <select>'s label's too (aria-labelledby).
        labelled = field_id == "tz-search" and 'aria-labelledby="tz-label"' in html
        assert labelled or f'<label for="{field_id}"' in html, field_id


def test_the_time_zone_list_offers_friendly_names_with_the_time_there(
    page: BookingPage,
) -> None:
    html = Client().get(f"/{page.slug}/").content.decode()
    assert '<select id="tz" name="tz"' in html
    assert '<optgroup label="Americas">' in html
    now = datetime.now(NEW_YORK)
    new_york = re.search(r'<option value="America/New_York"[^>]*>([^<]+)</option>', html)
    assert new_york
    label = new_york.group(1)
    assert label.startswith("New York \u2014 ")
    # The time there now: 9:14 am (a minute may pass while the test runs).
    hour = f"{now.hour % 12 or 12}:"
    assert hour in label and label.endswith((" am", " pm"))
    # The page's zone is selected, and the combobox starts with its name.
    assert re.search(r'<option selected value="Europe/London"[^>]*>London \u2014 ', html)
    assert 'id="tz-search"' in html and 'value="London"' in html
    assert 'Times are shown in <strong id="tz-name">London time</strong>' in html


def test_only_canonical_zones_are_offered(page: BookingPage) -> None:
    html = Client().get(f"/{page.slug}/").content.decode()
    offered = set(re.findall(r'<option (?:selected )?value="([^"]+)"', html))
    assert {"Asia/Kolkata", "Europe/London", "America/New_York", "UTC"} <= offered
    for name in ("Asia/Calcutta", "US/Eastern", "GB", "GB-Eire", "EST", "Factory", "Etc/GMT+5"):
        assert name not in offered, name
    assert len(offered) < 450  # not the tz database's ~600 names


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("US/Eastern", "America/New_York"),
        ("GB", "Europe/London"),
        ("new_york", "America/New_York"),
        ("London", "Europe/London"),
        ("america/new york", "America/New_York"),
    ],
)
def test_an_alias_or_a_city_in_the_address_is_understood_and_canonicalised(
    page: BookingPage, given: str, shown: str
) -> None:
    day = monday_after().date().isoformat()
    response = Client().get(f"/{page.slug}/", {"tz": given, "date": day})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<option selected value="{shown}"' in html
    assert f'<input type="hidden" name="timezone" value="{shown}">' in html


def test_without_javascript_it_lists_a_days_slots_in_the_chosen_zone(page: BookingPage) -> None:
    day = monday_after().date()
    response = Client().get(f"/{page.slug}/", {"date": day.isoformat(), "tz": "America/New_York"})
    assert response.status_code == 200
    html = response.content.decode()
    # 9:00-17:00 London is 4:00-12:00 in New York (5:00-13:00 in the weeks when only one of
    # them is on summer time): the New York day holds them all.
    first = datetime.combine(day, time(9), tzinfo=ZoneInfo("Europe/London"))
    expected = first.astimezone(NEW_YORK).strftime("%H:%M")
    radios = re.findall(r'<input type="radio" name="start" value="([^"]+)"[^>]*> (\d\d:\d\d)', html)
    assert len(radios) == 16
    assert radios[0] == (first.astimezone(UTC).isoformat(), expected)
    assert "(New York time)" in html


@pytest.mark.parametrize("given", ["Mars/Olympus", "Factory", "Etc/GMT+5", "Portland"])
def test_an_unknown_time_zone_is_refused_and_the_page_shows_the_zone_its_times_are_in(
    page: BookingPage, given: str
) -> None:
    day = monday_after().date()
    response = Client().get(f"/{page.slug}/", {"tz": given, "date": day.isoformat()})
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert (
        f"\u201c{given}\u201d isn't a time zone we know. Pick a time zone from the list; "
        "the times are shown in London time."
    ) in html
    # The slots, the selected option and the zone named are all the page's own (London).
    assert '<option selected value="Europe/London"' in html
    assert "(London time)" in html
    first = datetime.combine(day, time(9), tzinfo=ZoneInfo("Europe/London"))
    radios = re.findall(r'<input type="radio" name="start" value="([^"]+)"[^>]*> (\d\d:\d\d)', html)
    assert radios[0] == (first.astimezone(UTC).isoformat(), "09:00")


def test_a_booking_sent_with_an_alias_zone_is_stored_in_its_canonical_zone(
    page: BookingPage,
) -> None:
    response = Client().post(f"/{page.slug}/book/", form(ten_on_monday(), timezone="US/Eastern"))
    assert response.status_code == 303
    assert Booking.objects.get().timezone == "America/New_York"


def test_a_time_zone_typed_with_a_space_is_understood(page: BookingPage) -> None:
    response = Client().get(f"/{page.slug}/", {"tz": "America/New York"})
    assert response.status_code == 200
    assert '<option selected value="America/New_York"' in response.content.decode()


def test_a_malformed_date_is_refused_with_a_message(page: BookingPage) -> None:
    response = Client().get(f"/{page.slug}/", {"date": "next tuesday"})
    assert response.status_code == 400
    assert "Enter a date as YYYY-MM-DD." in response.content.decode()


def test_it_says_plainly_when_availability_is_unknown(world, page: BookingPage) -> None:
    world.sim.go_down()
    response = Client().get(f"/{page.slug}/", {"date": monday_after().date().isoformat()})
    assert response.status_code == 503
    assert "We can't check availability right now" in response.content.decode()


def test_the_form_books_a_slot_and_redirects_to_the_confirmation(page: BookingPage) -> None:
    start = ten_on_monday()
    response = Client().post(f"/{page.slug}/book/", form(start))
    booking = Booking.objects.get(page=page)
    assert booking.start == start
    assert booking.timezone == "America/New_York"
    assert booking.name == "Ada Lovelace"
    assert response.status_code == 303
    assert response["Location"] == f"/{page.slug}/confirmed/{booking.manage_token()}/"


def test_the_confirmation_shows_the_booking_in_the_customers_zone(page: BookingPage) -> None:
    start = ten_on_monday()
    response = Client().post(f"/{page.slug}/book/", form(start), follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    local = start.astimezone(NEW_YORK)
    end = local + timedelta(minutes=30)
    assert f"{local:%A} {local.day} {local:%B %Y, %H:%M}\u2013{end:%H:%M}" in html
    assert "(New York time)" in html
    booking = Booking.objects.get()
    token = booking.manage_token()
    assert f'href="/manage/{token}/booking.ics"' in html
    assert f'href="/manage/{token}/"' in html


def test_invalid_input_re_renders_the_form_with_errors(page: BookingPage) -> None:
    start = ten_on_monday()
    response = Client().post(
        f"/{page.slug}/book/", form(start, name="", email="not-an-email", notes="Keep me")
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-describedby="err_name" aria-invalid="true"' in html
    assert re.search(r'<p class="field-error" id="err_name">\s*This field is required', html)
    assert re.search(r'<p class="field-error" id="err_email">\s*Enter a valid email', html)
    assert ">Keep me</textarea>" in html  # what was typed is kept
    # The chosen slot is still chosen.
    assert f'value="{start.isoformat()}" checked' in html
    assert not Booking.objects.exists()


def test_a_missing_required_answer_is_an_error_next_to_its_question(page: BookingPage) -> None:
    q = Question.objects.create(page=page, label="Company", required=True)
    response = Client().post(f"/{page.slug}/book/", form(ten_on_monday()))
    assert response.status_code == 400
    assert re.search(
        rf'<p class="field-error" id="err_{q.key}">\s*This field is required',
        response.content.decode(),
    )


def test_a_post_without_a_time_asks_for_one(page: BookingPage) -> None:
    data = form(ten_on_monday())
    data["start"] = "whenever"
    response = Client().post(f"/{page.slug}/book/", data)
    assert response.status_code == 400
    assert "Pick one of the available times." in response.content.decode()


def test_a_slot_taken_meanwhile_is_a_409_with_a_message(page: BookingPage) -> None:
    start = ten_on_monday()
    assert Client().post(f"/{page.slug}/book/", form(start)).status_code == 303
    response = Client().post(f"/{page.slug}/book/", form(start, email="grace@example.com"))
    assert response.status_code == 409
    assert "That time was just taken — please pick another." in response.content.decode()
    assert Booking.objects.count() == 1


def test_a_slot_outside_the_hours_is_refused(page: BookingPage) -> None:
    midnight = monday_after()
    response = Client().post(f"/{page.slug}/book/", form(midnight))
    assert response.status_code == 409
    assert not Booking.objects.exists()


def test_exchange_being_down_means_cant_confirm_and_nothing_stored(
    world, page: BookingPage
) -> None:
    world.sim.go_down()
    response = Client().post(f"/{page.slug}/book/", form(ten_on_monday()))
    assert response.status_code == 503
    assert "right now" in response.content.decode()
    assert not Booking.objects.exists()


def test_the_form_is_rate_limited(page: BookingPage, settings, mid_window) -> None:
    settings.BOOKING_RATE_LIMIT = 2
    client = Client()
    for _ in range(2):
        assert client.post(f"/{page.slug}/book/", form(ten_on_monday(), name="")).status_code == 400
    response = client.post(f"/{page.slug}/book/", form(ten_on_monday()))
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert not Booking.objects.exists()


def test_the_form_needs_a_csrf_token(page: BookingPage) -> None:
    response = Client(enforce_csrf_checks=True).post(f"/{page.slug}/book/", form(ten_on_monday()))
    assert response.status_code == 403
    assert not Booking.objects.exists()


def test_html_in_answers_is_escaped_on_the_confirmation_page(page: BookingPage) -> None:
    q = Question.objects.create(page=page, label="Company")
    evil = '<script>alert("x")</script><b>Acme</b>'
    data = form(ten_on_monday(), name="<i>Ada</i>", notes="<img src=x onerror=alert(1)>")
    data[q.key] = evil
    response = Client().post(f"/{page.slug}/book/", data, follow=True)
    html = response.content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;Acme&lt;/b&gt;" in html
    assert "&lt;i&gt;Ada&lt;/i&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html and "<img src=x" not in html


def test_the_confirmation_link_needs_the_signed_token(page: BookingPage) -> None:
    Client().post(f"/{page.slug}/book/", form(ten_on_monday()))
    booking = Booking.objects.get()
    token = booking.manage_token()
    assert Client().get(f"/{page.slug}/confirmed/{token}/").status_code == 200
    assert Client().get(f"/{page.slug}/confirmed/{booking.pk}/").status_code == 404
    assert Client().get(f"/{page.slug}/confirmed/{token[:-2]}xx/").status_code == 404
    # A token is only good on its own page's address.
    assert Client().get(f"/other-page/confirmed/{token}/").status_code == 404

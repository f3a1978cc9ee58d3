"""The staff's bookings: the list with its filters, a booking's details and Exchange write
status, retrying a write, cancelling and rescheduling. Over the wire against the simulator."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.test import Client

from bookings import actions, writes
from bookings.models import Booking, BookingPage, BookingStatus, Question, WriteState
from tests.world import monday_after

pytestmark = pytest.mark.django_db

CUSTOMER = actions.CustomerDetails("Ann Customer", "ann@example.com", "Asia/Kolkata")


@pytest.fixture(autouse=True)
def _fresh_cache(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()


@pytest.fixture
def page(world) -> BookingPage:  # type: ignore[no-untyped-def]
    return world.page(world.staff("olivia"), tz="Europe/London", title="Consultation")


@pytest.fixture
def staff(client: Client, page: BookingPage) -> Client:
    client.force_login(page.owner)
    return client


def book(page: BookingPage, hour: int = 12, customer: actions.CustomerDetails = CUSTOMER):
    return actions.book(page, monday_after().replace(hour=hour), customer)


def past_booking(page: BookingPage, name: str = "Paul Past") -> Booking:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    return Booking.objects.create(
        page=page,
        owner=page.owner,
        start=start,
        end=start + timedelta(minutes=30),
        timezone="Europe/London",
        name=name,
        email="paul@example.com",
    )


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


# --- the list ------------------------------------------------------------------------------


def test_the_list_shows_upcoming_bookings_with_their_write_status(
    staff: Client, page: BookingPage
) -> None:
    booking = book(page)
    past_booking(page)
    r = staff.get("/bookings/")
    assert r.status_code == 200
    body = text(r)
    assert "Ann Customer" in body
    assert f'href="/bookings/{booking.pk}/"' in body
    assert '<span class="badge badge-pending">Pending</span>' in body
    assert "Paul Past" not in body


def test_the_list_shows_a_failing_write(world, staff: Client, page: BookingPage) -> None:  # type: ignore[no-untyped-def]
    booking = book(page)
    world.sim.go_down()
    writes.perform(booking.writes.get().pk)
    world.sim.come_up()
    assert '<span class="badge badge-error">Failing</span>' in text(staff.get("/bookings/"))


def test_past_and_cancelled_bookings_have_their_own_filters(
    staff: Client, page: BookingPage
) -> None:
    upcoming = book(page, hour=12)
    cancelled = book(
        page, hour=14, customer=actions.CustomerDetails("Cass", "c@example.com", "UTC")
    )
    actions.cancel(cancelled, by="customer")
    past_booking(page)

    past = text(staff.get("/bookings/?show=past"))
    assert "Paul Past" in past and upcoming.name not in past

    body = text(staff.get("/bookings/?show=cancelled"))
    assert "Cass" in body and "Paul Past" not in body and "Ann Customer" not in body
    assert "Cancelled" in body


def test_the_list_filters_by_page(world, staff: Client, page: BookingPage) -> None:  # type: ignore[no-untyped-def]
    other = world.page(page.owner, title="Second opinion")
    book(page, hour=12)
    book(other, hour=14, customer=actions.CustomerDetails("Otto", "o@example.com", "UTC"))
    body = text(staff.get(f"/bookings/?page={other.pk}"))
    assert "Otto" in body and "Ann Customer" not in body
    assert f'<option value="{other.pk}" selected>Second opinion</option>' in body


def test_an_unknown_filter_is_a_400(world, staff: Client, page: BookingPage) -> None:  # type: ignore[no-untyped-def]
    strangers = world.page(world.staff("stranger"))
    assert staff.get(f"/bookings/?page={strangers.pk}").status_code == 400
    assert staff.get("/bookings/?page=nonsense").status_code == 400
    assert staff.get("/bookings/?show=everything").status_code == 400


# --- the detail ----------------------------------------------------------------------------


def test_the_detail_shows_the_customer_and_answers_labelled_by_question(
    staff: Client, page: BookingPage
) -> None:
    page.ask_phone = True
    page.save()
    company = Question.objects.create(page=page, label="Company", position=1)
    topic = Question.objects.create(
        page=page, label="Topic", kind="choice", choices=["Sales", "Support"], position=2
    )
    customer = actions.CustomerDetails(
        "Ann Customer",
        "ann@example.com",
        "Asia/Kolkata",
        phone="+44 20 7946 0000",
        notes="Bring the contract.",
        answers={company.key: "Contoso", topic.key: "Support"},
    )
    booking = book(page, customer=customer)
    body = text(staff.get(f"/bookings/{booking.pk}/"))
    assert "<dt>Company</dt><dd>Contoso</dd>" in body
    assert "<dt>Topic</dt><dd>Support</dd>" in body
    assert "+44 20 7946 0000" in body
    assert "Bring the contract." in body
    assert "ann@example.com" in body


def test_the_detail_shows_the_time_in_the_pages_and_the_customers_zones(
    staff: Client, page: BookingPage
) -> None:
    booking = book(page)
    body = text(staff.get(f"/bookings/{booking.pk}/"))
    london = booking.start.astimezone(ZoneInfo("Europe/London"))
    kolkata = booking.start.astimezone(ZoneInfo("Asia/Kolkata"))
    assert 'Page\'s time (Europe/London)</dt><dd id="page-time">' in body
    assert f"{london:%H:%M}\u2013" in body.split('id="page-time">')[1].split("</dd>")[0]
    customer_time = body.split('id="customer-time">')[1].split("</dd>")[0]
    assert f"{kolkata:%H:%M}\u2013" in customer_time
    assert london.strftime("%H:%M") != kolkata.strftime("%H:%M")


def test_the_detail_shows_each_calendar_write_with_its_error_and_attempts(
    world,
    staff: Client,
    page: BookingPage,  # type: ignore[no-untyped-def]
) -> None:
    booking = book(page)
    write = booking.writes.get()
    world.sim.go_down()
    writes.perform(write.pk)
    world.sim.come_up()
    write.refresh_from_db()
    body = text(staff.get(f"/bookings/{booking.pk}/"))
    assert f"{page.owner.email} / Calendar" in body
    assert '<span class="badge badge-error">Failing</span>' in body
    assert write.last_error in body
    assert '<td class="num">1</td>' in body
    assert "Retry now" in body


def test_retry_now_writes_the_event_at_once(
    world,
    staff: Client,
    page: BookingPage,
    eager_writes,  # type: ignore[no-untyped-def]
) -> None:
    booking = book(page)
    write = booking.writes.get()
    world.sim.go_down()
    writes.perform(write.pk)
    world.sim.come_up()
    r = staff.post(f"/bookings/{booking.pk}/writes/{write.pk}/retry/")
    assert r.status_code == 302
    write.refresh_from_db()
    assert write.state == WriteState.DONE
    assert [e.subject for e in world.sim.events(page.owner.email)] == ["Consultation: Ann Customer"]
    body = text(staff.get(f"/bookings/{booking.pk}/"))
    assert '<span class="badge badge-ok">Written</span>' in body
    assert "Retry now" not in body


def test_a_write_of_another_booking_cannot_be_retried_through_this_one(
    staff: Client, page: BookingPage
) -> None:
    first = book(page, hour=12)
    second = book(page, hour=14)
    other_write = second.writes.get()
    r = staff.post(f"/bookings/{first.pk}/writes/{other_write.pk}/retry/")
    assert r.status_code == 404


# --- cancel and reschedule -----------------------------------------------------------------


def test_staff_cancel_a_booking_with_a_reason(staff: Client, page: BookingPage) -> None:
    booking = book(page)
    r = staff.post(f"/bookings/{booking.pk}/cancel/", {"reason": "Off sick"})
    assert r.status_code == 302
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancelled_by == "staff" and booking.cancel_reason == "Off sick"
    assert booking.writes.get().desired == "absent"
    body = text(staff.get(f"/bookings/{booking.pk}/"))
    assert "by staff: “Off sick”" in body
    assert "Cancel booking" not in body


def test_cancelling_twice_says_it_is_already_cancelled(staff: Client, page: BookingPage) -> None:
    booking = book(page)
    actions.cancel(booking, by="customer")
    r = staff.post(f"/bookings/{booking.pk}/cancel/", {"reason": ""})
    assert r.status_code == 409
    assert "This booking was already cancelled." in text(r)


def test_a_past_booking_cannot_be_cancelled(staff: Client, page: BookingPage) -> None:
    booking = past_booking(page)
    r = staff.post(f"/bookings/{booking.pk}/cancel/", {"reason": ""})
    assert r.status_code == 409
    assert "in the past" in text(r)


def test_reschedule_lists_the_free_times_of_the_next_two_weeks_in_the_pages_zone(
    staff: Client, page: BookingPage
) -> None:
    booking = book(page, hour=12)
    r = staff.get(f"/bookings/{booking.pk}/reschedule/")
    assert r.status_code == 200
    body = text(r)
    monday = monday_after()
    local_nine = datetime.combine(monday.date(), time(9), tzinfo=ZoneInfo("Europe/London"))
    assert f'value="{local_nine.astimezone(UTC).isoformat()}"' in body
    assert "09:00\u201309:30" in body
    # Its own time is free for itself (ignored), so staff may keep it...
    assert f'value="{booking.start.isoformat()}"' in body
    # ...but nothing beyond 14 days is offered.
    far = datetime.combine(
        (datetime.now(UTC) + timedelta(days=15)).date(), time(9), tzinfo=ZoneInfo("Europe/London")
    )
    assert f'value="{far.astimezone(UTC).isoformat()}"' not in body


def test_reschedule_moves_the_booking(staff: Client, page: BookingPage) -> None:
    booking = book(page, hour=12)
    new_start = monday_after().replace(hour=14)
    r = staff.post(f"/bookings/{booking.pk}/reschedule/", {"start": new_start.isoformat()})
    assert r.status_code == 302
    booking.refresh_from_db()
    assert booking.start == new_start
    assert booking.sequence == 1


def test_reschedule_refuses_a_taken_time(staff: Client, page: BookingPage) -> None:
    booking = book(page, hour=12)
    book(page, hour=14, customer=actions.CustomerDetails("Bea", "b@example.com", "UTC"))
    taken = monday_after().replace(hour=14)
    r = staff.post(f"/bookings/{booking.pk}/reschedule/", {"start": taken.isoformat()})
    assert r.status_code == 409
    assert "not available any more" in text(r)
    booking.refresh_from_db()
    assert booking.start.hour == 12


def test_reschedule_refuses_a_time_that_is_not_a_time(staff: Client, page: BookingPage) -> None:
    booking = book(page)
    for value in ("", "tomorrow", "2027-01-04T10:00"):  # the last has no offset
        r = staff.post(f"/bookings/{booking.pk}/reschedule/", {"start": value})
        assert r.status_code == 400
        assert "Choose one of the free times." in text(r)


def test_reschedule_says_so_when_exchange_is_unreachable(
    world,
    staff: Client,
    page: BookingPage,  # type: ignore[no-untyped-def]
) -> None:
    booking = book(page)
    cache.clear()
    world.sim.go_down()
    r = staff.get(f"/bookings/{booking.pk}/reschedule/")
    assert r.status_code == 503
    assert "can&#x27;t check this calendar&#x27;s availability right now" in text(r)


def test_a_cancelled_booking_cannot_be_rescheduled(staff: Client, page: BookingPage) -> None:
    booking = book(page)
    actions.cancel(booking, by="staff")
    r = staff.get(f"/bookings/{booking.pk}/reschedule/")
    assert r.status_code == 409

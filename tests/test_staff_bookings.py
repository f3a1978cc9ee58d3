"""The staff's bookings: the list with its filters, a booking's details and Exchange write
status, retrying a write, cancelling and rescheduling. Over the wire against the simulator."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.test import Client

from bookings import actions, writes
from bookings.models import Booking, BookingPage, BookingStatus, Question, WriteState
from calendars.models import WriteGrant
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
    assert '<span class="badge badge-pending">Writing…</span>' in body
    assert "Paul Past" not in body


def test_the_list_shows_a_failing_write(world, staff: Client, page: BookingPage) -> None:  # type: ignore[no-untyped-def]
    booking = book(page)
    world.sim.go_down()
    writes.perform(booking.writes.get().pk)
    world.sim.come_up()
    assert '<span class="badge badge-error">Couldn&#x27;t write</span>' in text(
        staff.get("/bookings/")
    )


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


def test_the_detail_shows_a_failing_write_with_its_error_and_next_retry(
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
    assert "Couldn&#x27;t write to" in body
    assert write.last_error in body
    retry = write.next_attempt_at.astimezone(ZoneInfo("Europe/London"))
    assert f"Retry 1 at {retry:%H:%M}" in body or f"Retry 1 at {retry.day} {retry:%b}" in body
    assert "Attempts" not in body
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
    assert f"In {page.owner.email}&#x27;s calendar" in body
    assert "Attempts" not in body
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


# --- searching the list --------------------------------------------------------------------

OTTO = actions.CustomerDetails("Otto Other", "otto@example.org", "UTC")


def test_the_list_finds_customers_by_name_or_email_whatever_the_case(
    staff: Client, page: BookingPage
) -> None:
    book(page, hour=12)
    book(page, hour=14, customer=OTTO)
    by_name = text(staff.get("/bookings/?q=aNN"))
    assert "Ann Customer" in by_name and "Otto Other" not in by_name
    by_email = text(staff.get("/bookings/?q=EXAMPLE.ORG"))
    assert "Otto Other" in by_email and "Ann Customer" not in by_email
    assert 'value="EXAMPLE.ORG"' in by_email


def test_the_search_narrows_the_page_and_show_filters_it_is_combined_with(
    world, staff: Client, page: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    other = world.page(page.owner, title="Second opinion")
    book(page, hour=12)
    on_other = book(other, hour=14, customer=actions.CustomerDetails("Ann Two", "a2@x.org", "UTC"))
    cancelled = book(page, hour=15, customer=actions.CustomerDetails("Ann Gone", "ag@x.org", "UTC"))
    actions.cancel(cancelled, by="customer")

    body = text(staff.get(f"/bookings/?q=ann&page={other.pk}"))
    assert on_other.name in body and "Ann Customer" not in body and "Ann Gone" not in body
    body = text(staff.get("/bookings/?q=ann&show=cancelled"))
    assert "Ann Gone" in body and "Ann Customer" not in body and "Ann Two" not in body


def test_a_search_that_finds_nothing_says_so(staff: Client, page: BookingPage) -> None:
    book(page)
    body = text(staff.get("/bookings/?q=zelda"))
    assert "No upcoming bookings matching “zelda”." in body
    assert "Export CSV" not in body


def test_the_search_never_finds_another_staff_members_bookings(
    world, staff: Client, page: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    strangers = world.page(world.staff("stranger"))
    book(strangers, hour=12, customer=actions.CustomerDetails("Ann Stranger", "as@x.org", "UTC"))
    body = text(staff.get("/bookings/?q=stranger"))
    assert "Ann Stranger" not in body


def test_an_overlong_search_is_a_400(staff: Client, page: BookingPage) -> None:
    r = staff.get("/bookings/?q=" + "a" * 201)
    assert r.status_code == 400
    assert "at most 200 characters" in text(r)


def test_the_next_page_link_keeps_the_search_and_filters(staff: Client, page: BookingPage) -> None:
    start = monday_after()
    Booking.objects.bulk_create(
        Booking(
            page=page,
            owner=page.owner,
            uid=f"many-{n}@test",
            start=start + timedelta(hours=n),
            end=start + timedelta(hours=n, minutes=30),
            name=f"Ann {n}",
            email=f"ann{n}@example.com",
        )
        for n in range(51)
    )
    body = text(staff.get(f"/bookings/?q=ann&page={page.pk}"))
    assert "Page 1 of 2" in body
    link = re.search(r'href="([^"]*p=2[^"]*)"', body)
    assert link and "q=ann" in link[1] and f"page={page.pk}" in link[1]
    export = re.search(r'href="(/bookings/export.csv[^"]*)"', body)
    assert export and "q=ann" in export[1]


# --- what each calendar holds, in words ----------------------------------------------------


def words(response) -> str:  # type: ignore[no-untyped-def]
    """The page's text as a reader sees it: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def exchange_section(response) -> str:  # type: ignore[no-untyped-def]
    return words(response).split("Exchange calendars", 1)[1].split("Cancel this booking")[0]


@pytest.fixture
def named(page: BookingPage) -> BookingPage:
    page.owner.first_name, page.owner.last_name = "Olivia", "Owen"
    page.owner.save()
    return page


def run_writes(booking: Booking) -> None:
    """What the Celery worker does after the commit (tests run inside one transaction)."""
    for pk in booking.writes.values_list("pk", flat=True):
        writes.perform(pk)


def london(value: datetime) -> datetime:
    return value.astimezone(ZoneInfo("Europe/London"))


def test_a_written_event_is_in_the_owners_calendar_with_no_attempt_count(
    staff: Client, named: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    booking = book(named)
    run_writes(booking)
    write = booking.writes.get()
    assert write.state == WriteState.DONE
    section = exchange_section(staff.get(f"/bookings/{booking.pk}/"))
    assert "In Olivia Owen's calendar" in section
    assert f"Written at {london(write.done_at):%H:%M}" in section
    assert "in the page's time zone (Europe/London)" in section
    assert "Attempts" not in section and "Retry" not in section


def test_a_write_not_run_yet_says_writing(staff: Client, named: BookingPage) -> None:
    booking = book(named)
    section = exchange_section(staff.get(f"/bookings/{booking.pk}/"))
    assert "Writing to Olivia Owen's calendar…" in section
    assert "Retry now" in section


def test_a_rescheduled_booking_says_its_event_is_being_updated(
    staff: Client, named: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    booking = book(named)
    run_writes(booking)
    actions.reschedule(booking, monday_after().replace(hour=14), by="staff")
    section = exchange_section(staff.get(f"/bookings/{booking.pk}/"))
    assert "Updating the event in Olivia Owen's calendar…" in section


def test_a_cancelled_booking_says_its_event_was_removed_never_written(
    world, staff: Client, named: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    booking = book(named)
    run_writes(booking)
    actions.cancel(booking, by="staff", reason="Off sick")
    run_writes(booking)
    write = booking.writes.get()
    assert write.state == WriteState.DONE and write.desired == "absent"
    assert world.sim.events(named.owner.email) == []
    r = staff.get(f"/bookings/{booking.pk}/")
    section = exchange_section(r)
    assert "Removed from Olivia Owen's calendar" in section
    assert "Written" not in section and "In Olivia" not in section
    assert "badge-ok" not in r.content.decode()


def test_a_cancellation_waiting_to_run_says_removing(staff: Client, named: BookingPage) -> None:
    booking = book(named)
    actions.cancel(booking, by="customer")
    section = exchange_section(staff.get(f"/bookings/{booking.pk}/"))
    assert "Removing the event from Olivia Owen's calendar…" in section


def test_a_failing_removal_says_so_with_the_reason_and_when_it_retries(
    world, staff: Client, named: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    booking = book(named)
    run_writes(booking)
    actions.cancel(booking, by="customer")
    world.sim.go_down()
    run_writes(booking)
    world.sim.come_up()
    write = booking.writes.get()
    assert write.state == WriteState.FAILING
    section = exchange_section(staff.get(f"/bookings/{booking.pk}/"))
    assert "Couldn't remove the event from Olivia Owen's calendar" in section
    assert write.last_error in section
    assert f"Retry 1 at {london(write.next_attempt_at):%H:%M}" in section


def test_a_retry_whose_time_has_passed_says_it_is_due(
    world, staff: Client, named: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    booking = book(named)
    world.sim.go_down()
    writes.perform(booking.writes.get().pk)
    writes.perform(booking.writes.get().pk, now=datetime.now(UTC) + timedelta(minutes=1))
    world.sim.come_up()
    booking.writes.update(next_attempt_at=datetime.now(UTC) - timedelta(minutes=1))
    section = exchange_section(staff.get(f"/bookings/{booking.pk}/"))
    assert "Couldn't write to Olivia Owen's calendar" in section
    assert "Retry 2 is due now" in section


def test_a_write_that_alerted_the_owner_says_who_was_emailed_and_when(
    world, staff: Client, named: BookingPage, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.WRITE_ALERT_AFTER_ATTEMPTS = 1
    booking = book(named)
    world.sim.go_down()
    writes.perform(booking.writes.get().pk)
    world.sim.come_up()
    write = booking.writes.get()
    section = exchange_section(staff.get(f"/bookings/{booking.pk}/"))
    assert f"the owner and admins were emailed at {london(write.alerted_at):%H:%M}" in section


def test_an_event_the_owner_deleted_in_outlook_says_so(staff: Client, named: BookingPage) -> None:  # type: ignore[no-untyped-def]
    booking = book(named)
    run_writes(booking)
    actions.cancel_from_exchange(booking)
    r = staff.get(f"/bookings/{booking.pk}/")
    assert "Deleted from Olivia Owen's calendar in Outlook" in exchange_section(r)
    assert "by the calendar's owner in Outlook" in words(r)


def test_a_sub_calendar_is_named_with_its_owner(world, staff: Client, page: BookingPage) -> None:  # type: ignore[no-untyped-def]
    carol = world.person("carol")
    world.sim.set_permission(carol.email, world.corporate().email, "Reviewer")
    world.sub_calendar(carol.email, "Projects")
    WriteGrant.objects.create(user=page.owner, mailbox=carol.email)  # an admin's grant
    world.assign(page, {f"{carol.email}/Projects": "additional"})
    booking = book(page)
    run_writes(booking)
    section = exchange_section(staff.get(f"/bookings/{booking.pk}/"))
    assert f"In {page.owner.email}'s calendar" in section  # no name on the account: the address
    assert f"In {carol.email}'s “Projects” calendar" in section


def test_the_cancellation_time_is_in_the_pages_zone_and_says_so(
    staff: Client, page: BookingPage
) -> None:
    booking = book(page)
    actions.cancel(booking, by="customer")
    Booking.objects.filter(pk=booking.pk).update(
        cancelled_at=datetime(2027, 7, 1, 9, 5, tzinfo=UTC)
    )
    body = words(staff.get(f"/bookings/{booking.pk}/"))
    assert "Cancelled (Europe/London) Thu 1 Jul 2027, 10:05 by the customer" in body


def test_the_list_says_what_exchange_holds_in_words(
    world, staff: Client, page: BookingPage
) -> None:  # type: ignore[no-untyped-def]
    kept = book(page, hour=12)
    gone = book(page, hour=14, customer=OTTO)
    run_writes(kept)
    run_writes(gone)
    actions.cancel(gone, by="customer")
    run_writes(gone)
    upcoming = words(staff.get("/bookings/"))
    assert kept.name in upcoming and "In Exchange" in upcoming
    cancelled = words(staff.get("/bookings/?show=cancelled"))
    assert "Removed from Exchange" in cancelled and "In Exchange" not in cancelled

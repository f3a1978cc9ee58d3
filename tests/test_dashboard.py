"""The staff dashboard: pages with their public links, upcoming bookings, and what needs
attention, each with what to do about it."""

from __future__ import annotations

from datetime import time, timedelta

from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone

from bookings.models import (
    Booking,
    BookingPage,
    BookingStatus,
    EventWrite,
    PageCalendar,
    WeeklyHours,
    WriteState,
)
from calendars.models import (
    CalendarRef,
    ConnectionKind,
    ConnectionStatus,
    CorporateMember,
    ExchangeConnection,
)
from tests.base import BaseTestCase


def personal_connection(user: User, **fields: object) -> ExchangeConnection:
    fields.setdefault("status", ConnectionStatus.OK)
    return ExchangeConnection.objects.create(
        kind=ConnectionKind.PERSONAL,
        user=user,
        email=user.email,
        ews_url="https://mail.contoso.example/EWS/Exchange.asmx",
        password="secret",
        **fields,
    )


def ready_page(owner: User, slug: str, **fields: object) -> BookingPage:
    """A page with nothing to fix: weekly hours and a main calendar it may write to."""
    page = BookingPage.objects.create(
        owner=owner, slug=slug, title=fields.pop("title", slug.title()), **fields
    )
    WeeklyHours.objects.create(page=page, weekday=0, start=time(9), end=time(17))
    conn = ExchangeConnection.objects.filter(user=owner).first() or personal_connection(owner)
    ref, _ = CalendarRef.objects.get_or_create(
        connection=conn,
        owner_email=owner.email,
        folder_id="",
        defaults={"name": "Calendar", "is_primary": True, "can_create": True},
    )
    PageCalendar.objects.create(page=page, calendar=ref, role="main")
    return page


def booking(page: BookingPage, *, days: float = 1, **fields: object) -> Booking:
    start = timezone.now() + timedelta(days=days)
    fields.setdefault("name", "Customer")
    return Booking.objects.create(
        page=page,
        owner=page.owner,
        start=start,
        end=start + timedelta(minutes=30),
        timezone="Europe/London",
        email="customer@example.com",
        **fields,
    )


@override_settings(SITE_URL="https://book.contoso.example")
class DashboardTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.alice)

    def test_it_sends_anonymous_visitors_to_sign_in(self) -> None:
        self.client.logout()

        response = self.client.get("/dashboard/")

        self.assertRedirects(response, "/accounts/login/?next=/dashboard/")

    def test_it_lists_my_pages_with_their_public_link_and_a_copy_button(self) -> None:
        ready_page(self.alice, "alice-intro", title="Intro call")
        ready_page(self.bob, "bob-secret", title="Bob's page")

        response = self.client.get("/dashboard/")

        self.assertContains(response, "Intro call")
        self.assertContains(response, 'data-copy="https://book.contoso.example/alice-intro/"')
        self.assertContains(response, 'href="/pages/')
        self.assertNotContains(response, "Bob's page")
        self.assertNotContains(response, "bob-secret")

    def test_a_superuser_sees_everyones_pages_with_their_owner(self) -> None:
        ready_page(self.alice, "alice-intro", title="Intro call")
        ready_page(self.bob, "bob-demo", title="Product demo")
        self.client.force_login(self.charlie)

        response = self.client.get("/dashboard/")

        self.assertContains(response, "Intro call")
        self.assertContains(response, "Product demo")
        self.assertContains(response, "· bob")

    def test_it_shows_my_next_ten_confirmed_upcoming_bookings(self) -> None:
        page = ready_page(self.alice, "alice-intro")
        for i in range(12):
            booking(page, days=i + 1, name=f"Guest {i:02d}")
        booking(page, days=-1, name="Yesterday's guest")
        booking(page, days=0.5, name="Cancelled guest", status=BookingStatus.CANCELLED)
        booking(ready_page(self.bob, "bob-demo"), name="Bob's guest")

        response = self.client.get("/dashboard/")

        self.assertContains(response, "Guest 00")
        self.assertContains(response, "Guest 09")
        self.assertNotContains(response, "Guest 10")
        for hidden in ("Yesterday's guest", "Cancelled guest", "Bob's guest"):
            self.assertNotContains(response, hidden)

    def test_upcoming_bookings_show_their_calendar_write_status(self) -> None:
        page = ready_page(self.alice, "alice-intro")
        written = booking(page, name="Written guest")
        EventWrite.objects.create(
            booking=written, owner_email="alice@contoso.example", role="main", state="written"
        )

        failing = booking(page, name="Failing guest", days=2)
        EventWrite.objects.create(
            booking=failing, owner_email="alice@contoso.example", role="main", state="failing"
        )

        response = self.client.get("/dashboard/")

        self.assertContains(response, "In Exchange")
        self.assertContains(response, "Couldn&#x27;t write")

    def test_all_is_well_when_nothing_needs_attention(self) -> None:
        ready_page(self.alice, "alice-intro")

        response = self.client.get("/dashboard/")

        self.assertContains(response, "All calendars are working")
        self.assertContains(response, ">Check now<")

    def test_it_asks_me_to_connect_a_calendar_when_i_have_none(self) -> None:
        response = self.client.get("/dashboard/")

        self.assertContains(response, "No calendar is connected")
        self.assertContains(response, 'href="/connection/">Connect a calendar</a>')
        self.assertNotContains(response, "All calendars are working")
        self.assertNotContains(response, ">Check now<")

    def test_a_site_admin_without_pages_is_not_asked_to_connect_a_calendar(self) -> None:
        self.client.force_login(self.charlie)

        response = self.client.get("/dashboard/")

        self.assertContains(response, "All calendars are working")

    def test_a_failing_connection_shows_its_last_error(self) -> None:
        personal_connection(
            self.alice,
            status=ConnectionStatus.FAILING,
            last_error="Exchange refused the email address or password.",
        )

        response = self.client.get("/dashboard/")

        self.assertContains(response, "Your Exchange connection is failing")
        self.assertContains(response, "Exchange refused the email address or password.")
        self.assertNotContains(response, "All calendars are working")

    def test_another_users_failing_connection_is_not_my_problem(self) -> None:
        personal_connection(self.alice)
        personal_connection(self.bob, status=ConnectionStatus.FAILING, last_error="Bob's error")

        response = self.client.get("/dashboard/")

        self.assertNotContains(response, "Bob's error")
        self.assertContains(response, "All calendars are working")

    def test_missing_delegation_says_how_to_grant_it(self) -> None:
        corporate = ExchangeConnection.objects.create(
            kind=ConnectionKind.CORPORATE, email="booking@contoso.example", password="x"
        )
        CorporateMember.objects.create(
            user=self.alice,
            connection=corporate,
            mailbox="alice@contoso.example",
            proven_at=timezone.now(),
            access_ok=False,
            error="alice@contoso.example has not delegated their calendar.",
        )

        response = self.client.get("/dashboard/")

        self.assertContains(response, "booking@contoso.example can&#x27;t reach your calendar")
        self.assertContains(response, "has not delegated their calendar")
        self.assertContains(response, "gives it Editor or Delegate permission")

    def test_a_failing_corporate_connection_tells_staff_to_ask_the_administrator(self) -> None:
        corporate = ExchangeConnection.objects.create(
            kind=ConnectionKind.CORPORATE,
            email="booking@contoso.example",
            password="x",
            status=ConnectionStatus.FAILING,
            last_error="Exchange refused the email address or password.",
        )
        CorporateMember.objects.create(
            user=self.alice,
            connection=corporate,
            mailbox="alice@contoso.example",
            proven_at=timezone.now(),
            access_ok=True,
        )

        response = self.client.get("/dashboard/")

        self.assertContains(response, "booking@contoso.example can&#x27;t reach Exchange")
        self.assertContains(response, "Tell your site administrator")
        self.assertNotContains(response, "/admin/calendars/")

    def test_a_failing_calendar_write_links_to_its_booking(self) -> None:
        page = ready_page(self.alice, "alice-intro")
        guest = booking(page, name="Guest with a problem")
        EventWrite.objects.create(
            booking=guest,
            owner_email="alice@contoso.example",
            calendar_name="Calendar",
            role="main",
            state=WriteState.FAILING,
            last_error="Exchange refused access to this calendar.",
        )
        other = booking(ready_page(self.bob, "bob-demo"), name="Bob's guest")
        EventWrite.objects.create(
            booking=other, owner_email="bob@contoso.example", role="main", state="failing"
        )

        response = self.client.get("/dashboard/")

        self.assertContains(
            response, "A booking couldn&#x27;t be written to alice@contoso.example / Calendar"
        )
        self.assertContains(response, "Exchange refused access to this calendar.")
        self.assertContains(response, f'href="/bookings/{guest.pk}/">Open the booking</a>')
        self.assertNotContains(response, str(other.pk))
        self.assertNotContains(response, "bob@contoso.example")

    def test_a_page_that_cannot_take_bookings_links_to_its_editor(self) -> None:
        personal_connection(self.alice)
        page = BookingPage.objects.create(owner=self.alice, slug="unfinished", title="Unfinished")

        response = self.client.get("/dashboard/")

        self.assertContains(response, "“Unfinished” can&#x27;t take bookings")
        self.assertContains(response, "Choose a main booking calendar")
        self.assertContains(response, "Set weekly hours")
        self.assertContains(response, f'href="/pages/{page.pk}/">Open the page editor</a>')

    def test_an_inactive_page_is_not_a_problem(self) -> None:
        personal_connection(self.alice)
        BookingPage.objects.create(owner=self.alice, slug="paused", title="Paused", active=False)

        response = self.client.get("/dashboard/")

        self.assertContains(response, "Inactive")
        self.assertContains(response, "All calendars are working")

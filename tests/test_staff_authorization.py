"""Every staff URL for booking pages and bookings, tried with someone else's ids: staff see and
change only their own; anonymous visitors are sent to sign in; superusers see everyone's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.test import override_settings

from bookings.models import (
    Booking,
    BookingPage,
    EventWrite,
    PageCalendarOwner,
    Question,
    WeeklyHours,
)
from tests.base import BaseTestCase


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class StaffAuthorizationTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.page = BookingPage.objects.create(owner=self.alice, slug="alice", title="Alice's")
        WeeklyHours.objects.create(page=self.page, weekday=0, start="09:00", end="17:00")
        self.question = Question.objects.create(page=self.page, label="Company")
        self.owner = PageCalendarOwner.objects.create(page=self.page, email=self.alice.email)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
        self.booking = Booking.objects.create(
            page=self.page,
            owner=self.alice,
            start=start,
            end=start + timedelta(minutes=30),
            timezone="Europe/London",
            name="Ann Customer",
            email="ann@example.com",
        )
        self.write = EventWrite.objects.create(
            booking=self.booking, owner_email=self.alice.email, role="main", state="failing"
        )
        pk, b = self.page.pk, self.booking.pk
        self.gets = [
            f"/pages/{pk}/",
            f"/pages/{pk}/calendars/",
            f"/bookings/{b}/",
            f"/bookings/{b}/reschedule/",
        ]
        self.posts = [
            (f"/pages/{pk}/", {"title": "Mine now", "slug": "mine"}),
            (f"/pages/{pk}/delete/", {}),
            (f"/pages/{pk}/deactivate/", {}),
            (f"/pages/{pk}/calendars/", {"action": "add_owner", "email": "x@contoso.example"}),
            (f"/pages/{pk}/calendars/", {"action": "remove_owner", "owner": self.owner.pk}),
            (f"/pages/{pk}/calendars/", {"action": "refresh"}),
            (f"/pages/{pk}/calendars/", {"action": "save_roles"}),
            (f"/pages/{pk}/owner-hours/refresh/", {}),
            (f"/bookings/{b}/cancel/", {"reason": "mine now"}),
            (f"/bookings/{b}/reschedule/", {"start": self.booking.start.isoformat()}),
            (f"/bookings/{b}/writes/{self.write.pk}/retry/", {}),
        ]

    def assert_nothing_changed(self) -> None:
        self.page.refresh_from_db()
        self.assertEqual(self.page.title, "Alice's")
        self.assertTrue(self.page.active)
        self.assertEqual(list(self.page.calendar_owners.all()), [self.owner])
        self.booking.refresh_from_db()
        self.assertEqual(self.booking.status, "confirmed")
        self.write.refresh_from_db()
        self.assertEqual(self.write.next_attempt_at, None)

    def test_another_staff_member_gets_404_for_every_url(self) -> None:
        self.client.force_login(self.bob)
        for url in self.gets:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)
        for url, data in self.posts:
            with self.subTest(url=url, data=data):
                self.assertEqual(self.client.post(url, data).status_code, 404)
        self.assert_nothing_changed()

    def test_another_staff_member_does_not_see_them_in_lists(self) -> None:
        self.client.force_login(self.bob)
        self.assertNotContains(self.client.get("/pages/"), "Alice&#x27;s")
        self.assertNotContains(self.client.get("/bookings/"), "Ann Customer")
        r = self.client.get(f"/bookings/?page={self.page.pk}")
        self.assertEqual(r.status_code, 400)
        self.assertNotContains(r, "Ann Customer", status_code=400)

    def test_a_new_page_belongs_to_whoever_creates_it(self) -> None:
        self.client.force_login(self.bob)
        data = {
            "owner": str(self.alice.pk),
            "title": "Bob's",
            "slug": "bobs",
            "duration_minutes": "30",
            "interval_minutes": "30",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
            "min_notice_minutes": "0",
            "window_days": "30",
            "timezone": "UTC",
            "blocking_statuses": ["Busy"],
            "hours-TOTAL_FORMS": "0",
            "hours-INITIAL_FORMS": "0",
            "overrides-TOTAL_FORMS": "0",
            "overrides-INITIAL_FORMS": "0",
            "questions-TOTAL_FORMS": "0",
            "questions-INITIAL_FORMS": "0",
        }
        self.assertEqual(self.client.post("/pages/new/", data).status_code, 302)
        self.assertEqual(BookingPage.objects.get(slug="bobs").owner, self.bob)

    def test_anonymous_visitors_are_sent_to_sign_in(self) -> None:
        urls = ["/pages/", "/pages/new/", "/bookings/", *self.gets]
        for url in urls:
            with self.subTest(url=url):
                r = self.client.get(url)
                self.assertRedirects(
                    r, f"/accounts/login/?next={url}", fetch_redirect_response=False
                )
        for url, data in self.posts:
            with self.subTest(url=url, data=data):
                r = self.client.post(url, data)
                self.assertEqual(r.status_code, 302)
                self.assertTrue(r["Location"].startswith("/accounts/login/?next="))
        self.assert_nothing_changed()

    def test_a_superuser_sees_everyones_pages_and_bookings(self) -> None:
        self.client.force_login(self.charlie)
        self.assertContains(self.client.get("/pages/"), "Alice&#x27;s")
        self.assertContains(self.client.get("/bookings/"), "Ann Customer")
        self.assertContains(self.client.get(f"/bookings/?page={self.page.pk}"), "Ann Customer")
        for url in self.gets:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 200)

    def test_a_superuser_can_change_someone_elses_page_which_stays_theirs(self) -> None:
        self.client.force_login(self.charlie)
        r = self.client.post(f"/pages/{self.page.pk}/deactivate/")
        self.assertEqual(r.status_code, 302)
        self.page.refresh_from_db()
        self.assertFalse(self.page.active)
        self.assertEqual(self.page.owner, self.alice)

    def test_the_owner_reaches_every_url(self) -> None:
        self.client.force_login(self.alice)
        for url in self.gets:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 200)

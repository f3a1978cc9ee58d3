"""The booking-page editor: every setting, weekly hours, date overrides and questions, saved
all at once or not at all."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from django.test import override_settings

from bookings.models import (
    Booking,
    BookingPage,
    DateOverride,
    PageCalendarOwner,
    Question,
    WeeklyHours,
)
from tests.base import BaseTestCase

# The tests' users need no real password hashing (seconds per user on a slow machine).
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def editor_data(
    hours: list[tuple[int, str, str]] = ((0, "09:00", "17:00"),),
    overrides: list[tuple[str, bool, list[tuple[str, str]]]] = (),
    questions: list[dict[str, Any]] = (),
    **fields: Any,
) -> dict[str, Any]:
    """What the editor's form posts: the page's fields plus its three formsets."""
    data: dict[str, Any] = {
        "title": "Consultation",
        "slug": "consultation",
        "description": "Half an hour to talk things through.",
        "location": "Teams",
        "active": "on",
        "duration_minutes": "30",
        "interval_minutes": "15",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "10",
        "min_notice_minutes": "240",
        "window_days": "60",
        "max_per_day": "",
        "max_per_week": "",
        "timezone": "Europe/London",
        "blocking_statuses": ["Busy", "Tentative", "OOF", "WorkingElsewhere"],
        "ask_notes": "on",
        "subject_template": "",
    }
    data.update(fields)
    data |= {"hours-TOTAL_FORMS": str(len(hours)), "hours-INITIAL_FORMS": "0"}
    for i, (day, start, end) in enumerate(hours):
        data |= {f"hours-{i}-weekday": str(day), f"hours-{i}-start": start, f"hours-{i}-end": end}
    data |= {"overrides-TOTAL_FORMS": str(len(overrides)), "overrides-INITIAL_FORMS": "0"}
    for i, (day, closed, ranges) in enumerate(overrides):
        # Each range is a pair of time pickers, posted as repeated -start/-end fields.
        data |= {
            f"overrides-{i}-date": day,
            f"overrides-{i}-hours-start": [start for start, _ in ranges],
            f"overrides-{i}-hours-end": [end for _, end in ranges],
        }
        if closed:
            data[f"overrides-{i}-closed"] = "on"
    initial = sum(1 for q in questions if q.get("id"))  # existing questions come first
    data |= {"questions-TOTAL_FORMS": str(len(questions)), "questions-INITIAL_FORMS": str(initial)}
    for i, q in enumerate(questions):
        for key, value in q.items():
            if value is True:
                value = "on"
            if value is not False:
                data[f"questions-{i}-{key}"] = value
    return {k: v for k, v in data.items() if v is not None}


@override_settings(PASSWORD_HASHERS=FAST_HASHERS)
class PageEditorTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.alice)

    def make_page(self, **fields: Any) -> BookingPage:
        fields.setdefault("slug", "alice-consults")
        return BookingPage.objects.create(owner=self.alice, title="Alice consults", **fields)


class NewPageTestCase(PageEditorTestCase):
    def test_the_empty_form_offers_monday_to_friday_nine_to_five_and_blocks_all_but_free(
        self,
    ) -> None:
        r = self.client.get("/pages/new/")
        self.assertContains(r, "New booking page")
        self.assertContains(r, 'name="hours-0-start" id="id_hours-0-start" value="09:00"')
        self.assertContains(r, 'value="Busy" id="id_blocking_statuses_2" checked')
        self.assertContains(r, 'value="Free" id="id_blocking_statuses_0">')
        self.assertContains(r, '<option value="America/New_York">')

    def test_a_new_page_starts_in_the_zone_of_the_owners_latest_page(self) -> None:
        self.make_page(timezone="Asia/Kolkata")
        BookingPage.objects.create(owner=self.bob, slug="bobs", title="Bob", timezone="UTC")
        r = self.client.get("/pages/new/")
        self.assertContains(r, 'name="timezone" value="Asia/Kolkata"')

    def test_it_creates_a_page_owned_by_the_user_with_their_own_calendar_owner(self) -> None:
        r = self.client.post("/pages/new/", editor_data())
        page = BookingPage.objects.get()
        self.assertRedirects(r, f"/pages/{page.pk}/calendars/", fetch_redirect_response=False)
        self.assertEqual(page.owner, self.alice)
        self.assertEqual(page.slug, "consultation")
        self.assertEqual(page.interval_minutes, 15)
        self.assertEqual(page.buffer_after_minutes, 10)
        self.assertEqual(page.timezone, "Europe/London")
        self.assertNotIn("Free", page.blocking_statuses)
        self.assertEqual(
            list(PageCalendarOwner.objects.values_list("email", flat=True)),
            ["alice@contoso.example"],
        )

    def test_it_saves_two_ranges_on_monday(self) -> None:
        hours = [(0, "09:00", "12:00"), (0, "13:00", "17:00"), (2, "10:00", "00:00")]
        self.client.post("/pages/new/", editor_data(hours=hours))
        rows = WeeklyHours.objects.values_list("weekday", "start", "end")
        self.assertEqual(
            sorted(rows),
            [(0, time(9), time(12)), (0, time(13), time(17)), (2, time(10), time(0))],
        )

    def test_it_refuses_overlapping_ranges_and_saves_nothing(self) -> None:
        hours = [(0, "09:00", "12:00"), (0, "11:00", "17:00")]
        r = self.client.post("/pages/new/", editor_data(hours=hours))
        self.assertEqual(r.status_code, 400)
        self.assertContains(
            r, "Overlaps 09:00\u201312:00: ranges can&#x27;t overlap.", status_code=400
        )
        self.assertContains(r, "Nothing was saved", status_code=400)
        self.assertFalse(BookingPage.objects.exists())

    def test_it_refuses_a_range_that_ends_before_it_starts(self) -> None:
        r = self.client.post("/pages/new/", editor_data(hours=[(1, "17:00", "09:00")]))
        self.assertContains(r, "A range must end after it starts.", status_code=400)
        self.assertFalse(BookingPage.objects.exists())

    def test_it_refuses_a_range_with_only_one_end(self) -> None:
        r = self.client.post("/pages/new/", editor_data(hours=[(1, "09:00", "")]))
        self.assertContains(r, "Give the time the range ends.", status_code=400)

    def test_blank_rows_are_ignored(self) -> None:
        hours = [(0, "09:00", "17:00"), (1, "", ""), (2, "", "")]
        self.client.post("/pages/new/", editor_data(hours=hours))
        self.assertEqual(WeeklyHours.objects.count(), 1)

    def test_it_refuses_a_reserved_slug(self) -> None:
        r = self.client.post("/pages/new/", editor_data(slug="admin"))
        self.assertContains(r, "is reserved for the app", status_code=400)
        self.assertFalse(BookingPage.objects.exists())

    def test_it_refuses_a_slug_another_page_uses(self) -> None:
        BookingPage.objects.create(owner=self.bob, slug="consultation", title="Bob's")
        r = self.client.post("/pages/new/", editor_data(slug="consultation"))
        self.assertContains(r, "Another booking page already uses this address.", status_code=400)
        self.assertEqual(BookingPage.objects.count(), 1)

    def test_it_refuses_a_slug_with_spaces(self) -> None:
        r = self.client.post("/pages/new/", editor_data(slug="my page"))
        self.assertEqual(r.status_code, 400)
        self.assertFalse(BookingPage.objects.exists())

    def test_it_refuses_an_unknown_time_zone(self) -> None:
        r = self.client.post("/pages/new/", editor_data(timezone="Mars/Olympus"))
        self.assertContains(r, "is not a known IANA time zone", status_code=400)

    def test_a_city_or_an_alias_is_saved_as_its_canonical_zone(self) -> None:
        for typed, saved in [("london", "Europe/London"), ("Asia/Calcutta", "Asia/Kolkata")]:
            BookingPage.objects.all().delete()
            r = self.client.post("/pages/new/", editor_data(timezone=typed))
            self.assertEqual(r.status_code, 302, typed)
            self.assertEqual(BookingPage.objects.get().timezone, saved)

    def test_the_zone_suggestions_are_canonical_zones_only(self) -> None:
        r = self.client.get("/pages/new/")
        self.assertContains(r, '<option value="Asia/Kolkata">')
        for alias in ("Asia/Calcutta", "GB-Eire", "Factory", "EST"):
            self.assertNotContains(r, f'<option value="{alias}">')

    def test_it_refuses_a_duration_below_five_minutes(self) -> None:
        r = self.client.post("/pages/new/", editor_data(duration_minutes="2"))
        self.assertContains(r, "greater than or equal to 5", status_code=400)

    def test_it_needs_at_least_one_blocking_status(self) -> None:
        r = self.client.post("/pages/new/", editor_data(blocking_statuses=[]))
        self.assertContains(r, "Choose at least one free/busy status", status_code=400)

    def test_it_refuses_an_unknown_blocking_status(self) -> None:
        r = self.client.post("/pages/new/", editor_data(blocking_statuses=["Busy", "Asleep"]))
        self.assertContains(r, "Asleep is not one of the available choices", status_code=400)

    def test_a_field_error_keeps_what_was_typed(self) -> None:
        r = self.client.post(
            "/pages/new/", editor_data(title="", hours=[(3, "08:30", "11:00")]), follow=False
        )
        self.assertContains(r, "This field is required.", status_code=400)
        self.assertContains(r, 'value="08:30"', status_code=400)
        self.assertContains(r, 'value="Teams"', status_code=400)

    def test_it_saves_an_override_that_closes_a_day(self) -> None:
        self.client.post("/pages/new/", editor_data(overrides=[("2026-12-24", True, [])]))
        override = DateOverride.objects.get()
        self.assertEqual(override.date, date(2026, 12, 24))
        self.assertEqual(override.hours, [])

    def test_two_overrides_cannot_set_the_same_date(self) -> None:
        overrides = [("2026-12-31", True, []), ("2026-12-31", False, [("09:00", "10:00")])]
        r = self.client.post("/pages/new/", editor_data(overrides=overrides))
        self.assertContains(r, "Another row already sets 2026-12-31.", status_code=400)

    def test_it_saves_questions_of_each_kind(self) -> None:
        questions = [
            {"label": "Company", "kind": "short", "position": "1", "required": True},
            {"label": "Topic", "kind": "choice", "choices": "Sales\nSupport\n", "position": "2"},
            {"label": "Anything else?", "kind": "long", "position": "3"},
        ]
        self.client.post("/pages/new/", editor_data(questions=questions))
        saved = list(Question.objects.values_list("label", "kind", "choices", "required"))
        self.assertEqual(
            saved,
            [
                ("Company", "short", [], True),
                ("Topic", "choice", ["Sales", "Support"], False),
                ("Anything else?", "long", [], False),
            ],
        )

    def test_the_blank_question_row_the_form_offers_is_ignored(self) -> None:
        blank = {"id": "", "label": "", "kind": "short", "choices": "", "position": "0"}
        r = self.client.post("/pages/new/", editor_data(questions=[blank]))
        self.assertEqual(r.status_code, 302)
        self.assertFalse(Question.objects.exists())

    def test_it_refuses_a_choice_question_without_options(self) -> None:
        questions = [{"label": "Topic", "kind": "choice", "choices": "Sales", "position": "0"}]
        r = self.client.post("/pages/new/", editor_data(questions=questions))
        self.assertContains(r, "A choice question needs at least two options.", status_code=400)
        self.assertFalse(BookingPage.objects.exists())
        self.assertFalse(Question.objects.exists())

    def test_the_public_address_is_stored_in_lowercase(self) -> None:
        self.client.post("/pages/new/", editor_data(slug="Consultation"))
        self.assertEqual(BookingPage.objects.get().slug, "consultation")


class EditPageTestCase(PageEditorTestCase):
    def test_it_shows_every_setting_and_a_preview_link(self) -> None:
        page = self.make_page(location="Room 4", max_per_day=3)
        WeeklyHours.objects.create(page=page, weekday=0, start=time(9), end=time(12))
        WeeklyHours.objects.create(page=page, weekday=0, start=time(13), end=time(17))
        DateOverride.objects.create(page=page, date=date(2026, 12, 24), hours=[])
        Question.objects.create(page=page, label="Company")
        r = self.client.get(f"/pages/{page.pk}/")
        self.assertContains(r, 'value="Room 4"')
        self.assertContains(r, 'name="max_per_day" value="3"')
        self.assertContains(r, 'value="13:00"')
        self.assertContains(r, 'value="2026-12-24"')
        self.assertContains(r, 'value="Company"')
        self.assertContains(r, 'href="http://localhost:8000/alice-consults/"')
        for label in ("Slot interval", "Buffer before", "Minimum notice", "Booking window"):
            self.assertContains(r, label)
        self.assertContains(r, "Send Exchange&#x27;s meeting invitation")

    def test_saving_replaces_hours_and_overrides(self) -> None:
        page = self.make_page()
        WeeklyHours.objects.create(page=page, weekday=4, start=time(9), end=time(17))
        DateOverride.objects.create(page=page, date=date(2026, 12, 24), hours=[])
        data = editor_data(
            slug="alice-consults", hours=[(0, "08:00", "10:00")], overrides=[], max_per_day="2"
        )
        r = self.client.post(f"/pages/{page.pk}/", data)
        self.assertRedirects(r, f"/pages/{page.pk}/", fetch_redirect_response=False)
        page.refresh_from_db()
        self.assertEqual(page.max_per_day, 2)
        self.assertEqual(list(page.weekly_hours.values_list("weekday", "start")), [(0, time(8))])
        self.assertFalse(page.overrides.exists())

    def test_a_removed_row_is_dropped(self) -> None:
        page = self.make_page()
        data = editor_data(slug="alice-consults", hours=[(0, "08:00", "10:00"), (1, "x", "y")])
        data["hours-1-DELETE"] = "on"
        self.client.post(f"/pages/{page.pk}/", data)
        self.assertEqual(page.weekly_hours.count(), 1)

    def test_questions_keep_their_ids_so_answers_stay_attached(self) -> None:
        page = self.make_page()
        q = Question.objects.create(page=page, label="Company")
        questions = [{"id": str(q.pk), "label": "Company name", "kind": "short", "position": "0"}]
        self.client.post(
            f"/pages/{page.pk}/", editor_data(slug="alice-consults", questions=questions)
        )
        q.refresh_from_db()
        self.assertEqual(q.label, "Company name")
        self.assertEqual(page.questions.count(), 1)

    def test_a_question_can_be_removed(self) -> None:
        page = self.make_page()
        q = Question.objects.create(page=page, label="Company")
        questions = [
            {"id": str(q.pk), "label": "Company", "kind": "short", "position": "0", "DELETE": True}
        ]
        self.client.post(
            f"/pages/{page.pk}/", editor_data(slug="alice-consults", questions=questions)
        )
        self.assertFalse(page.questions.exists())

    def test_a_question_of_another_page_cannot_be_edited_through_this_one(self) -> None:
        page = self.make_page()
        other = BookingPage.objects.create(owner=self.bob, slug="bob", title="Bob")
        q = Question.objects.create(page=other, label="Bob's question")
        questions = [{"id": str(q.pk), "label": "Hijacked", "kind": "short", "position": "0"}]
        r = self.client.post(
            f"/pages/{page.pk}/", editor_data(slug="alice-consults", questions=questions)
        )
        self.assertContains(r, "is not one of this page&#x27;s", status_code=400)
        q.refresh_from_db()
        self.assertEqual(q.label, "Bob's question")
        self.assertFalse(page.questions.exists())

    def test_an_invalid_save_changes_nothing(self) -> None:
        page = self.make_page()
        WeeklyHours.objects.create(page=page, weekday=4, start=time(9), end=time(17))
        data = editor_data(slug="alice-consults", title="Renamed", hours=[(0, "10:00", "09:00")])
        r = self.client.post(f"/pages/{page.pk}/", data)
        self.assertEqual(r.status_code, 400)
        self.assertContains(r, "<h1>Alice consults", status_code=400)
        self.assertContains(r, 'value="Renamed"', status_code=400)
        page.refresh_from_db()
        self.assertEqual(page.title, "Alice consults")
        self.assertEqual(list(page.weekly_hours.values_list("weekday", flat=True)), [4])

    def test_an_unchecked_active_box_deactivates_the_page(self) -> None:
        page = self.make_page()
        data = editor_data(slug="alice-consults")
        del data["active"]
        self.client.post(f"/pages/{page.pk}/", data)
        page.refresh_from_db()
        self.assertFalse(page.active)

    def test_a_broken_management_form_is_a_400_not_a_500(self) -> None:
        page = self.make_page()
        data = editor_data(slug="alice-consults")
        del data["hours-TOTAL_FORMS"]
        r = self.client.post(f"/pages/{page.pk}/", data)
        self.assertEqual(r.status_code, 400)


class OverrideRangesTestCase(PageEditorTestCase):
    """Date overrides use the weekly hours' control: any number of from/to time pickers."""

    def test_an_override_saves_its_ranges_sorted_in_the_stored_form(self) -> None:
        ranges = [("14:00", "17:00"), ("9:00", "12:00")]
        self.client.post("/pages/new/", editor_data(overrides=[("2026-12-31", False, ranges)]))
        override = DateOverride.objects.get()
        self.assertEqual(override.hours, [["09:00", "12:00"], ["14:00", "17:00"]])

    def test_a_range_left_blank_is_ignored(self) -> None:
        ranges = [("10:00", "12:00"), ("", "")]
        self.client.post("/pages/new/", editor_data(overrides=[("2026-12-31", False, ranges)]))
        self.assertEqual(DateOverride.objects.get().hours, [["10:00", "12:00"]])

    def test_closed_all_day_wins_over_hours_left_in_the_row(self) -> None:
        overrides = [("2026-12-24", True, [("10:00", "12:00")])]
        self.client.post("/pages/new/", editor_data(overrides=overrides))
        self.assertEqual(DateOverride.objects.get().hours, [])

    def test_an_override_needs_hours_or_closed(self) -> None:
        r = self.client.post("/pages/new/", editor_data(overrides=[("2026-12-31", False, [])]))
        self.assertContains(r, "or tick “Closed all day”", status_code=400)

    def test_an_override_refuses_a_range_that_ends_before_it_starts(self) -> None:
        overrides = [("2026-12-31", False, [("09:00", "10:00"), ("13:00", "12:00")])]
        r = self.client.post("/pages/new/", editor_data(overrides=overrides))
        self.assertContains(r, "A range must end after it starts.", count=1, status_code=400)
        self.assertFalse(BookingPage.objects.exists())

    def test_an_override_refuses_overlapping_ranges_beside_the_later_one(self) -> None:
        overrides = [("2026-12-31", False, [("11:00", "13:00"), ("09:00", "12:00")])]
        r = self.client.post("/pages/new/", editor_data(overrides=overrides))
        self.assertContains(
            r, "Overlaps 09:00\u201312:00: ranges can&#x27;t overlap.", status_code=400
        )
        # The error sits with the range it is about, marked invalid for assistive technology.
        html = r.content.decode()
        bad = html.index(
            'name="overrides-0-hours-start" value="11:00" aria-label="From" aria-invalid'
        )
        self.assertLess(bad, html.index("Overlaps 09:00"))
        self.assertFalse(DateOverride.objects.exists())

    def test_an_override_refuses_a_range_with_only_one_end(self) -> None:
        overrides = [("2026-12-31", False, [("09:00", "")])]
        r = self.client.post("/pages/new/", editor_data(overrides=overrides))
        self.assertContains(r, "Give the time the range ends.", status_code=400)

    def test_an_override_refuses_a_time_that_is_not_one(self) -> None:
        overrides = [("2026-12-31", False, [("9-5", "17:00")])]
        r = self.client.post("/pages/new/", editor_data(overrides=overrides))
        self.assertContains(r, "“9-5” is not a time of day.", status_code=400)

    def test_a_refused_save_keeps_every_row_typed(self) -> None:
        overrides = [
            ("2026-12-24", True, []),
            ("2026-12-31", False, [("09:00", "12:00"), ("14:00", "13:00")]),
        ]
        hours = [(0, "08:30", "11:00")]
        r = self.client.post("/pages/new/", editor_data(hours=hours, overrides=overrides))
        self.assertEqual(r.status_code, 400)
        for typed in (
            'name="overrides-0-date" value="2026-12-24"',
            'name="overrides-1-date" value="2026-12-31"',
            'name="overrides-1-hours-start" value="09:00"',
            'name="overrides-1-hours-end" value="13:00"',
            'name="hours-0-start" id="id_hours-0-start" value="08:30"',
        ):
            self.assertContains(r, typed, status_code=400)

    def test_a_date_added_by_the_script_and_left_blank_is_ignored(self) -> None:
        data = editor_data(overrides=[("2026-12-24", True, [])])
        # The script numbers a new row past INITIAL_FORMS; Django skips it when untouched.
        data |= {"overrides-TOTAL_FORMS": "2", "overrides-INITIAL_FORMS": "1"}
        data |= {"overrides-1-date": "", "overrides-1-hours-start": "", "overrides-1-hours-end": ""}
        r = self.client.post("/pages/new/", data)
        self.assertEqual(r.status_code, 302)
        self.assertEqual(DateOverride.objects.get().date, date(2026, 12, 24))

    def test_the_editor_shows_an_overrides_ranges_as_time_pickers(self) -> None:
        page = self.make_page()
        DateOverride.objects.create(page=page, date=date(2026, 12, 31), hours=[["09:00", "12:00"]])
        r = self.client.get(f"/pages/{page.pk}/")
        self.assertContains(r, 'type="time" name="overrides-0-hours-start" value="09:00"')
        self.assertContains(r, 'type="time" name="overrides-0-hours-end" value="12:00"')
        self.assertNotContains(r, "09:00-12:00")


class SpareRowsTestCase(PageEditorTestCase):
    """Blank rows are there for browsers without JavaScript, marked so the script hides them."""

    def test_each_weekday_the_spare_override_and_the_spare_question_are_marked_spare(self) -> None:
        page = self.make_page()
        WeeklyHours.objects.create(page=page, weekday=0, start=time(9), end=time(12))
        Question.objects.create(page=page, label="Company")
        r = self.client.get(f"/pages/{page.pk}/")
        html = r.content.decode()
        self.assertEqual(html.count('class="range-row" data-row data-spare'), 7 + 7)  # + templates
        self.assertEqual(html.count('class="range-row" data-row>'), 1)  # Monday's range
        self.assertEqual(html.count('class="override-row" data-row data-spare'), 2)  # + template
        self.assertEqual(html.count("data-question data-spare"), 2)  # + template

    def test_every_add_control_names_its_own_list(self) -> None:
        r = self.client.get("/pages/new/")
        html = r.content.decode()
        for name in ("hours-0", "hours-6", "overrides", "questions"):
            self.assertIn(f'data-add-to="{name}"', html)
            self.assertIn(f'data-list="{name}"', html)
        self.assertIn('data-add-to="overrides-__prefix__-ranges"', html)
        self.assertIn('data-list="overrides-__prefix__-ranges"', html)


class QuestionOrderTestCase(PageEditorTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.page = self.make_page()
        self.first = Question.objects.create(page=self.page, label="First", position=0)
        self.second = Question.objects.create(page=self.page, label="Second", position=1)
        self.third = Question.objects.create(page=self.page, label="Third", position=2)

    def row(self, question: Question, position: int, **more: Any) -> dict[str, Any]:
        return {
            "id": str(question.pk),
            "label": question.label,
            "kind": "short",
            "position": str(position),
            **more,
        }

    def post(self, questions: list[dict[str, Any]]) -> None:
        r = self.client.post(
            f"/pages/{self.page.pk}/", editor_data(slug="alice-consults", questions=questions)
        )
        self.assertEqual(r.status_code, 302, r.content.decode()[:2000])

    def labels(self) -> list[tuple[str, int]]:
        return list(self.page.questions.values_list("label", "position"))

    def test_moving_a_question_up_is_saved(self) -> None:
        # What "Move up" on Third, twice, posts: the rows in their old order, new positions.
        self.post([self.row(self.first, 1), self.row(self.second, 2), self.row(self.third, 0)])
        self.assertEqual(self.labels(), [("Third", 0), ("First", 1), ("Second", 2)])

    def test_removing_a_question_closes_the_gap(self) -> None:
        self.post(
            [
                self.row(self.first, 0),
                self.row(self.second, 1, DELETE=True),
                self.row(self.third, 2),
            ]
        )
        self.assertEqual(self.labels(), [("First", 0), ("Third", 1)])

    def test_a_question_added_without_javascript_comes_last(self) -> None:
        r = self.client.get(f"/pages/{self.page.pk}/")
        self.assertContains(r, 'name="questions-3-position" value="3"')
        new = {"label": "Fourth", "kind": "short", "position": "3"}
        self.post([self.row(self.first, 0), self.row(self.second, 1), self.row(self.third, 2), new])
        self.assertEqual(self.labels(), [("First", 0), ("Second", 1), ("Third", 2), ("Fourth", 3)])

    def test_a_typed_order_with_gaps_and_ties_is_renumbered_in_row_order(self) -> None:
        self.post([self.row(self.first, 5), self.row(self.second, 5), self.row(self.third, 1)])
        self.assertEqual(self.labels(), [("Third", 0), ("First", 1), ("Second", 2)])

    def test_a_blank_order_goes_last(self) -> None:
        self.post([self.row(self.first, 0), self.row(self.second, 1), self.row(self.third, 2)])
        questions = [self.row(self.first, 0), self.row(self.second, 1), self.row(self.third, 2)]
        questions[0]["position"] = ""
        self.post(questions)
        self.assertEqual(self.labels(), [("Second", 0), ("Third", 1), ("First", 2)])

    def test_a_new_row_with_only_the_position_the_script_gave_it_is_ignored(self) -> None:
        blank = {"label": "", "kind": "short", "choices": "", "position": "3"}
        self.post(
            [self.row(self.first, 0), self.row(self.second, 1), self.row(self.third, 2), blank]
        )
        self.assertEqual(self.page.questions.count(), 3)

    def test_questions_keep_their_ids_when_reordered(self) -> None:
        self.post([self.row(self.first, 2), self.row(self.second, 1), self.row(self.third, 0)])
        self.assertEqual(
            list(self.page.questions.values_list("pk", flat=True)),
            [self.third.pk, self.second.pk, self.first.pk],
        )


class DeletePageTestCase(PageEditorTestCase):
    def test_a_page_without_bookings_is_deleted(self) -> None:
        page = self.make_page()
        r = self.client.post(f"/pages/{page.pk}/delete/")
        self.assertRedirects(r, "/pages/", fetch_redirect_response=False)
        self.assertFalse(BookingPage.objects.exists())

    def test_a_page_with_bookings_is_kept_and_the_owner_is_told_to_deactivate_it(self) -> None:
        page = self.make_page()
        Booking.objects.create(
            page=page,
            owner=self.alice,
            start="2026-12-01T10:00Z",
            end="2026-12-01T10:30Z",
            timezone="UTC",
            name="Carol",
            email="carol@example.com",
        )
        r = self.client.post(f"/pages/{page.pk}/delete/")
        self.assertContains(r, "has 1 booking, so it can't be deleted", status_code=409)
        self.assertContains(r, "Deactivate this page", status_code=409)
        self.assertTrue(BookingPage.objects.filter(pk=page.pk).exists())
        r = self.client.get(f"/pages/{page.pk}/")
        self.assertContains(r, "This page has bookings, so it can't be deleted.")

    def test_deactivating_stops_the_page_taking_bookings(self) -> None:
        page = self.make_page()
        r = self.client.post(f"/pages/{page.pk}/deactivate/")
        self.assertRedirects(r, f"/pages/{page.pk}/", fetch_redirect_response=False)
        page.refresh_from_db()
        self.assertFalse(page.active)

    def test_delete_needs_a_post(self) -> None:
        page = self.make_page()
        r = self.client.get(f"/pages/{page.pk}/delete/")
        self.assertEqual(r.status_code, 405)
        self.assertTrue(BookingPage.objects.exists())


class PageListTestCase(PageEditorTestCase):
    def test_it_lists_the_users_pages_with_their_public_links_and_problems(self) -> None:
        self.make_page()
        BookingPage.objects.create(owner=self.bob, slug="bobs-page", title="Bob's page")
        r = self.client.get("/pages/")
        self.assertContains(r, "Alice consults")
        self.assertContains(r, "http://localhost:8000/alice-consults/")
        self.assertContains(r, "Choose a main booking calendar")
        self.assertNotContains(r, "Bob&#x27;s page")

    def test_it_invites_a_new_user_to_create_a_page(self) -> None:
        r = self.client.get("/pages/")
        self.assertContains(r, "Create your first booking page")


class ReminderAndLanguageFieldsTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.force_login(self.alice)

    def test_a_new_page_offers_a_day_and_an_hour_before(self) -> None:
        html = self.client.get("/pages/new/").content.decode()
        assert 'value="1 day, 1 hour"' in html
        assert "Language for customers" in html

    def test_reminders_are_typed_as_words_and_stored_as_minutes(self) -> None:
        r = self.client.post(
            "/pages/new/",
            editor_data(reminders="30 minutes, 2 days", remind_owner="on", language="de"),
        )
        assert r.status_code == 302, r.content.decode()[:3000]
        page = BookingPage.objects.get(slug="consultation")
        assert page.reminder_minutes == [2880, 30]
        assert (page.remind_owner, page.language) == (True, "de")
        html = self.client.get(f"/pages/{page.pk}/").content.decode()
        assert 'value="2 days, 30 minutes"' in html

    def test_a_reminder_it_cant_read_or_too_far_ahead_is_refused_and_nothing_saved(
        self,
    ) -> None:
        for typed, words in [
            ("tomorrow", "a time before the meeting: write"),
            ("31 days", "between 5 minutes and 30 days"),
            ("1 hour, 60 minutes", "different time"),
        ]:
            r = self.client.post("/pages/new/", editor_data(reminders=typed))
            assert r.status_code == 400 and words in r.content.decode(), typed
        assert not BookingPage.objects.exists()

    def test_no_reminders_is_a_blank_field_and_an_old_client_keeps_them(self) -> None:
        self.client.post("/pages/new/", editor_data(reminders=""))
        page = BookingPage.objects.get(slug="consultation")
        assert page.reminder_minutes == []
        page.reminder_minutes = [60]
        page.save()
        self.client.post(f"/pages/{page.pk}/", editor_data())  # no "reminders" key at all
        page.refresh_from_db()
        assert page.reminder_minutes == [60]

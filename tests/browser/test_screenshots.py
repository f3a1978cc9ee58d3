"""Screenshots of the main pages at desktop (1280 px) and phone (390 px) widths, for design
review: `make screenshots` (SCREENSHOTS=1) writes them to ./screenshots/, which git ignores.

Skipped unless SCREENSHOTS=1. The world is demo-like: a staff member attached to the
corporate connection with busy weeks in Exchange, colleagues sharing calendars (one a
sub-calendar), two booking pages with questions, one page still being set up, and bookings
whose calendar writes are written, pending and failing. The organisation has a name and a
logo; one page wears its own green accent and image, and one speaks German.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Page

from bookings.models import (
    Booking,
    BookingPage,
    BookingStatus,
    DateOverride,
    EventWrite,
    PageCalendar,
    PageImage,
    Question,
    SiteBranding,
    WriteState,
)
from calendars.models import WriteGrant
from tests.browser.conftest import SCREENSHOTS, login
from tests.browser.test_branding_browser import GREEN, png
from tests.world import World

pytestmark = pytest.mark.skipif(
    os.environ.get("SCREENSHOTS") != "1", reason="screenshots only on request: make screenshots"
)

LONDON = ZoneInfo("Europe/London")


def next_weekday(days_ahead: int, at: time) -> datetime:
    day = datetime.now(LONDON).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, at, LONDON).astimezone(UTC)


def seed(world: World) -> tuple[dict[str, str], str]:
    """The demo-like world: the staff pages to photograph by name, and who signs in."""
    sim = world.sim
    alice = world.staff("alice")
    corporate = world.corporate()
    bob = world.person("bob")
    carol = world.person("carol")
    sim.set_permission(bob.email, corporate.email, "Reviewer")
    sim.add_calendar(carol.email, "Projects")
    sim.set_permission(carol.email, corporate.email, "Reviewer")
    sim.set_permission(carol.email, corporate.email, "Editor", calendar="Projects")

    monday = datetime.now(LONDON).date() - timedelta(days=datetime.now(LONDON).weekday())
    standup = datetime.combine(monday, time(9, 30), LONDON)
    sim.add_event(
        alice.email,
        standup,
        standup + timedelta(minutes=15),
        "Team stand-up",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday", "Wednesday", "Friday"]},
    )
    for days, hour, subject in [(1, 14, "Planning"), (3, 10, "Customer visit"), (8, 11, "Review")]:
        start = datetime.combine(monday + timedelta(days=days), time(hour), LONDON)
        sim.add_event(alice.email, start, start + timedelta(hours=2), subject, tz="Europe/London")
        sim.add_event(bob.email, start + timedelta(hours=1), start + timedelta(hours=2), "Busy")

    tax = world.page(
        alice,
        slug=f"tax-advice-{world.tag}",
        title="Tax advice",
        description="A 45-minute call with one of our advisers about your tax return.",
        location="Phone call: we'll ring the number you give",
        ask_phone=True,
        duration_minutes=45,
        roles={alice.email: "main", bob.email: "busy"},
    )
    Question.objects.create(
        page=tax, label="What is your question about?", kind="long", required=True
    )
    Question.objects.create(
        page=tax,
        label="Are you a new client?",
        kind="choice",
        choices=["Yes", "No"],
        position=1,
    )
    # An override in the editor: a half day in two weeks.
    DateOverride.objects.create(
        page=tax, date=next_weekday(10, time(0)).date(), hours=[["09:00", "12:00"]]
    )
    WriteGrant.objects.get_or_create(user=alice, mailbox=carol.email)  # an admin's grant
    kickoff = world.page(
        alice,
        slug=f"kickoff-{world.tag}",
        title="Project kickoff",
        duration_minutes=60,
        roles={alice.email: "main", f"{carol.email}/Projects": "additional"},
    )
    draft = BookingPage.objects.create(
        owner=alice, slug=f"draft-{world.tag}", title="Workshop (draft)"
    )
    # Branding: the organisation's name and logo on every public page; one page with its own
    # accent colour and image, and one for German-speaking customers.
    SiteBranding.objects.update_or_create(
        pk=1,
        defaults={
            "organisation_name": "Contoso Advisers",
            "logo": png(120, 40, (11, 110, 79), to=(6, 64, 46)),
            "logo_type": "image/png",
        },
    )
    branded = world.page(
        alice,
        slug=f"pension-review-{world.tag}",
        title="Pension review",
        description="An hour with an adviser to look at your pension together.",
        location="Our Leeds office, 4 Park Row",
        duration_minutes=60,
        accent_color=GREEN,
        roles={alice.email: "main", bob.email: "busy"},
    )
    PageImage.objects.create(
        page=branded,
        data=png(640, 240, (207, 233, 222), to=(11, 110, 79)),
        content_type="image/png",
    )
    german = world.page(
        alice,
        slug=f"steuerberatung-{world.tag}",
        title="Steuerberatung",
        description="Ein 30-minütiges Gespräch über Ihre Steuererklärung.",
        location="Telefon",
        language="de",
        roles={alice.email: "main", bob.email: "busy"},
    )
    Question.objects.create(page=german, label="Worum geht es?", kind="long", required=True)

    people = [
        ("Jordan Smith", tax, 2, time(10), WriteState.DONE),
        ("Priya Patel", tax, 3, time(14), WriteState.PENDING),
        ("Lee Chen", tax, 5, time(11), WriteState.FAILING),
        ("Maria Garcia", kickoff, 4, time(15), WriteState.DONE),
    ]
    bookings = []
    for name, page, days, at, state in people:
        start = next_weekday(days, at)
        booking = Booking.objects.create(
            page=page,
            owner=alice,
            start=start,
            end=start + page.duration,
            timezone="Europe/London",
            name=name,
            email=f"{name.split()[0].lower()}@example.com",
            phone="+44 20 7946 0000",
            notes="Looking forward to it.",
            answers={q.key: "Yes" for q in page.questions.all()},
        )
        for pc in PageCalendar.objects.filter(page=page, role__in=["main", "additional"]):
            EventWrite.objects.create(
                booking=booking,
                calendar=pc.calendar,
                connection=pc.calendar.connection,
                owner_email=pc.calendar.owner_email,
                folder_id=pc.calendar.folder_id,
                calendar_name=pc.calendar.name,
                role=pc.role,
                state=state,
                attempts=3 if state == WriteState.FAILING else 1,
                last_error="Exchange refused access to this calendar."
                if state == WriteState.FAILING
                else "",
            )
        bookings.append(booking)
    start = next_weekday(6, time(9))
    cancelled = Booking.objects.create(
        page=tax,
        owner=alice,
        start=start,
        end=start + tax.duration,
        timezone="America/New_York",
        name="Sam Taylor",
        email="sam@example.com",
        status=BookingStatus.CANCELLED,
        cancelled_by="customer",
    )

    return {
        "dashboard": "/dashboard/",
        "connection": "/connection/",
        "attach": "/connection/attach/",
        "page-editor": f"/pages/{tax.pk}/",
        "page-calendars": f"/pages/{tax.pk}/calendars/",
        "bookings": "/bookings/",
        "booking-detail": f"/bookings/{bookings[2].pk}/",
        "public-page": f"/{tax.slug}/",
        "manage": reverse("manage-booking", args=[bookings[0].manage_token()]),
        "confirmed": reverse("booking-confirmed", args=[tax.slug, bookings[0].manage_token()]),
        "manage-reschedule": reverse("manage-reschedule", args=[bookings[0].manage_token()]),
        "manage-cancel": reverse("manage-cancel", args=[bookings[0].manage_token()]),
        "manage-cancelled": reverse("manage-booking", args=[cancelled.manage_token()]),
        "not-ready": f"/{draft.slug}/",
        "public-branded": f"/{branded.slug}/",
        "public-german": f"/{german.slug}/",
    }, alice.username


def test_screenshots_of_the_main_pages(browser: Page, phone: Page, world: World) -> None:
    paths, username = seed(world)
    SCREENSHOTS.mkdir(exist_ok=True)
    statuses: dict[str, int] = {}
    for width, page in (("desktop", browser), ("phone", phone)):
        page.goto("/accounts/login/")
        page.screenshot(path=SCREENSHOTS / f"{width}-00-login.png", full_page=True)
        login(page, username)
        for number, (name, path) in enumerate(paths.items(), start=1):
            response = page.goto(path, wait_until="networkidle")
            statuses[f"{width} {name}"] = response.status if response else 0
            page.screenshot(path=SCREENSHOTS / f"{width}-{number:02d}-{name}.png", full_page=True)

    # The corporate connection in Django admin, as an administrator sees it.
    admin = User.objects.create_superuser(
        f"admin-{world.tag}", f"admin-{world.tag}@contoso.example", "admin-password"
    )
    corporate = world.corporate()
    for width, page in (("desktop", browser), ("phone", phone)):
        page.context.clear_cookies()
        login(page, admin.username, "admin-password")
        path = reverse("admin:calendars_exchangeconnection_change", args=[corporate.pk])
        response = page.goto(path, wait_until="networkidle")
        statuses[f"{width} admin-connection"] = response.status if response else 0
        page.screenshot(path=SCREENSHOTS / f"{width}-90-admin-connection.png", full_page=True)

    broken = {name: status for name, status in statuses.items() if status >= 400}
    assert not broken, f"pages that did not render: {broken}"

"""Every staff and public page at phone width (390 px): nothing scrolls sideways, and no page
logs a console error (the `phone` fixture fails the test on any).

The world is the screenshots' demo-like one (tests/browser/test_screenshots.py's `seed`), plus
what makes tables wide: a booking whose calendars are written, failing (with Exchange's long
explanation) and being removed, a cancelled one, long customer addresses, and a page on the
owner's Outlook working hours. One test walks them all and names every page that overflows
(and its widest elements), so one run shows everything to fix.
"""

from __future__ import annotations

from datetime import time, timedelta

from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page

from bookings import owner_hours
from bookings.models import (
    Booking,
    BookingPage,
    BookingStatus,
    EventWrite,
    PageCalendar,
    WriteState,
)
from calendars.simulator.model import WorkingPeriod
from tests.browser.conftest import login
from tests.browser.test_screenshots import next_weekday, seed
from tests.world import World

# The elements sticking out past the viewport, widest first: what to look at when it fails.
OVERFLOWING = """() => {
  const width = window.innerWidth;
  const name = (el) => {
    const classes = typeof el.className === "string" ? el.className.trim() : "";
    return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (classes ? "." + classes.split(/\\s+/).join(".") : "");
  };
  return [...document.querySelectorAll("body *")]
    .map((el) => [el, el.getBoundingClientRect()])
    .filter(([, box]) => box.width > 0 && box.right > width + 0.5)
    .sort((a, b) => b[1].right - a[1].right)
    .slice(0, 4)
    .map(([el, box]) => `${name(el)} (right edge ${Math.round(box.right)} px)`);
}"""

LONG_ERROR = (
    "Exchange refused to change carol@contoso.example / Projects: booking-sync@contoso.example "
    "needs Editor or Delegate permission on this calendar. In Outlook, the calendar's owner "
    "opens Calendar properties, Permissions, and gives the booking mailbox Editor."
)


def _writes(booking: Booking, states: list[tuple[str, str]]) -> None:
    """One EventWrite per calendar of the booking's page, in the given (state, desired)."""
    now = timezone.now()
    calendars = PageCalendar.objects.filter(page=booking.page, role__in=["main", "additional"])
    for pc, (state, desired) in zip(calendars.order_by("-role"), states, strict=True):
        failing = state == WriteState.FAILING
        EventWrite.objects.create(
            booking=booking,
            calendar=pc.calendar,
            connection=pc.calendar.connection,
            owner_email=pc.calendar.owner_email,
            folder_id=pc.calendar.folder_id,
            calendar_name=pc.calendar.name,
            role=pc.role,
            state=state,
            desired=desired,
            attempts=6 if failing else 0,
            last_error=LONG_ERROR if failing else "",
            next_attempt_at=now + timedelta(minutes=14) if failing else None,
            alerted_at=now - timedelta(minutes=20) if failing else None,
            done_at=now - timedelta(hours=1) if state == WriteState.DONE else None,
            written_version=0 if state == WriteState.DONE and desired == "present" else None,
        )


def phone_world(world: World) -> tuple[dict[str, str], dict[str, str], str]:
    """(public paths, staff paths, username) of the demo-like world at its widest."""
    paths, username = seed(world)
    alice = Booking.objects.filter(owner__username=username).first().owner
    tax = BookingPage.objects.get(slug=f"tax-advice-{world.tag}")
    kickoff = BookingPage.objects.get(slug=f"kickoff-{world.tag}")

    start = next_weekday(9, time(13))
    mixed = Booking.objects.create(
        page=kickoff,
        owner=alice,
        start=start,
        end=start + kickoff.duration,
        timezone="Pacific/Chatham",
        name="Maximilian Alexander Featherstonehaugh-Worthington",
        email="maximilian.featherstonehaugh-worthington@subsidiary.example.co.uk",
        phone="+44 20 7946 0000",
        notes="A very long note without spaces: " + "x" * 80,
    )
    _writes(mixed, [(WriteState.DONE, "present"), (WriteState.FAILING, "present")])
    start = next_weekday(10, time(10))
    cancelled = Booking.objects.create(
        page=kickoff,
        owner=alice,
        start=start,
        end=start + kickoff.duration,
        timezone="Europe/London",
        name="Cass Cancelled",
        email="cass@example.com",
        status=BookingStatus.CANCELLED,
        cancelled_at=timezone.now() - timedelta(hours=2),
        cancelled_by="customer",
        cancel_reason="Something came up at work, sorry, let's find another week.",
    )
    _writes(cancelled, [(WriteState.DONE, "absent"), (WriteState.FAILING, "absent")])
    pending = Booking.objects.filter(page=tax, name="Priya Patel").get()

    # A page on the owner's Outlook working hours, read from Exchange, in another zone.
    with world.sim.store.lock:
        mailbox = world.sim.store.mailbox(alice.email)
        mailbox.timezone = "America/New_York"
        mailbox.working_hours = (
            WorkingPeriod(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"), 540, 1020),
        )
    hours_page = world.page(alice, slug=f"outlook-hours-{world.tag}", title="Outlook hours")
    hours_page.use_owner_working_hours = True
    hours_page.save()
    assert owner_hours.refresh(hours_page), hours_page.owner_hours_error

    token = pending.manage_token()
    public = {
        "login": "/accounts/login/",
        "admin login": "/admin/login/",
        "public page": f"/{tax.slug}/",
        "confirmation": reverse("booking-confirmed", args=[tax.slug, token]),
        "manage link": reverse("manage-booking", args=[token]),
        "manage link, cancelled": reverse("manage-booking", args=[cancelled.manage_token()]),
    }
    staff = {
        "dashboard": paths["dashboard"],
        "connection": paths["connection"],
        "attach": paths["attach"],
        "page list": "/pages/",
        "page editor": paths["page-editor"],
        "new page": "/pages/new/",
        "page calendars": paths["page-calendars"],
        "page calendars, additional": f"/pages/{kickoff.pk}/calendars/",
        "owner hours": f"/pages/{hours_page.pk}/",
        "bookings": paths["bookings"],
        "bookings, cancelled": "/bookings/?show=cancelled",
        "bookings, searched": "/bookings/?q=maximilian",
        "booking detail, failing": paths["booking-detail"],
        "booking detail, written and failing": f"/bookings/{mixed.pk}/",
        "booking detail, cancelled": f"/bookings/{cancelled.pk}/",
        "reschedule": f"/bookings/{pending.pk}/reschedule/",
        "password change": "/accounts/password_change/",
    }
    return public, staff, username


def test_every_staff_and_public_page_fits_a_phone(phone: Page, world: World) -> None:
    public, staff, username = phone_world(world)
    overflowing: dict[str, str] = {}
    failed: dict[str, int] = {}

    def visit(name: str, path: str) -> None:
        response = phone.goto(path, wait_until="networkidle")
        if response is None or response.status >= 400:
            failed[name] = response.status if response else 0
        elif "/login/" in phone.url and "/login/" not in path:
            failed[name] = 302  # sent to a sign-in page: the page itself was never seen
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > phone.evaluate("window.innerWidth"):
            culprits = ", ".join(phone.evaluate(OVERFLOWING))
            overflowing[name] = f"{path}: {width} px wide; {culprits}"

    for name, path in public.items():
        visit(name, path)
    login(phone, username)
    for name, path in staff.items():
        visit(name, path)
    # The personal connection form is for someone with no connection yet.
    from django.contrib.auth.models import User

    User.objects.create_user(f"newcomer-{world.tag}", "new@example.com", "staff-password")
    phone.context.clear_cookies()
    login(phone, f"newcomer-{world.tag}")
    visit("personal connection", "/connection/personal/")
    visit("personal connection, server details", "/connection/personal/?details=1")

    assert not failed, f"pages that did not render: {failed}"
    assert not overflowing, "pages wider than the phone:\n" + "\n".join(
        f"- {name}: {what}" for name, what in overflowing.items()
    )

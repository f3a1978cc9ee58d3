"""Seed the demo: an admin, a staff member attached to the corporate connection, the
corporate connection itself pointing at the Exchange simulator started by `make run`, and two
booking pages: one that also reads a colleague's shared calendar for busy time, one that
puts a copy of every booking in an additional calendar.

Idempotent: running it again resets the demo logins' passwords and keeps everything else.
"""

from datetime import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from bookings.models import BookingPage, PageCalendar, PageCalendarOwner, Question, WeeklyHours
from calendars import connect, discovery
from calendars.models import AuthType, ConnectionKind, ExchangeConnection, WriteGrant

# These mirror calendars/simulator/demo_seed.yaml.
DEDICATED_MAILBOX = "booking-sync@contoso.example"
DEDICATED_PASSWORD = "Sync-Demo-2016!"  # noqa: S105 (the demo mailbox in demo_seed.yaml)
STAFF_MAILBOX = "alice@contoso.example"
CAROL_MAILBOX = "carol@contoso.example"

LOGINS = {
    "admin": ("demo-admin-password", True, "admin@contoso.example", "Ada", "Admin"),
    "staff": ("demo-staff-password", False, STAFF_MAILBOX, "Alice", "Liddell"),
}


class Command(BaseCommand):
    help = "Create the demo users and the corporate connection to the Exchange simulator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ews-url", required=True, help="The simulator's EWS URL.")

    def handle(self, *args: Any, ews_url: str, **options: Any) -> None:
        users = {}
        for username, (password, is_admin, email, first, last) in LOGINS.items():
            user, _ = get_user_model().objects.get_or_create(username=username)
            user.email = email
            user.first_name, user.last_name = first, last
            user.is_staff = True
            user.is_superuser = is_admin
            user.set_password(password)
            user.save()
            users[username] = user

        conn = ExchangeConnection.objects.filter(kind=ConnectionKind.CORPORATE).first()
        if conn is None:
            conn = ExchangeConnection(kind=ConnectionKind.CORPORATE)
        conn.email = DEDICATED_MAILBOX
        conn.ews_url = ews_url
        conn.auth_type = AuthType.BASIC
        conn.password = DEDICATED_PASSWORD
        conn.save()
        conn.bump_credential_version()
        error = connect.verify(conn)
        state = "works." if error is None else f"fails: {error.message}"
        self.stdout.write(f"Corporate connection {DEDICATED_MAILBOX} at {ews_url} {state}")

        if not hasattr(users["staff"], "corporate_membership"):
            member = connect.attach(users["staff"], STAFF_MAILBOX)
        else:
            member = connect.check_member(users["staff"].corporate_membership)
        access = "granted" if member.access_ok else f"missing ({member.error})"
        self.stdout.write(f"Staff member attached; delegation from {STAFF_MAILBOX} {access}.")
        # Carol is no member of the booking mailbox, so Alice books into her calendar (the
        # consultation page's copy) on an administrator's grant.
        WriteGrant.objects.get_or_create(
            user=users["staff"], mailbox=CAROL_MAILBOX, defaults={"granted_by": users["admin"]}
        )
        for spec in PAGES:
            self._page(users["staff"], conn, spec)

    def _page(self, owner: Any, conn: ExchangeConnection, spec: dict[str, Any]) -> None:
        page, created = BookingPage.objects.get_or_create(
            slug=spec["slug"], defaults={"owner": owner, **spec["fields"]}
        )
        if not created and page.location in RETIRED_LOCATIONS:
            # A demo seeded before still promised a Teams link the app never sends.
            page.location = spec["fields"]["location"]
            page.ask_phone = spec["fields"].get("ask_phone", page.ask_phone)
            page.save(update_fields=["location", "ask_phone"])
        if created:
            for weekday in range(5):
                WeeklyHours.objects.create(page=page, weekday=weekday, start=time(9), end=time(17))
            for label, kind, choices in spec.get("questions", []):
                Question.objects.create(page=page, label=label, kind=kind, choices=choices)
        roles = []
        for owner_email, calendar, role in spec["roles"]:
            PageCalendarOwner.objects.get_or_create(page=page, email=owner_email)
            found = discovery.discover(conn, owner_email)
            ref = next(
                (r for r in found.calendars if (r.name == calendar if calendar else r.is_primary)),
                None,
            )
            if ref is None:
                self.stdout.write(f"  {page.slug}: {owner_email} {calendar or ''}: {found.message}")
                continue
            roles.append((ref, role))
        # A simulator started again has new folder ids, so its calendars are new refs: the
        # roles of the old ones go first (a page has one main calendar at a time).
        PageCalendar.objects.filter(page=page).exclude(calendar__in=[r for r, _ in roles]).delete()
        for ref, role in roles:
            PageCalendar.objects.update_or_create(page=page, calendar=ref, defaults={"role": role})
        problems = page.setup_problems()
        state = "ready" if not problems else "needs attention: " + " ".join(problems)
        self.stdout.write(f"Booking page /{page.slug}/ {state}")


RETIRED_LOCATIONS = {"Microsoft Teams (the link comes with the confirmation)"}

PAGES = [
    {
        "slug": "intro-call",
        "fields": {
            "title": "Intro call with Alice",
            "description": "A first 30-minute conversation about your project.",
            # Only what the app does: it sends no meeting link, so the demo promises none.
            "location": "Phone call: Alice rings the number you give when you book",
            "timezone": "Europe/London",
            "duration_minutes": 30,
            "interval_minutes": 30,
            "min_notice_minutes": 120,
            "window_days": 30,
            "ask_phone": True,
        },
        "questions": [("What would you like to talk about?", "long", [])],
        # Bob covers for Alice: his busy time blocks her intro calls too.
        "roles": [
            (STAFF_MAILBOX, "", "main"),
            (STAFF_MAILBOX, "Consulting hours", "busy"),
            ("bob@contoso.example", "", "busy"),
        ],
    },
    {
        "slug": "consultation",
        "fields": {
            "title": "Consultation",
            "description": "A one-hour working session with Alice and Carol.",
            "location": "Contoso House, 1 Main Street, London",
            "timezone": "Europe/London",
            "duration_minutes": 60,
            "interval_minutes": 30,
            "buffer_after_minutes": 15,
            "min_notice_minutes": 24 * 60,
            "window_days": 60,
            "max_per_day": 3,
            "ask_phone": True,
        },
        "questions": [("Topic", "choice", ["Migration", "Security review", "Licensing"])],
        # Carol joins every consultation: the booking is copied into her calendar.
        "roles": [
            (STAFF_MAILBOX, "", "main"),
            (CAROL_MAILBOX, "", "additional"),
        ],
    },
]

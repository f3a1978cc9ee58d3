"""Seed the demo: an admin, a staff member attached to the corporate connection, the
corporate connection itself pointing at the Exchange simulator started by `make run`, and two
booking pages: one that also reads a colleague's shared calendar for busy time, one that
puts a copy of every booking in an additional calendar.

When "Connect with Microsoft" is configured (MICROSOFT_CLIENT_ID, pointing at the simulator's
identity provider), also Megan, whose mailbox is in Exchange Online: a staff login connected
with Microsoft (Graph), and her page that makes every booking a Teams meeting.

Idempotent: running it again resets the demo logins' passwords and keeps everything else
(Megan's connection too, while it still works).
"""

from __future__ import annotations

from datetime import time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from bookings.models import (
    BookingPage,
    MemberState,
    PageCalendar,
    PageCalendarOwner,
    Question,
    TeamMember,
    TeamMode,
    WeeklyHours,
)
from calendars import connect, discovery, oauth
from calendars.errors import ExchangeError
from calendars.models import AuthType, ConnectionKind, ExchangeConnection, WriteGrant

# These mirror calendars/simulator/demo_seed.yaml.
DEDICATED_MAILBOX = "booking-sync@contoso.example"
DEDICATED_PASSWORD = "Sync-Demo-2016!"  # noqa: S105 (the demo mailbox in demo_seed.yaml)
STAFF_MAILBOX = "alice@contoso.example"
CAROL_MAILBOX = "carol@contoso.example"
# In Exchange Online: she signs in to the identity provider with her mailbox's password.
MEGAN_MAILBOX = "megan@contoso.example"
MEGAN_CLOUD_PASSWORD = "Megan-Cloud-1!"  # noqa: S105 (the demo mailbox in demo_seed.yaml)
MEGAN_LOGIN = ("megan", "demo-megan-password", MEGAN_MAILBOX, "Megan", "Bowen")

BOB_MAILBOX = "bob@contoso.example"
LOGINS = {
    "admin": ("demo-admin-password", True, "admin@contoso.example", "Ada", "Admin"),
    "staff": ("demo-staff-password", False, STAFF_MAILBOX, "Alice", "Liddell"),
    # Alice's colleague on the team pages: his calendar is shared with the booking mailbox.
    "bob": ("demo-bob-password", False, BOB_MAILBOX, "Bob", "Marley"),
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
        if not hasattr(users["bob"], "corporate_membership"):
            connect.attach(users["bob"], BOB_MAILBOX)
        # Carol is no member of the booking mailbox, so Alice books into her calendar (the
        # consultation page's copy) on an administrator's grant.
        WriteGrant.objects.get_or_create(
            user=users["staff"], mailbox=CAROL_MAILBOX, defaults={"granted_by": users["admin"]}
        )
        for spec in PAGES:
            self._page(users["staff"], conn, spec)
        for spec in TEAM_PAGES:
            self._team_page(users["staff"], [users["staff"], users["bob"]], conn, spec)
        self._megan()

    def _megan(self) -> None:
        """Megan's login, her connection with Microsoft and her Teams page."""
        if not settings.MICROSOFT_CLIENT_ID:
            self.stdout.write(
                "Skipping Megan (Exchange Online): Connect with Microsoft is not configured "
                "(MICROSOFT_CLIENT_ID is empty; `make run` starts the identity provider)."
            )
            return
        username, password, email, first, last = MEGAN_LOGIN
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.email = email
        user.first_name, user.last_name = first, last
        user.is_staff = True
        user.set_password(password)
        user.save()

        existing = ExchangeConnection.objects.filter(user=user).first()
        if existing is not None and connect.verify(existing) is None:
            conn = existing
            self.stdout.write(f"Megan's Microsoft 365 connection as {conn.email} works.")
        else:
            # A restarted simulator has a new identity provider: the stored refresh token
            # means nothing to it, so sign in again, as she would.
            connect.disconnect(user)
            try:
                signed_in_as, refresh_token = microsoft_sign_in(email, MEGAN_CLOUD_PASSWORD)
                conn = connect.connect_microsoft(user, signed_in_as, refresh_token)
            except (ExchangeError, requests.RequestException, ValueError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                self.stdout.write(f"Megan could not connect with Microsoft: {message}")
                return
            self.stdout.write(f"Megan connected with Microsoft as {conn.email} (Graph).")
        self._page(user, conn, TEAMS_PAGE)

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
            PageCalendarOwner.objects.get_or_create(page=page, member=None, email=owner_email)
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
        mine = PageCalendar.objects.filter(page=page, member=None)
        mine.exclude(calendar__in=[r for r, _ in roles]).delete()
        for ref, role in roles:
            PageCalendar.objects.update_or_create(
                page=page, member=None, calendar=ref, defaults={"role": role}
            )
        problems = page.setup_problems()
        state = "ready" if not problems else "needs attention: " + " ".join(problems)
        self.stdout.write(f"Booking page /{page.slug}/ {state}")

    def _team_page(
        self, owner: Any, members: list[Any], conn: ExchangeConnection, spec: dict[str, Any]
    ) -> None:
        """A team page whose members are on the team already (the administrator added them)
        with their own primary calendars as main booking calendars."""
        page, created = BookingPage.objects.get_or_create(
            slug=spec["slug"], defaults={"owner": owner, **spec["fields"]}
        )
        if created:
            for weekday in range(5):
                WeeklyHours.objects.create(page=page, weekday=weekday, start=time(9), end=time(17))
        for user in members:
            member, _ = TeamMember.objects.get_or_create(
                page=page, user=user, defaults={"state": MemberState.ACTIVE}
            )
            PageCalendarOwner.objects.get_or_create(page=page, member=member, email=user.email)
            found = discovery.discover(conn, user.email)
            ref = next((r for r in found.calendars if r.is_primary), None)
            if ref is None:
                self.stdout.write(f"  {page.slug}: {user.email}: {found.message}")
                continue
            # A restarted simulator's calendars are new refs: the old ones' roles go first.
            page.page_calendars.filter(member=member).exclude(calendar=ref).delete()
            PageCalendar.objects.update_or_create(
                page=page, member=member, calendar=ref, defaults={"role": "main"}
            )
        problems = page.setup_problems()
        state = "ready" if not problems else "needs attention: " + " ".join(problems)
        self.stdout.write(f"Team page /{page.slug}/ {state}")


class _FormFields(HTMLParser):
    """The hidden inputs of the identity provider's auto-submitting form_post answer."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name"):
            self.fields[values["name"] or ""] = values.get("value") or ""


def microsoft_sign_in(email: str, password: str) -> tuple[str, str]:
    """What "Connect with Microsoft" does, with the person typing into the login form: msal's
    authorization code flow (PKCE) on the site's app, the form POSTed over HTTPS. Returns the
    signed-in address (from the ID token) and the refresh token."""
    app = oauth.site_app()
    redirect_uri = settings.SITE_URL + reverse("connection-microsoft-callback")
    flow = app.initiate_auth_code_flow(
        list(oauth.GRAPH_SCOPES_USER),
        redirect_uri=redirect_uri,
        login_hint=email,
        response_mode="form_post",
    )
    with requests.Session() as session:
        # The identity provider's certificate comes from the demo's own CA, which the app
        # trusts through EXCHANGE_CA_BUNDLE; REQUESTS_CA_BUNDLE must not override that.
        session.trust_env = False
        session.verify = settings.EXCHANGE_CA_BUNDLE or True
        response = session.post(
            flow["auth_uri"],
            data={"login": email, "passwd": password},
            allow_redirects=False,
            timeout=30,
        )
    if response.status_code in (302, 303):
        answer = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    else:
        parser = _FormFields()
        parser.feed(response.text)
        answer = parser.fields
    if "code" not in answer:
        raise ExchangeError(
            f"The identity provider refused the sign-in (HTTP {response.status_code})."
        )
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    oauth.raise_for_error(result)
    claims = result.get("id_token_claims") or {}
    return claims.get("preferred_username") or email, result["refresh_token"]


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

TEAM_PAGES = [
    {
        "slug": "advice",
        "fields": {
            "title": "Advice call with our team",
            "description": "30 minutes with whichever of our advisers is free.",
            "location": "Phone call: your adviser rings the number you give",
            "timezone": "Europe/London",
            "duration_minutes": 30,
            "interval_minutes": 30,
            "min_notice_minutes": 120,
            "window_days": 30,
            "ask_phone": True,
            "team_mode": TeamMode.ROUND_ROBIN,
            "customer_picks_member": True,
        },
    },
    {
        "slug": "project-review",
        "fields": {
            "title": "Project review",
            "description": "An hour with Alice and Bob together.",
            "location": "Contoso House, 1 Main Street, London",
            "timezone": "Europe/London",
            "duration_minutes": 60,
            "interval_minutes": 30,
            "min_notice_minutes": 24 * 60,
            "window_days": 60,
            "team_mode": TeamMode.COLLECTIVE,
        },
    },
]

TEAMS_PAGE = {
    "slug": "teams-call",
    "fields": {
        "title": "Teams call with Megan",
        "description": "A 30-minute video call. Every booking gets its own Teams meeting.",
        "location": "Microsoft Teams",
        "timezone": "Europe/London",
        "duration_minutes": 30,
        "interval_minutes": 30,
        "min_notice_minutes": 60,
        "window_days": 30,
        "create_teams_meeting": True,
    },
    # Her mailbox is in Exchange Online: the booking is written over Graph, which creates
    # the Teams meeting and answers with its join link.
    "roles": [(MEGAN_MAILBOX, "", "main")],
}

"""Seed the demo: an admin, a staff member attached to the corporate connection, and the
corporate connection itself pointing at the Exchange simulator started by `make run`.

Idempotent: running it again resets the demo logins' passwords and keeps everything else.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from calendars import connect
from calendars.models import AuthType, ConnectionKind, ExchangeConnection

# These mirror calendars/simulator/demo_seed.yaml.
DEDICATED_MAILBOX = "booking-sync@contoso.example"
DEDICATED_PASSWORD = "Sync-Demo-2016!"  # noqa: S105 (the demo mailbox in demo_seed.yaml)
STAFF_MAILBOX = "alice@contoso.example"

LOGINS = {
    "admin": ("demo-admin-password", True, "admin@contoso.example"),
    "staff": ("demo-staff-password", False, STAFF_MAILBOX),
}


class Command(BaseCommand):
    help = "Create the demo users and the corporate connection to the Exchange simulator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ews-url", required=True, help="The simulator's EWS URL.")

    def handle(self, *args: Any, ews_url: str, **options: Any) -> None:
        users = {}
        for username, (password, is_admin, email) in LOGINS.items():
            user, _ = get_user_model().objects.get_or_create(username=username)
            user.email = email
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

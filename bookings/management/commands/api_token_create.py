"""Create a staff API token and print it: the only time it is ever shown."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bookings import api_tokens


class Command(BaseCommand):
    help = (
        "Create a staff API token for a user and print it. Only a hash is stored: copy it now. "
        "Send it as 'Authorization: Token <token>'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--ttl-days",
            type=int,
            default=None,
            help=f"days until the token expires (default: API_TOKEN_TTL_DAYS, "
            f"{settings.API_TOKEN_TTL_DAYS})",
        )

    def handle(self, *args: Any, username: str, ttl_days: int | None, **options: Any) -> None:
        try:
            stored, token = api_tokens.create(api_tokens.user_named(username), ttl_days)
        except api_tokens.TokenError as exc:
            raise CommandError(str(exc)) from exc
        # The token alone on stdout, so `TOKEN=$(manage.py api_token_create ...)` works; the
        # rest is for the person at the terminal.
        self.stdout.write(token)
        self.stderr.write(
            f"Token {api_tokens.key_of(stored)}… for {username}, expires "
            f"{stored.expiry:%Y-%m-%d %H:%M} UTC. It is not stored and won't be shown again."
        )

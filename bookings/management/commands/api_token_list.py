"""List a user's staff API tokens: key, created, expiry. Never the token."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bookings import api_tokens


class Command(BaseCommand):
    help = "List a user's staff API tokens by key (the token's first characters) and expiry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        try:
            user = api_tokens.user_named(username)
        except api_tokens.TokenError as exc:
            raise CommandError(str(exc)) from exc
        tokens = list(api_tokens.tokens_of(user))
        if not tokens:
            self.stdout.write(f"{username} has no API tokens.")
            return
        self.stdout.write(f"{'key':<10}{'created (UTC)':<18}expires (UTC)")
        for token in tokens:
            expiry = f"{token.expiry:%Y-%m-%d %H:%M}" if token.expiry else "never"
            if api_tokens.is_expired(token):
                expiry += " (expired)"
            self.stdout.write(
                f"{api_tokens.key_of(token):<10}{token.created:%Y-%m-%d %H:%M}  {expiry}"
            )

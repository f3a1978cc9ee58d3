"""Revoke staff API tokens: one, by its key, or all of a user's."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bookings import api_tokens


class Command(BaseCommand):
    help = "Revoke a user's staff API token (--token-key, as api_token_list shows it) or all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--all", dest="revoke_all", action="store_true", help="revoke every token of the user"
        )
        which.add_argument(
            "--token-key",
            help=f"the token's key: its first {api_tokens.KEY_PREFIX_LENGTH} characters or more",
        )

    def handle(
        self, *args: Any, username: str, revoke_all: bool, token_key: str | None, **options: Any
    ) -> None:
        try:
            user = api_tokens.user_named(username)
            revoked = api_tokens.revoke(user, key=None if revoke_all else token_key)
        except api_tokens.TokenError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Revoked {revoked} token{'' if revoked == 1 else 's'} of {username}.")

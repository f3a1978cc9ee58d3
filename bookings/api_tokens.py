"""Staff API tokens: django-rest-knox's, hashed at rest, expiring, shown once.

knox stores a SHA-512 digest of each token and, to find it again, its first 15 characters
(`token_key`: 60 of its 256 random bits, useless without the rest). The token itself exists
only in the output of `manage.py api_token_create`. Tokens are told apart by the first
KEY_PREFIX_LENGTH characters of that key, which is all `api_token_list` ever shows.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings

KEY_PREFIX_LENGTH = 8
# datetime can't go past the year 9999; nobody needs a token for longer than this anyway.
MAX_TTL_DAYS = 3650


class TokenError(Exception):
    """A request about tokens that can't be carried out, said in words for the command line."""


def user_named(username: str) -> AbstractBaseUser:
    try:
        return get_user_model().objects.get_by_natural_key(username)
    except get_user_model().DoesNotExist:
        raise TokenError(f"There is no user {username!r}.") from None


def create(user: AbstractBaseUser, ttl_days: int | None = None) -> tuple[AuthToken, str]:
    """A new token for the user: the stored row, and the token (never stored, never again)."""
    if not user.is_active:
        raise TokenError(f"{user.get_username()} is not active: their tokens would be refused.")
    ttl = knox_settings.TOKEN_TTL if ttl_days is None else timedelta(days=ttl_days)
    if not timedelta(days=1) <= ttl <= timedelta(days=MAX_TTL_DAYS):
        raise TokenError(f"A token lives from 1 to {MAX_TTL_DAYS} days.")
    return AuthToken.objects.create(user=user, expiry=ttl)


def key_of(token: AuthToken) -> str:
    return token.token_key[:KEY_PREFIX_LENGTH]


def is_expired(token: AuthToken) -> bool:
    return token.expiry is not None and token.expiry <= timezone.now()


def tokens_of(user: AbstractBaseUser) -> QuerySet[AuthToken]:
    return AuthToken.objects.filter(user=user).order_by("created")


def revoke(user: AbstractBaseUser, *, key: str | None = None) -> int:
    """Delete the user's token whose key starts with `key`, or all of them (key=None).

    A key must name exactly one token: a prefix shared by two is refused rather than
    revoking both."""
    tokens = tokens_of(user)
    if key is not None:
        key = key.strip()
        if len(key) < KEY_PREFIX_LENGTH:
            raise TokenError(
                f"Give at least the first {KEY_PREFIX_LENGTH} characters of the token's key "
                "(as api_token_list shows it)."
            )
        # A whole token pasted in works too: only its key part is compared.
        tokens = tokens.filter(token_key__startswith=key[: CONSTANTS.TOKEN_KEY_LENGTH])
        found = tokens.count()
        if found == 0:
            raise TokenError(f"{user.get_username()} has no token with the key {key!r}.")
        if found > 1:
            raise TokenError(f"{found} tokens start with {key!r}: give more of the key.")
    deleted, _ = tokens.delete()
    return deleted

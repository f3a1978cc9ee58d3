"""Staff API tokens (django-rest-knox): created by a command and shown once, stored only as
a hash, expiring, revocable, listed without the token."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PAGES = "/api/v1/staff/pages/"


@pytest.fixture
def olivia(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("olivia", "olivia@contoso.example", "pw")


def create_token(*args: str) -> tuple[str, str]:
    """Run api_token_create: (what it printed on stdout, what it said on stderr)."""
    out, err = StringIO(), StringIO()
    call_command("api_token_create", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def command(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def lifetime(token: AuthToken) -> timedelta:
    """From creation to expiry, to the minute (the two timestamps are taken a moment apart)."""
    return timedelta(minutes=round((token.expiry - token.created).total_seconds() / 60))


def get_pages(token: str) -> tuple[int, object]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get(PAGES)
    return response.status_code, response.json()


def test_a_created_token_authenticates_with_the_token_header(olivia: User) -> None:
    token, _ = create_token("olivia")

    status, body = get_pages(token)

    assert status == 200, body
    assert body == []


def test_the_command_prints_the_token_alone_and_says_it_is_shown_only_once(
    olivia: User,
) -> None:
    token, said = create_token("olivia")

    assert len(token.split()) == 1 and len(token) == 64
    assert "won't be shown again" in said
    assert token not in said


def test_the_database_holds_no_plaintext_token(olivia: User) -> None:
    token, _ = create_token("olivia")

    table = AuthToken._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (our own model's table name)
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert all(token not in str(value) for value in rows[0])
    assert AuthToken.objects.get().digest != token


def test_a_token_expires_after_the_configured_days(olivia: User, settings) -> None:
    create_token("olivia")
    create_token("olivia", "--ttl-days", "7")

    default, short = AuthToken.objects.order_by("created")
    assert settings.API_TOKEN_TTL_DAYS == 90  # the default when the environment says nothing
    assert lifetime(default) == timedelta(days=90)
    assert lifetime(short) == timedelta(days=7)


def test_an_expired_token_is_refused_with_401_and_a_json_body(olivia: User) -> None:
    token, _ = create_token("olivia")
    AuthToken.objects.update(expiry=timezone.now() - timedelta(minutes=1))

    status, body = get_pages(token)

    assert status == 401
    assert body == {"detail": "Invalid token."}


def test_a_revoked_token_is_refused(olivia: User) -> None:
    token, _ = create_token("olivia")
    kept, _ = create_token("olivia")

    said = command("api_token_revoke", "olivia", "--token-key", token[:8])

    assert said.strip() == "Revoked 1 token of olivia."
    assert get_pages(token)[0] == 401
    assert get_pages(kept)[0] == 200


def test_revoking_all_refuses_every_token_of_the_user_only(
    olivia: User, django_user_model: type[User]
) -> None:
    django_user_model.objects.create_user("peter", "peter@contoso.example", "pw")
    mine = [create_token("olivia")[0] for _ in range(2)]
    theirs, _ = create_token("peter")

    said = command("api_token_revoke", "olivia", "--all")

    assert said.strip() == "Revoked 2 tokens of olivia."
    assert [get_pages(t)[0] for t in mine] == [401, 401]
    assert get_pages(theirs)[0] == 200


def test_a_token_key_must_name_exactly_one_token_of_that_user(
    olivia: User, django_user_model: type[User]
) -> None:
    django_user_model.objects.create_user("peter", "peter@contoso.example", "pw")
    theirs, _ = create_token("peter")

    with pytest.raises(CommandError, match="has no token with the key"):
        command("api_token_revoke", "olivia", "--token-key", theirs[:8])
    with pytest.raises(CommandError, match="at least the first 8 characters"):
        command("api_token_revoke", "olivia", "--token-key", theirs[:4])
    assert get_pages(theirs)[0] == 200


def test_the_list_shows_key_created_and_expiry_never_the_token(olivia: User) -> None:
    token, _ = create_token("olivia")
    old, _ = create_token("olivia")
    AuthToken.objects.filter(token_key=old[:15]).update(expiry=timezone.now() - timedelta(days=1))

    listed = command("api_token_list", "olivia")

    lines = listed.strip().splitlines()
    assert lines[0].split() == ["key", "created", "(UTC)", "expires", "(UTC)"]
    assert len(lines) == 3
    assert lines[1].startswith(token[:8] + " ") and lines[2].startswith(old[:8] + " ")
    assert lines[2].endswith("(expired)") and not lines[1].endswith("(expired)")
    for secret in (token, old):
        assert secret[8:15] not in listed  # not even the rest of the stored key
    for stored in AuthToken.objects.all():
        assert stored.digest not in listed


def test_the_commands_refuse_unknown_and_inactive_users_and_bad_lifetimes(
    olivia: User, django_user_model: type[User]
) -> None:
    django_user_model.objects.create_user("gone", "gone@contoso.example", "pw", is_active=False)

    with pytest.raises(CommandError, match="There is no user 'nobody'"):
        create_token("nobody")
    with pytest.raises(CommandError, match="not active"):
        create_token("gone")
    for days in ("0", "100000"):
        with pytest.raises(CommandError, match="from 1 to 3650 days"):
            create_token("olivia", "--ttl-days", days)
    with pytest.raises(CommandError, match="There is no user 'nobody'"):
        command("api_token_list", "nobody")
    assert not AuthToken.objects.exists()


def test_an_unknown_token_is_refused_and_session_auth_still_works(olivia: User) -> None:
    assert get_pages("0" * 64)[0] == 401
    client = APIClient()
    client.force_login(olivia)
    assert client.get(PAGES).status_code == 200


def test_admins_can_see_and_revoke_tokens_but_not_create_them(olivia: User, admin_client) -> None:
    token, _ = create_token("olivia")
    stored = AuthToken.objects.get()

    listing = admin_client.get("/admin/knox/authtoken/")
    add = admin_client.get("/admin/knox/authtoken/add/")
    admin_client.post(
        f"/admin/knox/authtoken/{stored.digest}/delete/", {"post": "yes"}, follow=True
    )

    assert listing.status_code == 200
    assert token[:8] + "…" in listing.content.decode()
    assert token not in listing.content.decode()
    assert add.status_code == 403
    assert get_pages(token)[0] == 401
